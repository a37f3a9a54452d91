package webfetch

import (
	"context"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// tlsServer serves h over TLS on 127.0.0.1, and the pool that trusts it.
func tlsServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *x509.CertPool) {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return srv, pool
}

func jsonHandler(body string, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		_, _ = io.WriteString(w, body)
	}
}

// fakeDNS is a resolver whose every answer for any name is addr, served
// over an in-memory connection: no packet leaves the process.
func fakeDNS(addr netip.Addr) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		client, server := net.Pipe()
		go answerDNS(server, addr)
		return client, nil
	}}
}

// answerDNS answers DNS-over-TCP queries (two-byte length, then the
// message) on c with addr, A or AAAA as the question asks.
func answerDNS(c net.Conn, addr netip.Addr) {
	defer c.Close()
	for {
		var n uint16
		if binary.Read(c, binary.BigEndian, &n) != nil {
			return
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		var p dnsmessage.Parser
		h, err := p.Start(buf)
		if err != nil {
			return
		}
		q, err := p.Question()
		if err != nil {
			return
		}
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
		_ = b.StartQuestions()
		_ = b.Question(q)
		_ = b.StartAnswers()
		rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
		if q.Type == dnsmessage.TypeA && addr.Is4() {
			_ = b.AResource(rh, dnsmessage.AResource{A: addr.As4()})
		}
		if q.Type == dnsmessage.TypeAAAA && addr.Is6() {
			_ = b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: addr.As16()})
		}
		msg, _ := b.Finish()
		_ = binary.Write(c, binary.BigEndian, uint16(len(msg)))
		_, _ = c.Write(msg)
	}
}

func wantRefused(t *testing.T, err error, reason string, blocked bool) {
	t.Helper()
	var fe *Error
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v, want a *webfetch.Error", err)
	}
	if !strings.Contains(fe.Reason, reason) || fe.Blocked != blocked {
		t.Fatalf("reason %q (blocked %v), want it to say %q (blocked %v)", fe.Reason, fe.Blocked, reason, blocked)
	}
}

// Every address that is not public is refused at connect time, before any
// packet is sent to it: the dialer checks the address DNS gave.
func TestRefusesNonPublicAddresses(t *testing.T) {
	srv, pool := tlsServer(t, jsonHandler(`{}`))
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	ctx := context.Background()
	for _, tc := range []struct {
		name, url string
		resolver  *net.Resolver
		reason    string
	}{
		{"loopback", srv.URL + "/doc", nil, "it resolves to 127.0.0.1, a loopback address"},
		{"a private address", "https://10.0.0.1/doc", nil, "it resolves to 10.0.0.1, a private address"},
		{"the cloud metadata address", "https://169.254.169.254/latest/meta-data", nil, "it resolves to 169.254.169.254, a link-local address"},
		{"a name resolving to a private address", "https://client.example.com/doc", fakeDNS(netip.MustParseAddr("10.20.30.40")),
			"it resolves to 10.20.30.40, a private address"},
		{"a name resolving to loopback", "https://localhost.example.com:" + strconv.Itoa(port) + "/doc", fakeDNS(netip.MustParseAddr("127.0.0.1")),
			"it resolves to 127.0.0.1, a loopback address"},
		{"a name resolving to an IPv6 ULA", "https://v6.example.com/doc", fakeDNS(netip.MustParseAddr("fd00::1")),
			"it resolves to fd00::1, a private address"},
		{"IPv4-mapped private", "https://[::ffff:10.0.0.1]/doc", nil, "a private address"},
		{"CGNAT", "https://100.64.1.1/doc", nil, "a reserved or special-purpose address (100.64.0.0/10)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := New(Config{RootCAs: pool, Resolver: tc.resolver, Timeout: 2 * time.Second})
			_, err := f.JSON(ctx, tc.url)
			wantRefused(t, err, tc.reason, true)
		})
	}
}

