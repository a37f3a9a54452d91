package domain

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// Signing algorithms. ES256 signs access tokens; RS256 is published too, for
// relying parties that only verify RSA (and, later, ID tokens).
const (
	AlgES256 = "ES256"
	AlgRS256 = "RS256"
)

// MasterRealm holds the bootstrap admin client; its management tokens reach
// every realm.
const MasterRealm = "master"

// SigningKey is one key of a realm as the event history describes it.
type SigningKey struct {
	Kid       string
	Alg       string
	Use       string
	PublicJWK json.RawMessage
	Active    bool
	// VerifyUntil is zero while the key is active; after deactivation the
	// public key is published until this Unix time.
	VerifyUntil int64
	// AddedSeq is the stream sequence of the event that added the key.
	AddedSeq uint64
}

// Published reports whether the key belongs in the realm's JWKS at now.
func (k SigningKey) Published(now time.Time) bool {
	return k.Active || now.Unix() < k.VerifyUntil
}

// Realm is a realm's own state: its name, signing keys, scope catalog and
// settings.
type Realm struct {
	Name     string
	Keys     []SigningKey
	Scopes   Catalog
	Settings RealmSettings
	// Registration is the policy for clients met without an administrator.
	Registration ClientRegistration
	Version      uint64
}

// RealmSettings tune a realm: its history (a zero field takes the
// server's default), its compatibility profiles, the hosts it claims and
// the defaults of its new clients.
type RealmSettings struct {
	// CheckpointEvery: a signed audit.checkpoint at least every N stream
	// messages (negative: none).
	CheckpointEvery int `json:"checkpoint_every"`
	// CheckpointInterval (seconds): and at most this long after the first
	// message it covers.
	CheckpointInterval int64 `json:"checkpoint_interval"`
	// TokenRetention (seconds): token events expire from the stream after
	// this long (a per-message TTL); negative keeps them for good.
	TokenRetention int64 `json:"token_retention"`
	// RequirePKCE asks every client, confidential ones too, for PKCE in
	// the authorization-code flow (OAuth 2.1; RFC 9700 §2.1.1). On for
	// realms created since it exists (NewRealmSettings); realms created
	// before keep it off until it is set.
	RequirePKCE bool `json:"require_pkce"`
	// RequirePAR asks every client to push its authorization requests
	// first (RFC 9126); a client may be asked so on its own too.
	RequirePAR bool `json:"require_pushed_authorization_requests"`
	// RequireDPoPNonce makes a DPoP proof at the token and pushed
	// authorization request endpoints carry a nonce the server gave
	// (RFC 9449 §8): a proof made in advance, by whoever once held the
	// key, is then worthless.
	RequireDPoPNonce bool `json:"require_dpop_nonce"`
	// Compat lists the compatibility profiles turned on (CompatProfiles).
	Compat []string `json:"compat"`
	// Hosts are the host names the realm claims: a request to one reaches
	// the realm without /realms/<realm> in its path, and the first is the
	// realm's issuer.
	Hosts []string `json:"hosts"`
	// ClientDefaults are what new clients take.
	ClientDefaults ClientDefaults `json:"client_defaults"`
}

// Normalize makes lists non-nil and without duplicates, and host names
// lower case.
func (s *RealmSettings) Normalize() {
	s.Compat = dedupe(nonNil(s.Compat))
	hosts := make([]string, 0, len(s.Hosts))
	for _, h := range s.Hosts {
		hosts = append(hosts, NormalizeHost(h))
	}
	s.Hosts = dedupe(hosts)
}

// Compact is the settings as the realm's state holds them: an empty list
// is nil, so that a state restored from a snapshot (which keeps no empty
// list) equals one folded from the events.
func (s RealmSettings) Compact() RealmSettings {
	if len(s.Compat) == 0 {
		s.Compat = nil
	}
	if len(s.Hosts) == 0 {
		s.Hosts = nil
	}
	return s
}

// Equal reports whether two settings say the same (nil and empty lists
// alike).
func (s RealmSettings) Equal(o RealmSettings) bool {
	s.Normalize()
	o.Normalize()
	return reflect.DeepEqual(s, o)
}

// NewRealmSettings are the settings a new realm starts with.
func NewRealmSettings() RealmSettings { return RealmSettings{RequirePKCE: true} }

// MinTokenRetention is the shortest token-event retention: longer than
// any access token lives (24 h), so an event outlives its token.
const MinTokenRetention = 25 * 3600

