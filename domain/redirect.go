package domain

import (
	"net/url"
	"strconv"
	"strings"
)

// loopbackHosts may use plain http, with any port at authorization time
// (RFC 8252 §7.3).
var loopbackHosts = []string{"127.0.0.1", "::1", "localhost"}

// InvalidRedirectURIs returns each unacceptable URI with the reason:
// registered redirect URIs are exact https URLs, or http on a loopback
// host; never a wildcard, a fragment, or user info.
func InvalidRedirectURIs(uris []string) []string {
	var bad []string
	for _, raw := range uris {
		if reason := redirectURIProblem(raw); reason != "" {
			bad = append(bad, raw+" ("+reason+")")
		}
	}
	return bad
}

func redirectURIProblem(raw string) string {
	if strings.Contains(raw, "*") {
		return "wildcards are not allowed"
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return "not an absolute URL"
	}
	if strings.Contains(raw, "#") {
		return "fragments are not allowed"
	}
	if u.User != nil {
		return "user info is not allowed"
	}
	if problem := portProblem(u); problem != "" {
		return problem
	}
	switch u.Scheme {
	case "https":
		return ""
	case "http":
		if isLoopback(u.Hostname()) {
			return ""
		}
		return "http is allowed only for 127.0.0.1, [::1] and localhost"
	}
	return "the scheme must be https"
}

// portProblem refuses a port outside 1-65535 (url.Parse takes any digits).
func portProblem(u *url.URL) string {
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "the port must be 1 to 65535"
		}
	}
	return ""
}

func isLoopback(host string) bool {
	for _, h := range loopbackHosts {
		if host == h {
			return true
		}
	}
	return false
}

// RedirectURIMatches reports whether a requested redirect URI is one of the
// registered ones: an exact string match, except that a loopback http URI
// matches with any port (RFC 8252 §7.3).
func RedirectURIMatches(registered []string, requested string) bool {
	for _, r := range registered {
		if r == requested {
			return true
		}
	}
	req, err := url.Parse(requested)
	if err != nil || req.Scheme != "http" || !isLoopback(req.Hostname()) || req.User != nil || strings.Contains(requested, "#") ||
		portProblem(req) != "" {
		return false
	}
	for _, r := range registered {
		reg, err := url.Parse(r)
		if err != nil || reg.Scheme != "http" || reg.Hostname() != req.Hostname() {
			continue
		}
		if reg.Path == req.Path && reg.RawQuery == req.RawQuery {
			return true
		}
	}
	return false
}
