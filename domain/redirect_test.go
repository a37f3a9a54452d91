package domain

import "testing"

func TestRedirectURIMatchesLoopbackPorts(t *testing.T) {
	registered := []string{"http://127.0.0.1/callback", "https://app.example.com/cb"}
	for _, tc := range []struct {
		uri  string
		want bool
	}{
		{"http://127.0.0.1/callback", true},
		{"http://127.0.0.1:4242/callback", true}, // any port on loopback (RFC 8252 §7.3)
		{"http://127.0.0.1:65535/callback", true},
		{"http://127.0.0.1:0/callback", false},
		{"http://127.0.0.1:99999/callback", false},
		{"http://127.0.0.1:4242/other", false},
		{"https://app.example.com:8443/cb", false}, // other hosts match exactly
	} {
		if got := RedirectURIMatches(registered, tc.uri); got != tc.want {
			t.Errorf("RedirectURIMatches(%q) = %v, want %v", tc.uri, got, tc.want)
		}
	}
	if bad := InvalidRedirectURIs([]string{"https://app.example.com:99999/cb", "https://app.example.com:0/cb"}); len(bad) != 2 {
		t.Errorf("registration took an out-of-range port: %v", bad)
	}
}
