package realms

import (
	"strings"
	"testing"
	"time"
)

func TestCSRFValues(t *testing.T) {
	c := CSRF{key: []byte("0123456789abcdef0123456789abcdef")}
	other := CSRF{key: []byte("another key, another master key!")}
	now := time.Unix(1_800_000_000, 0)
	id, cookie := c.NewBrowserID(now)
	token := c.Token("console:s1", now.Add(time.Hour))
	tests := []struct {
		name string
		ok   bool
		got  func() bool
	}{
		{"own cookie", true, func() bool { got, _, ok := c.BrowserID(cookie, now); return ok && got == id }},
		{"cookie at expiry", false, func() bool { _, _, ok := c.BrowserID(cookie, now.Add(BrowserIDLifetime)); return ok }},
		{"cookie of another key", false, func() bool { _, _, ok := other.BrowserID(cookie, now); return ok }},
		{"cookie with another id", false, func() bool {
			_, rest, _ := strings.Cut(cookie, ".")
			_, _, ok := c.BrowserID("chosen-by-the-browser-0123456789."+rest, now)
			return ok
		}},
		{"long random cookie", false, func() bool { _, _, ok := c.BrowserID(strings.Repeat("x", 64), now); return ok }},
		{"cookie used as a token", false, func() bool { return c.Valid(cookie, id, now) }},
		{"own token", true, func() bool { return c.Valid(token, "console:s1", now) }},
		{"token for another binding", false, func() bool { return c.Valid(token, "console:s2", now) }},
		{"token at expiry", false, func() bool { return c.Valid(token, "console:s1", now.Add(time.Hour)) }},
		{"token with a later expiry written in", false, func() bool {
			_, mac, _ := strings.Cut(token, ".")
			return c.Valid("9999999999."+mac, "console:s1", now)
		}},
		{"token of another key", false, func() bool { return other.Valid(token, "console:s1", now) }},
		{"empty binding", false, func() bool { return c.Valid(c.Token("", now.Add(time.Hour)), "", now) }},
	}
	for _, tt := range tests {
		if got := tt.got(); got != tt.ok {
			t.Errorf("%s: valid = %v, want %v", tt.name, got, tt.ok)
		}
	}
}

func TestBrowserIDRenewedNearExpiryKeepsItsID(t *testing.T) {
	c := CSRF{key: []byte("0123456789abcdef0123456789abcdef")}
	now := time.Unix(1_800_000_000, 0)
	id, cookie := c.NewBrowserID(now)
	if _, renewed, _ := c.BrowserID(cookie, now.Add(time.Hour)); renewed != "" {
		t.Fatal("a fresh cookie was renewed")
	}
	later := now.Add(BrowserIDLifetime - browserIDRenew/2)
	got, renewed, ok := c.BrowserID(cookie, later)
	if !ok || got != id || renewed == "" {
		t.Fatalf("near expiry: id %q ok %v renewed %q", got, ok, renewed)
	}
	if again, _, ok := c.BrowserID(renewed, later.Add(BrowserIDLifetime/2)); !ok || again != id {
		t.Fatal("the renewed cookie does not carry the same id")
	}
}
