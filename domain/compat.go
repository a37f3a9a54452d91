package domain

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Compatibility profiles a realm may turn on (RealmSettings.Compat). Each
// adds another product's paths, field spellings and answers to the realm,
// as aliases of Latchkey's own endpoints; none is on by default.
const (
	// CompatCoralogix: the OAuth endpoints under /oauth2/.
	CompatCoralogix = "coralogix"
	// CompatCorral: node credentials under /api/projects and /api/apps,
	// answers in camelCase, scopes Management and Consumer in any case.
	CompatCorral = "corral"
	// CompatSeaCat: /openidconnect/token, PUT /client/{id} (partial) and
	// reset_secret, SeaCat Auth's client attributes, and clients holding
	// client credentials besides the code grant.
	CompatSeaCat = "seacat"
	// CompatKeycloak: clients holding client credentials (Keycloak's
	// service account) besides the code grant; Keycloak's paths are
	// Latchkey's own.
	CompatKeycloak = "keycloak"
)

// CompatProfiles lists every profile, in the order the API documents them.
var CompatProfiles = []string{CompatCoralogix, CompatCorral, CompatSeaCat, CompatKeycloak}

// Has reports whether the realm has a compatibility profile on.
func (s RealmSettings) Has(profile string) bool { return slices.Contains(s.Compat, profile) }

// MixedGrants reports whether a client of the realm may hold the
// client-credentials grant and the authorization-code grant together: the
// client acting as itself, and for the users who authorize it. SeaCat Auth
// and Keycloak allow it; Latchkey keeps them apart unless a profile says so.
func (s RealmSettings) MixedGrants() bool { return s.Has(CompatSeaCat) || s.Has(CompatKeycloak) }

// CaseInsensitiveScopes reports whether scope names are matched without
// case (Corral writes Management and Consumer).
func (s RealmSettings) CaseInsensitiveScopes() bool { return s.Has(CompatCorral) }

// ScopeParam is a requested scope as the realm reads it: lower-cased when
// the realm matches scope names without case. Catalog names are lower
// case, and so are node slugs.
func (s RealmSettings) ScopeParam(raw string) string {
	if s.CaseInsensitiveScopes() {
		return strings.ToLower(raw)
	}
	return raw
}

// hostLabel is one label of a DNS host name (RFC 1123), lower case.
var hostLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// NormalizeHost lower-cases a host name and drops a final dot.
func NormalizeHost(h string) string { return strings.TrimSuffix(strings.ToLower(h), ".") }

// IsValidHost reports whether h is a host name a realm may claim: DNS
// labels (RFC 1123) of at most 253 characters in all, lower case, with an
// optional port 1–65535. No scheme, path, user info or wildcard.
func IsValidHost(h string) bool {
	name, port, hasPort := strings.Cut(h, ":")
	if hasPort {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return false
		}
	}
	if name == "" || len(name) > 253 {
		return false
	}
	for label := range strings.SplitSeq(name, ".") {
		if !hostLabel.MatchString(label) {
			return false
		}
	}
	return true
}

// RealmContext is what a decision on a realm's settings must know of the
// other realms and the server.
type RealmContext struct {
	// HostsClaimed maps each host another realm claims (by its settings
	// or the server's configuration) to that realm.
	HostsClaimed map[string]string
	// PrimaryHost is the host of the server's public URL: it serves every
	// realm by path, and no realm may claim it.
	PrimaryHost string
}

// checkCompat lists the problems of a realm's profiles and hosts.
func (s RealmSettings) checkCompat(rc RealmContext) (problems []string, conflict error) {
	for _, p := range s.Compat {
		if !slices.Contains(CompatProfiles, p) {
			problems = append(problems, fmt.Sprintf("compat: unknown profile %q; the profiles are %s", p, strings.Join(CompatProfiles, ", ")))
		}
	}
	for _, h := range s.Hosts {
		switch {
		case !IsValidHost(h):
			problems = append(problems, fmt.Sprintf("hosts: %q is not a host name (DNS labels, an optional :port; no scheme, path or wildcard)", h))
		case rc.PrimaryHost != "" && h == rc.PrimaryHost:
			problems = append(problems, fmt.Sprintf("hosts: %q is the server's own host (--public-url), which serves every realm", h))
		case rc.HostsClaimed[h] != "" && conflict == nil:
			conflict = &ConflictError{Message: fmt.Sprintf("host %s is claimed by another realm", h)}
		}
	}
	return problems, conflict
}
