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

func TestInvalidRedirectURIs(t *testing.T) {
	for _, tc := range []struct {
		uri, reason string // reason "": acceptable
	}{
		{"https://app.example.com/cb", ""},
		{"https://app.example.com:8443/cb?tenant=a", ""},
		{"http://127.0.0.1/cb", ""},
		{"http://[::1]:8080/cb", ""},
		{"http://localhost:3000/cb", ""},
		{"com.example.app://cb", "the scheme must be https"}, // private-use schemes are not accepted
		{"http://app.example.com/cb", "http is allowed only for 127.0.0.1, [::1] and localhost"},
		{"http://127.0.0.2/cb", "http is allowed only for 127.0.0.1, [::1] and localhost"},
		{"ftp://app.example.com/cb", "the scheme must be https"},
		{"https://*.example.com/cb", "wildcards are not allowed"},
		{"https://app.example.com/*", "wildcards are not allowed"},
		{"https://app.example.com/cb#top", "fragments are not allowed"},
		{"https://app.example.com/cb#", "fragments are not allowed"},
		{"https://user:pw@app.example.com/cb", "user info is not allowed"},
		{"https://app.example.com:0/cb", "the port must be 1 to 65535"},
		{"https://app.example.com:65536/cb", "the port must be 1 to 65535"},
		{"/cb", "not an absolute URL"},
		{"https:///cb", "not an absolute URL"},
		{"https://app.example.com/%zz", "not an absolute URL"},
		{"", "not an absolute URL"},
	} {
		got := InvalidRedirectURIs([]string{tc.uri})
		var want []string
		if tc.reason != "" {
			want = []string{tc.uri + " (" + tc.reason + ")"}
		}
		if len(got) != len(want) || len(got) == 1 && got[0] != want[0] {
			t.Errorf("InvalidRedirectURIs(%q) = %q, want %q", tc.uri, got, want)
		}
	}
}

func TestRedirectURIMatches(t *testing.T) {
	registered := []string{"http://localhost/cb?x=1", "http://[::1]:9000/cb", "https://app.example.com/cb"}
	for _, tc := range []struct {
		uri  string
		want bool
	}{
		{"https://app.example.com/cb", true},
		{"http://localhost:1234/cb?x=1", true},
		{"http://[::1]/cb", true},
		{"http://[::1]:1/cb", true},
		{"http://localhost:1234/cb", false},     // the query must match
		{"http://localhost:1234/cb?x=2", false}, // exactly
		{"http://127.0.0.1:1234/cb?x=1", false}, // another loopback host is another URI
		{"http://user@localhost:1234/cb?x=1", false},
		{"http://localhost:1234/cb?x=1#frag", false},
		{"https://localhost:1234/cb?x=1", false}, // any port only for http
		{"https://app.example.com/cb/", false},
		{"HTTPS://app.example.com/cb", false},
		{"", false},
	} {
		if got := RedirectURIMatches(registered, tc.uri); got != tc.want {
			t.Errorf("RedirectURIMatches(%q) = %v, want %v", tc.uri, got, tc.want)
		}
	}
}
