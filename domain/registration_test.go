package domain

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestDecideClientRegistration(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cur     ClientRegistration
		next    ClientRegistration
		want    *ClientRegistrationChanged
		wantErr string
	}{
		{name: "off stays off: nothing", next: ClientRegistration{}},
		{name: "CIMD on, hosts normalized", next: ClientRegistration{CIMD: CIMDPolicy{Enabled: true, AllowedHosts: []string{" Claude.AI ", "*.example.com"}}},
			want: &ClientRegistrationChanged{Before: ClientRegistration{CIMD: CIMDPolicy{AllowedHosts: []string{}}},
				After: ClientRegistration{CIMD: CIMDPolicy{Enabled: true, AllowedHosts: []string{"claude.ai", "*.example.com"}}}}},
		{name: "a bad host pattern", next: ClientRegistration{CIMD: CIMDPolicy{Enabled: true, AllowedHosts: []string{"*"}}},
			wantErr: `allowed host "*" is not a host name or *.domain`},
		{name: "open without enabled", next: ClientRegistration{Dynamic: DynamicRegistation{Open: true}},
			wantErr: "open registration needs dynamic_registration enabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecideClientRegistration(&Realm{Registration: tc.cur}, tc.next)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestHostAllowed(t *testing.T) {
	p := CIMDPolicy{AllowedHosts: []string{"claude.ai", "*.example.com"}}
	for host, want := range map[string]bool{
		"claude.ai": true, "CLAUDE.AI": true, "api.claude.ai": false, "app.example.com": true, "a.b.example.com": true,
		"example.com": false, "evilexample.com": false, "other.org": false,
	} {
		if got := p.HostAllowed(host); got != want {
			t.Errorf("HostAllowed(%q) = %v, want %v", host, got, want)
		}
	}
	if !(CIMDPolicy{}).HostAllowed("anything.example") {
		t.Error("no pattern must admit any host")
	}
}

func TestInitialTokens(t *testing.T) {
	ev, err := DecideCreateInitialToken("h", "for CI", 0, 0, t0)
	if err != nil || ev != (InitialTokenCreated{Hash: "h", Description: "for CI", ExpiresAt: t0.Unix() + 86400, MaxUses: 1}) {
		t.Fatalf("defaults: %+v, %v", ev, err)
	}
	if _, err := DecideCreateInitialToken("h", "", 30, 0, t0); err == nil || err.Error() != "expires_in must be between 60 and 7776000 seconds" {
		t.Errorf("too short: %v", err)
	}
	if _, err := DecideCreateInitialToken("h", "", 0, -1, t0); err == nil || err.Error() != "max_uses must be between 1 and 10000" {
		t.Errorf("negative uses: %v", err)
	}
	ev.MaxUses = 2
	it := &InitialToken{ID: "i"}
	it.Apply(1, t0, ev)
	for i, tc := range []struct {
		now    time.Time
		ok     bool
		status string
	}{
		{t0, true, "active"},
		{t0.Add(time.Minute), true, "active"},
		{t0.Add(2 * time.Minute), false, "used_up"}, // used past its count
	} {
		used, err := DecideUseInitialToken(it, "c", tc.now)
		if (err == nil) != tc.ok {
			t.Fatalf("use %d: %v", i, err)
		}
		if err != nil {
			if err.Error() != "invalid_token: the initial access token is invalid, expired, revoked or used up" {
				t.Errorf("use %d: %v", i, err)
			}
			continue
		}
		it.Apply(uint64(i+2), tc.now, used)
	}
	if got := it.Status(t0.Unix()); got != "used_up" {
		t.Errorf("status = %q", got)
	}
	fresh := &InitialToken{}
	fresh.Apply(1, t0, InitialTokenCreated{Hash: "h", ExpiresAt: t0.Unix() + 60, MaxUses: 5})
	if _, err := DecideUseInitialToken(fresh, "c", t0.Add(time.Minute)); err == nil {
		t.Error("an expired token was used")
	}
	rev, err := DecideRevokeInitialToken(fresh)
	if err != nil || rev == nil {
		t.Fatalf("revoke: %v, %v", rev, err)
	}
	fresh.Apply(2, t0, *rev)
	if _, err := DecideUseInitialToken(fresh, "c", t0); err == nil || fresh.Status(t0.Unix()) != "revoked" {
		t.Error("a revoked token was used")
	}
	if again, err := DecideRevokeInitialToken(fresh); again != nil || err != nil {
		t.Errorf("revoke twice: %v, %v", again, err)
	}
	if _, err := DecideRevokeInitialToken(&InitialToken{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoke of nothing: %v", err)
	}
}

func TestCheckAssertionClaims(t *testing.T) {
	const issuer = "https://id.example.com/realms/acme"
	auds := []string{issuer, issuer + "/protocol/openid-connect/token"}
	ok := AssertionClaims{Issuer: "svc", Subject: "svc", JTI: "j1", Audience: []string{issuer}, ExpiresAt: t0.Unix() + 60, IssuedAt: t0.Unix()}
	for _, tc := range []struct {
		name string
		edit func(*AssertionClaims)
		want string
	}{
		{"sound", func(c *AssertionClaims) {}, ""},
		{"the token endpoint as audience", func(c *AssertionClaims) { c.Audience = []string{"x", auds[1]} }, ""},
		{"a little clock skew", func(c *AssertionClaims) { c.IssuedAt = t0.Unix() + 20; c.ExpiresAt = t0.Unix() - 20 }, ""},
		{"another issuer", func(c *AssertionClaims) { c.Issuer = "other" }, "iss and sub must both be the client_id"},
		{"another subject", func(c *AssertionClaims) { c.Subject = "other" }, "iss and sub must both be the client_id"},
		{"another audience", func(c *AssertionClaims) { c.Audience = []string{"https://other.example.com"} }, "aud must be the issuer or the endpoint's URL"},
		{"no exp", func(c *AssertionClaims) { c.ExpiresAt = 0 }, "exp is required"},
		{"expired", func(c *AssertionClaims) { c.ExpiresAt = t0.Unix() - 31 }, "it has expired"},
		{"living long", func(c *AssertionClaims) { c.ExpiresAt = t0.Unix() + 3600 }, "exp is too far ahead: an assertion lives at most 5 minutes"},
		{"from the future", func(c *AssertionClaims) { c.NotBefore = t0.Unix() + 120 }, "it is not valid yet (nbf or iat in the future)"},
		{"no jti", func(c *AssertionClaims) { c.JTI = "" }, "jti is required (at most 256 characters)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			oerr := CheckAssertionClaims(c, "svc", auds, t0)
			if tc.want == "" {
				if oerr != nil {
					t.Fatal(oerr)
				}
				return
			}
			if oerr == nil || oerr.Code != ErrInvalidClient || oerr.Description != "client assertion refused: "+tc.want {
				t.Fatalf("err = %v, want %q", oerr, tc.want)
			}
		})
	}
}
