package domain

import (
	"fmt"
	"reflect"
	"strings"
	"time"
)

// ClientRegistration is a realm's policy for clients it meets without an
// administrator: client ID metadata documents and dynamic registration.
// Both are off by default.
type ClientRegistration struct {
	CIMD    CIMDPolicy         `json:"cimd"`
	Dynamic DynamicRegistation `json:"dynamic_registration"`
}

// CIMDPolicy admits clients whose client_id is the URL of their metadata
// document.
type CIMDPolicy struct {
	Enabled bool `json:"enabled"`
	// AllowedHosts are host patterns ("claude.ai", "*.example.com"); empty
	// admits any public host.
	AllowedHosts []string `json:"allowed_hosts"`
}

// DynamicRegistation admits RFC 7591 registration: with an initial access
// token, or, when Open, a public client without one.
type DynamicRegistation struct {
	Enabled bool `json:"enabled"`
	Open    bool `json:"open"`
}

// Normalize makes empty lists empty, not null.
func (r *ClientRegistration) Normalize() {
	r.CIMD.AllowedHosts = dedupe(nonNil(r.CIMD.AllowedHosts))
	for i, h := range r.CIMD.AllowedHosts {
		r.CIMD.AllowedHosts[i] = strings.ToLower(strings.TrimSpace(h))
	}
}

// hostPatternProblem checks an allowed-host pattern: a host name, or
// "*." and a domain.
func hostPatternProblem(p string) string {
	name := strings.TrimPrefix(p, "*.")
	if name == "" || len(p) > 253 || strings.ContainsAny(name, "*/:@ ") || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") {
		return fmt.Sprintf("allowed host %q is not a host name or *.domain", p)
	}
	return ""
}

// HostAllowed reports whether a client_id URL's host may be used: any host
// when no pattern is set; else an exact host or a "*.domain" pattern
// matching a subdomain.
func (p CIMDPolicy) HostAllowed(host string) bool {
	if len(p.AllowedHosts) == 0 {
		return true
	}
	host = strings.ToLower(host)
	for _, pat := range p.AllowedHosts {
		if suffix, ok := strings.CutPrefix(pat, "*."); ok {
			if strings.HasSuffix(host, "."+suffix) {
				return true
			}
		} else if host == pat {
			return true
		}
	}
	return false
}

// ClientRegistrationChanged replaces the realm's policy, before and after.
type ClientRegistrationChanged struct {
	Before ClientRegistration `json:"before"`
	After  ClientRegistration `json:"after"`
}

// TypeClientRegistrationChanged is its event type.
const TypeClientRegistrationChanged = "realm.client_registration_changed"

func (ClientRegistrationChanged) EventType() string { return TypeClientRegistrationChanged }

// DecideClientRegistration validates a new policy; nil when nothing
// changes.
func DecideClientRegistration(r *Realm, next ClientRegistration) (*ClientRegistrationChanged, error) {
	next.Normalize()
	var problems []string
	for _, h := range next.CIMD.AllowedHosts {
		if p := hostPatternProblem(h); p != "" {
			problems = append(problems, p)
		}
	}
	if next.Dynamic.Open && !next.Dynamic.Enabled {
		problems = append(problems, "open registration needs dynamic_registration enabled")
	}
	if len(problems) > 0 {
		return nil, &ValidationError{Field: "client_registration", Message: strings.Join(problems, "; "), Details: problems}
	}
	cur := r.Registration
	cur.Normalize()
	if reflect.DeepEqual(cur, next) {
		return nil, nil
	}
	return &ClientRegistrationChanged{Before: cur, After: next}, nil
}

// Initial access tokens (RFC 7591 §3): issued by an administrator, each
// lets a client register itself a limited number of times before it
// expires. Only the token's hash is recorded.

// AggregateInitialToken is the aggregate type of an initial access token.
const AggregateInitialToken = "initial-token"

// InitialTokenRef names an initial access token's aggregate.
func InitialTokenRef(id string) AggregateRef {
	return AggregateRef{Type: AggregateInitialToken, ID: id}
}

// Bounds of initial access tokens.
const (
	DefaultInitialTokenLifetime = 24 * 3600
	MaxInitialTokenLifetime     = 90 * 24 * 3600
	MaxInitialTokenUses         = 10000
)

// Events of an initial access token.
type (
	// InitialTokenCreated issues one.
	InitialTokenCreated struct {
		Hash        string `json:"hash"`
		Description string `json:"description,omitempty"`
		ExpiresAt   int64  `json:"expires_at"`
		MaxUses     int    `json:"max_uses"`
	}
	// InitialTokenUsed records a registration made with it.
	InitialTokenUsed struct {
		ClientID string `json:"client_id"`
	}
	// InitialTokenRevoked ends it before it expires.
	InitialTokenRevoked struct{}
)