// RealmSettingsChanged replaces a realm's settings, before and after.
type RealmSettingsChanged struct {
	Before RealmSettings `json:"before"`
	After  RealmSettings `json:"after"`
}

// TypeRealmSettingsChanged is the event type of RealmSettingsChanged.
const TypeRealmSettingsChanged = "realm.settings_changed"

func (RealmSettingsChanged) EventType() string { return TypeRealmSettingsChanged }

func init() { decoders[TypeRealmSettingsChanged] = decodeAs[RealmSettingsChanged] }

// DecideRealmSettings validates new settings; nil when nothing changes. A
// host another realm claims is a conflict.
func DecideRealmSettings(r *Realm, next RealmSettings, rc RealmContext) (*RealmSettingsChanged, error) {
	next.Normalize()
	var problems []string
	if next.CheckpointInterval < 0 {
		problems = append(problems, "checkpoint_interval must be positive (seconds), or 0 for the server's default")
	}
	if next.TokenRetention > 0 && next.CheckpointEvery < 0 {
		problems = append(problems, "token_retention needs checkpoints: an expired token event no checkpoint covered would read as tampering")
	}
	if next.TokenRetention > 0 && next.TokenRetention < MinTokenRetention {
		problems = append(problems, fmt.Sprintf("token_retention must be at least %d seconds (25 h), negative to keep token events, or 0 for the server's default", MinTokenRetention))
	}
	compat, conflict := next.checkCompat(rc)
	problems = append(append(problems, compat...), next.ClientDefaults.check()...)
	if len(problems) > 0 {
		return nil, &ValidationError{Field: "settings", Message: strings.Join(problems, "; "), Details: problems}
	}
	if conflict != nil {
		return nil, conflict
	}
	if next.Equal(r.Settings) {
		return nil, nil
	}
	return &RealmSettingsChanged{Before: r.Settings, After: next}, nil
}

// Apply folds one of the realm's own events.
func (r *Realm) Apply(seq uint64, p Payload) {
	switch e := p.(type) {
	case RealmCreated:
		r.Name = e.Name
		r.Settings.RequirePKCE = e.RequirePKCE
	case KeyAdded:
		r.Keys = append(r.Keys, SigningKey{Kid: e.Kid, Alg: e.Alg, Use: e.Use, PublicJWK: e.PublicJWK, Active: true, AddedSeq: seq})
	case ScopeDefined:
		if r.Scopes == nil {
			r.Scopes = Catalog{}
		}
		r.Scopes[e.Name] = e.Description
	case ScopeRemoved:
		delete(r.Scopes, e.Name)
	case RealmSettingsChanged:
		r.Settings = e.After.Compact()
	case ClientRegistrationChanged:
		r.Registration = e.After
	case KeyDeactivated:
		for i := range r.Keys {
			if r.Keys[i].Kid == e.Kid {
				r.Keys[i].Active = false
				r.Keys[i].VerifyUntil = e.VerifyUntil
			}
		}
	default:
		return
	}
	r.Version = seq
}

// ActiveKey returns the newest active key for an algorithm.
func (r *Realm) ActiveKey(alg string) (SigningKey, bool) {
	for i := len(r.Keys) - 1; i >= 0; i-- {
		if k := r.Keys[i]; k.Active && k.Alg == alg {
			return k, true
		}
	}
	return SigningKey{}, false
}

// DecideCreateRealm validates a realm name and returns the realm's first
// events: its creation, its initial keys and its default API scopes.
func DecideCreateRealm(name string, keys []KeyAdded) ([]Payload, error) {
	if err := ValidateName("realm name", name); err != nil {
		return nil, err
	}
	events := []Payload{RealmCreated{Name: name, RequirePKCE: NewRealmSettings().RequirePKCE}}
	for _, k := range keys {
		events = append(events, k)
	}
	for _, sc := range defaultRealmScopes {
		events = append(events, sc)
	}
	return events, nil
}

// DecideRotateKeys deactivates every active key and adds the new ones. An old
// key stays published for maxTokenLifetime seconds: the longest lifetime any
// token it signed can have.
func DecideRotateKeys(r *Realm, newKeys []KeyAdded, now time.Time, maxTokenLifetime int64) ([]Payload, error) {
	if r.Name == "" {
		return nil, ErrNotFound
	}
	var events []Payload
	for _, k := range r.Keys {
		if k.Active {
			events = append(events, KeyDeactivated{Kid: k.Kid, VerifyUntil: now.Unix() + maxTokenLifetime})
		}
	}
	for _, k := range newKeys {
		events = append(events, k)
	}
	return events, nil
}
