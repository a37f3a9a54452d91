// Package webfetch fetches small JSON documents that strangers name: a
// client's metadata document (its client_id URL), a client's key set
// (jwks_uri). A URL an attacker chooses must not make the server reach
// what it should not (SSRF), wait long or read much, so every fetch
//
//   - connects only to public addresses: the address is checked when the
//     connection is made, after DNS, so a name that resolves to a private
//     address (or changes its answer between two lookups) cannot slip
//     through; loopback is allowed only where the configuration says so,
//     for tests and development;
//   - uses https, follows no redirect and no proxy;
//   - gives up after Timeout (5 s) and reads at most MaxBytes (5 KiB);
//   - accepts only 200 with a JSON content type;
//
// and its answer is cached for what its Cache-Control says, bounded to
// [MinTTL, MaxTTL], in a cache of bounded size.
package webfetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Defaults of Config.
const (
	DefaultTimeout   = 5 * time.Second
	DefaultMaxBytes  = 5 << 10
	DefaultMinTTL    = 5 * time.Minute
	DefaultMaxTTL    = 24 * time.Hour
	DefaultCacheSize = 1000
)

// Config tunes a Fetcher; zero fields take the defaults.
type Config struct {
	// AllowLoopback admits loopback addresses (127.0.0.0/8, ::1): for
	// tests and development only.
	AllowLoopback bool
	// AllowHTTP admits plain http (with AllowLoopback, for tests).
	AllowHTTP bool
	Timeout   time.Duration
	MaxBytes  int64
	MinTTL    time.Duration
	MaxTTL    time.Duration
	CacheSize int
	// Resolver resolves names (nil: the system's).
	Resolver *net.Resolver
	// RootCAs verifies servers (nil: the system's roots).
	RootCAs *x509.CertPool
	// Now is the clock of the cache (nil: time.Now).
	Now func() time.Time
}

// Error is a refused or failed fetch, saying why in words an operator
// (and, on an error page, a user) can act on.
type Error struct {
	URL    string
	Reason string
	// Blocked: the address was refused before any connection was made.
	Blocked bool
}

func (e *Error) Error() string { return "fetching " + e.URL + ": " + e.Reason }

// Fetcher fetches and caches documents.
type Fetcher struct {
	cfg    Config
	client *http.Client
	cache  *lru.Cache[string, entry]
}

type entry struct {
	body    []byte
	expires time.Time
}

