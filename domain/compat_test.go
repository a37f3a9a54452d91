package domain

import "testing"

func TestIsValidHost(t *testing.T) {
	for _, tc := range []struct {
		host string
		ok   bool
	}{
		{"acme.auth.example.com", true},
		{"localhost", true},
		{"localhost:8443", true},
		{"127.0.0.1:8080", true},
		{"a-b.example", true},
		{"", false},
		{"Acme.example", false}, // normalized to lower case before
		{"-a.example", false},
		{"a-.example", false},
		{"a..example", false},
		{"*.example", false},
		{"https://acme.example", false},
		{"acme.example/path", false},
		{"user@acme.example", false},
		{"acme.example:", false},
		{"acme.example:0", false},
		{"acme.example:65536", false},
		{"acme.example:080", false},
		{"[::1]:8080", false},
	} {
		if got := IsValidHost(tc.host); got != tc.ok {
			t.Errorf("IsValidHost(%q) = %v, want %v", tc.host, got, tc.ok)
		}
	}
	if got := NormalizeHost("ID.Acme.Example."); got != "id.acme.example" {
		t.Errorf("NormalizeHost = %q", got)
	}
}

func TestProfilesDecide(t *testing.T) {
	for _, tc := range []struct {
		compat          []string
		mixed, caseless bool
	}{
		{nil, false, false},
		{[]string{CompatCoralogix}, false, false},
		{[]string{CompatCorral}, false, true},
		{[]string{CompatSeaCat}, true, false},
		{[]string{CompatKeycloak}, true, false},
	} {
		s := RealmSettings{Compat: tc.compat}
		if s.MixedGrants() != tc.mixed || s.CaseInsensitiveScopes() != tc.caseless {
			t.Errorf("%v: mixed grants %v, case-insensitive scopes %v; want %v, %v", tc.compat, s.MixedGrants(), s.CaseInsensitiveScopes(), tc.mixed, tc.caseless)
		}
		want := "Management tenant:x"
		if tc.caseless {
			want = "management tenant:x"
		}
		if got := s.ScopeParam("Management tenant:x"); got != want {
			t.Errorf("%v: ScopeParam = %q, want %q", tc.compat, got, want)
		}
	}
}