func TestFetchRules(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		url     string // path appended to the server's URL
		reason  string
	}{
		{"an oversized document", jsonHandler(`{"a":"` + strings.Repeat("x", DefaultMaxBytes) + `"}`), "/doc", "larger than 5120 bytes"},
		{"an oversized document without a length", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			for range 6 {
				_, _ = io.WriteString(w, strings.Repeat(" ", 1024))
				w.(http.Flusher).Flush()
			}
		}, "/doc", "larger than 5120 bytes"},
		{"a slow document", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.(http.Flusher).Flush()
			select {
			case <-time.After(3 * time.Second):
			case <-r.Context().Done():
			}
		}, "/doc", "within 1s"},
		{"a redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://10.0.0.1/", http.StatusFound)
		}, "/doc",
			"a redirect (302), which is not followed"},
		{"not JSON", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "<html></html>") }, "/doc",
			`its content type is "text/html; charset=utf-8", not JSON`},
		{"not found", http.NotFound, "/doc", "it answered 404, not 200"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, pool := tlsServer(t, tc.handler)
			timeout := 5 * time.Second
			if strings.HasPrefix(tc.name, "a slow") {
				timeout = time.Second
			}
			f := New(Config{RootCAs: pool, AllowLoopback: true, Timeout: timeout})
			_, err := f.JSON(ctx, srv.URL+tc.url)
			wantRefused(t, err, tc.reason, false)
		})
	}
	plain := httptest.NewServer(jsonHandler(`{}`))
	defer plain.Close()
	_, err := New(Config{AllowLoopback: true}).JSON(ctx, plain.URL)
	wantRefused(t, err, "only https URLs are fetched", false)
}

// A document is cached for its max-age, within [5 min, 24 h].
func TestCacheHonoursCacheControl(t *testing.T) {
	var hits atomic.Int32
	cc := "max-age=60"
	srv, pool := tlsServer(t, func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		jsonHandler(`{"n":1}`, "Cache-Control", cc)(w, nil)
	})
	now := time.Unix(1_700_000_000, 0)
	f := New(Config{RootCAs: pool, AllowLoopback: true, Now: func() time.Time { return now }})
	fetch := func() {
		t.Helper()
		body, err := f.JSON(context.Background(), srv.URL+"/doc")
		if err != nil || string(body) != `{"n":1}` {
			t.Fatalf("fetch: %q, %v", body, err)
		}
	}
	step := func(d time.Duration, wantHits int32) {
		t.Helper()
		now = now.Add(d)
		fetch()
		if got := hits.Load(); got != wantHits {
			t.Fatalf("after %s: %d fetches, want %d", d, got, wantHits)
		}
	}
	step(0, 1)
	step(4*time.Minute, 1) // max-age=60 is raised to the 5-minute floor
	step(2*time.Minute, 2)
	cc = "max-age=604800" // a week: capped at 24 h
	step(6*time.Minute, 3)
	step(23*time.Hour, 3)
	step(2*time.Hour, 4)
	f.Forget(srv.URL + "/doc")
	step(0, 5)
}

func TestAddressProblem(t *testing.T) {
	for addr, want := range map[string]string{
		"93.184.216.34":      "",
		"2606:4700::1111":    "",
		"127.0.0.1":          "a loopback address",
		"::1":                "a loopback address",
		"0.0.0.0":            "an unspecified address",
		"::":                 "an unspecified address",
		"10.1.2.3":           "a private address",
		"172.16.0.1":         "a private address",
		"192.168.1.1":        "a private address",
		"fc00::1":            "a private address",
		"169.254.169.254":    "a link-local address (cloud metadata services live there)",
		"fe80::1":            "a link-local address (cloud metadata services live there)",
		"224.0.0.1":          "a multicast address",
		"ff02::1":            "a multicast address",
		"::ffff:192.168.1.1": "a private address",
		"::ffff:127.0.0.1":   "a loopback address",
		"100.100.100.200":    "a reserved or special-purpose address (100.64.0.0/10)",
		"64:ff9b::a00:1":     "a reserved or special-purpose address (64:ff9b::/96)",
		"2002:a00:1::":       "a reserved or special-purpose address (2002::/16)",
		"198.51.100.7":       "a reserved or special-purpose address (198.51.100.0/24)",
		"255.255.255.255":    "a reserved or special-purpose address (240.0.0.0/4)",
	} {
		if got := AddressProblem(netip.MustParseAddr(addr), false); got != want {
			t.Errorf("AddressProblem(%s) = %q, want %q", addr, got, want)
		}
	}
	if got := AddressProblem(netip.MustParseAddr("127.0.0.1"), true); got != "" {
		t.Errorf("loopback allowed: %q", got)
	}
}