// New returns a Fetcher.
func New(cfg Config) *Fetcher {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MinTTL <= 0 {
		cfg.MinTTL = DefaultMinTTL
	}
	if cfg.MaxTTL <= 0 {
		cfg.MaxTTL = DefaultMaxTTL
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	dialer := &net.Dialer{Timeout: cfg.Timeout, Resolver: cfg.Resolver, Control: publicOnly(cfg.AllowLoopback)}
	transport := &http.Transport{
		Proxy:                  nil, // never through a proxy: the address checked must be the one reached
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    cfg.Timeout,
		ResponseHeaderTimeout:  cfg.Timeout,
		MaxIdleConns:           16,
		IdleConnTimeout:        30 * time.Second,
		MaxResponseHeaderBytes: 16 << 10,
	}
	cache, _ := lru.New[string, entry](cfg.CacheSize)
	return &Fetcher{
		cfg: cfg,
		client: &http.Client{
			Transport: transport,
			Timeout:   cfg.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		cache: cache,
	}
}

// JSON returns the document at rawURL, from the cache while it is fresh.
func (f *Fetcher) JSON(ctx context.Context, rawURL string) ([]byte, error) {
	if e, ok := f.cache.Get(rawURL); ok && f.cfg.Now().Before(e.expires) {
		return e.body, nil
	}
	body, ttl, err := f.fetch(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	f.cache.Add(rawURL, entry{body: body, expires: f.cfg.Now().Add(ttl)})
	return body, nil
}

// Forget drops a cached document (a key set that lacks a key the client
// now signs with is fetched again).
func (f *Fetcher) Forget(rawURL string) { f.cache.Remove(rawURL) }

func (f *Fetcher) fetch(ctx context.Context, rawURL string) ([]byte, time.Duration, error) {
	fail := func(format string, args ...any) ([]byte, time.Duration, error) {
		return nil, 0, &Error{URL: rawURL, Reason: fmt.Sprintf(format, args...)}
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && f.cfg.AllowHTTP)) {
		return fail("only https URLs are fetched")
	}
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return fail("the URL cannot be requested")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		var blocked *Error
		if errors.As(err, &blocked) {
			blocked.URL = rawURL
			return nil, 0, blocked
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fail("no answer within %s", f.cfg.Timeout)
		}
		return fail("the request failed: %s", errorText(err))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return fail("it answered with a redirect (%d), which is not followed", resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return fail("it answered %d, not 200", resp.StatusCode)
	}
	if !isJSON(resp.Header.Get("Content-Type")) {
		return fail("its content type is %q, not JSON", resp.Header.Get("Content-Type"))
	}
	if resp.ContentLength > f.cfg.MaxBytes {
		return fail("the document is larger than %d bytes", f.cfg.MaxBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.cfg.MaxBytes+1))
	if err != nil || ctx.Err() != nil {
		// A body read that ended after the deadline is refused whatever
		// the read said: the whole fetch has Timeout.
		var ne net.Error
		if ctx.Err() != nil || errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
			return fail("the document did not arrive within %s", f.cfg.Timeout)
		}
		return fail("reading the document failed: %s", errorText(err))
	}
	if int64(len(body)) > f.cfg.MaxBytes {
		return fail("the document is larger than %d bytes", f.cfg.MaxBytes)
	}
	return body, f.ttl(resp.Header.Get("Cache-Control")), nil
}

// ttl is how long an answer is cached: its max-age within [MinTTL,
// MaxTTL]; MinTTL when it says no-store or no-cache, or nothing.
func (f *Fetcher) ttl(cacheControl string) time.Duration {
	ttl := f.cfg.MinTTL
	for d := range strings.SplitSeq(strings.ToLower(cacheControl), ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), "=")
		switch name {
		case "no-store", "no-cache":
			return f.cfg.MinTTL
		case "max-age":
			if s, err := strconv.ParseInt(strings.Trim(value, `"`), 10, 64); err == nil && s > 0 {
				ttl = time.Duration(min(s, int64(f.cfg.MaxTTL/time.Second))) * time.Second
			}
		}
	}
	return min(max(ttl, f.cfg.MinTTL), f.cfg.MaxTTL)
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// errorText keeps an error's last part: the URL is said once, by Error.
func errorText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// publicOnly is the dialer's Control: it runs after DNS, on the address
// about to be connected to, and refuses any that is not public.
func publicOnly(allowLoopback bool) func(network, address string, _ syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return &Error{Reason: "cannot read the address " + address, Blocked: true}
		}
		if reason := AddressProblem(ap.Addr(), allowLoopback); reason != "" {
			return &Error{Reason: "it resolves to " + ap.Addr().String() + ", " + reason, Blocked: true}
		}
		return nil
	}
}

// nonPublic are the ranges, beyond what netip classifies, that never
// belong to a public server: shared address space (CGNAT), IETF protocol
// assignments, documentation and benchmarking ranges, reserved space, and
// the IPv6 prefixes that embed IPv4 addresses (NAT64, 6to4, Teredo) or
// are discarded.
var nonPublic = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15", "198.51.100.0/24",
		"203.0.113.0/24", "240.0.0.0/4", "255.255.255.255/32",
		"64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/32", "2001:db8::/32", "2002::/16", "::/96",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// AddressProblem says why an address is not a public one, or "".
func AddressProblem(a netip.Addr, allowLoopback bool) string {
	a = a.Unmap() // ::ffff:10.0.0.1 is 10.0.0.1
	switch {
	case a.IsLoopback():
		if allowLoopback {
			return ""
		}
		return "a loopback address"
	case a.IsUnspecified():
		return "an unspecified address"
	case a.IsPrivate():
		return "a private address"
	case a.IsLinkLocalUnicast():
		return "a link-local address (cloud metadata services live there)"
	case a.IsMulticast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast():
		return "a multicast address"
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return "a reserved or special-purpose address (" + p.String() + ")"
		}
	}
	return ""
}