const (
	TypeInitialTokenCreated = "initial-token.created"
	TypeInitialTokenUsed    = "initial-token.used"
	TypeInitialTokenRevoked = "initial-token.revoked"
)

func (InitialTokenCreated) EventType() string { return TypeInitialTokenCreated }
func (InitialTokenUsed) EventType() string    { return TypeInitialTokenUsed }
func (InitialTokenRevoked) EventType() string { return TypeInitialTokenRevoked }

func init() {
	decoders[TypeClientRegistrationChanged] = decodeAs[ClientRegistrationChanged]
	decoders[TypeInitialTokenCreated] = decodeAs[InitialTokenCreated]
	decoders[TypeInitialTokenUsed] = decodeAs[InitialTokenUsed]
	decoders[TypeInitialTokenRevoked] = decodeAs[InitialTokenRevoked]
}

// InitialToken is an initial access token's state.
type InitialToken struct {
	ID          string
	Hash        string
	Description string
	CreatedAt   int64
	ExpiresAt   int64
	MaxUses     int
	Uses        int
	Revoked     bool
	Version     uint64
}

// Apply folds one of the token's events at event time t.
func (it *InitialToken) Apply(seq uint64, t time.Time, p Payload) {
	switch e := p.(type) {
	case InitialTokenCreated:
		it.Hash, it.Description, it.ExpiresAt, it.MaxUses, it.CreatedAt = e.Hash, e.Description, e.ExpiresAt, e.MaxUses, t.Unix()
	case InitialTokenUsed:
		it.Uses++
	case InitialTokenRevoked:
		it.Revoked = true
	default:
		return
	}
	it.Version = seq
}

// Status is active, used_up, expired or revoked at now.
func (it *InitialToken) Status(now int64) string {
	switch {
	case it.Revoked:
		return "revoked"
	case now >= it.ExpiresAt:
		return "expired"
	case it.Uses >= it.MaxUses:
		return "used_up"
	}
	return "active"
}

// DecideCreateInitialToken issues an initial access token living expiresIn
// seconds (0: a day) for maxUses registrations (0: one).
func DecideCreateInitialToken(hash, description string, expiresIn int64, maxUses int, now time.Time) (InitialTokenCreated, error) {
	if expiresIn == 0 {
		expiresIn = DefaultInitialTokenLifetime
	}
	if maxUses == 0 {
		maxUses = 1
	}
	var problems []string
	if expiresIn < 60 || expiresIn > MaxInitialTokenLifetime {
		problems = append(problems, fmt.Sprintf("expires_in must be between 60 and %d seconds", MaxInitialTokenLifetime))
	}
	if maxUses < 1 || maxUses > MaxInitialTokenUses {
		problems = append(problems, fmt.Sprintf("max_uses must be between 1 and %d", MaxInitialTokenUses))
	}
	if description != "" && !IsDisplayText(description, 200) {
		problems = append(problems, "description is at most 200 characters, one line")
	}
	if len(problems) > 0 {
		return InitialTokenCreated{}, &ValidationError{Field: "initial_access_token", Message: strings.Join(problems, "; "), Details: problems}
	}
	return InitialTokenCreated{Hash: hash, Description: description, ExpiresAt: now.Unix() + expiresIn, MaxUses: maxUses}, nil
}

// errInitialTokenRefused is the one answer to an unusable initial access
// token, whatever the reason: the caller learns nothing of other tokens.
var errInitialTokenRefused = &OAuthError{Code: ErrInvalidToken, Description: "the initial access token is invalid, expired, revoked or used up"}

// DecideUseInitialToken spends one use of a token for a registration.
func DecideUseInitialToken(it *InitialToken, clientID string, now time.Time) (InitialTokenUsed, error) {
	if it == nil || it.Hash == "" || it.Status(now.Unix()) != "active" {
		return InitialTokenUsed{}, errInitialTokenRefused
	}
	return InitialTokenUsed{ClientID: clientID}, nil
}

// DecideRevokeInitialToken ends a token; nil when it is revoked already.
func DecideRevokeInitialToken(it *InitialToken) (*InitialTokenRevoked, error) {
	if it == nil || it.Hash == "" {
		return nil, ErrNotFound
	}
	if it.Revoked {
		return nil, nil
	}
	return &InitialTokenRevoked{}, nil
}
