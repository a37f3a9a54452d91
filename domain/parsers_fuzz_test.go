package domain

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// Fuzz targets of the domain's parsers of outside input: scope strings,
// redirect URIs and event payloads. Seeds are below and in
// testdata/fuzz/<target>; run longer with .ci/fuzz.

// A scope parameter parses without panicking; what it accepts is scope
// tokens without duplicates and reads the same when written out again.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"", "openid read", "read read write", "tenant:acme read", "team:a team:b", "team:", "a\tb", "\"x\"", "  read  ", "openid\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r, oerr := parseScope(raw)
		if oerr != nil {
			if oerr.Code != ErrInvalidScope {
				t.Fatalf("parseScope(%q): %s, want invalid_scope", raw, oerr.Code)
			}
			return
		}
		for i, s := range r.scopes {
			if !IsScopeToken(s) || isNarrowingScope(s) || slices.Contains(r.scopes[:i], s) {
				t.Fatalf("parseScope(%q) accepted %q in %q", raw, s, r.scopes)
			}
		}
		again := joinScope(r.scopes)
		if r.node != "" {
			again += " team:" + r.node
		}
		back, oerr := parseScope(again)
		if oerr != nil || !slices.Equal(back.scopes, r.scopes) || back.node != r.node {
			t.Fatalf("parseScope(%q) = %+v; written out as %q it reads %+v, %v", raw, r, again, back, oerr)
		}
	})
}

// A registered redirect URI is accepted only as an absolute https URL (or
// http on loopback) without fragment, user info or wildcard, and matches
// itself; a requested URI matches a registered one only exactly, or as the
// same loopback http URL on another port.
func FuzzRedirectURIs(f *testing.F) {
	for _, s := range [][2]string{
		{"https://app.example.com/cb", "https://app.example.com/cb"},
		{"http://127.0.0.1/callback", "http://127.0.0.1:4242/callback"},
		{"http://[::1]/cb", "http://[::1]:1/cb?x=1"},
		{"https://app.example.com/cb", "https://app.example.com/cb#frag"},
		{"http://localhost:0/cb", "http://localhost:99999/cb"},
		{"https://*.example.com/cb", "https://evil.example.com/cb"},
		{"https://user@app.example.com/cb", "http://127.0.0.1@evil.example/cb"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, registered, requested string) {
		if redirectURIProblem(registered) == "" {
			u, err := url.Parse(registered)
			if err != nil || u.User != nil || strings.ContainsAny(registered, "#*") ||
				!(u.Scheme == "https" || u.Scheme == "http" && isLoopback(u.Hostname())) {
				t.Fatalf("registered redirect URI %q accepted", registered)
			}
			if !RedirectURIMatches([]string{registered}, registered) {
				t.Fatalf("registered redirect URI %q does not match itself", registered)
			}
		}
		if !RedirectURIMatches([]string{registered}, requested) || requested == registered {
			return
		}
		reg, err1 := url.Parse(registered)
		req, err2 := url.Parse(requested)
		if err1 != nil || err2 != nil || req.Scheme != "http" || reg.Scheme != "http" || !isLoopback(req.Hostname()) ||
			reg.Hostname() != req.Hostname() || reg.Path != req.Path || reg.RawQuery != req.RawQuery || req.User != nil || strings.Contains(requested, "#") {
			t.Fatalf("%q matched registered %q", requested, registered)
		}
	})
}

// An event payload of any type decodes without panicking; what decodes
// writes out as a fixed point (encode, decode, encode gives the same).
func FuzzDecodePayload(f *testing.F) {
	for _, p := range samplePayloads() {
		raw, _ := json.Marshal(p)
		f.Add(p.EventType(), raw)
	}
	f.Add("client.created", []byte(`{"client_id":1}`))
	f.Add("nope", []byte(`{}`))
	f.Fuzz(func(t *testing.T, eventType string, data []byte) {
		p, err := DecodePayload(eventType, data)
		if err != nil {
			return
		}
		if p.EventType() != eventType {
			t.Fatalf("decoded a %s as %s", eventType, p.EventType())
		}
		once, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("a decoded %s does not encode: %v", eventType, err)
		}
		back, err := DecodePayload(eventType, once)
		if err != nil {
			t.Fatalf("%s encoded as %s does not decode: %v", eventType, once, err)
		}
		if twice, _ := json.Marshal(back); string(twice) != string(once) {
			t.Fatalf("%s: %s encodes again as %s", eventType, once, twice)
		}
	})
}
