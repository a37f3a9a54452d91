// Package verifier lets a resource server accept a Latchkey realm's access
// tokens without calling Latchkey: it verifies RFC 9068 JWTs locally with
// the realm's JWKS (fetched once, refreshed when an unknown kid appears) and
// rejects revoked tokens by following the realm's revocation rules on NATS;
// a rule counts only when the realm signed it (its JWS verifies with a key
// of the same JWKS).
//
//	v, err := verifier.New(ctx, verifier.Config{
//		Issuer:   "https://id.example.com/realms/acme",
//		Audience: "https://api.example.com", // this resource's identifier (RFC 8707)
//		NATS:     nc, // may read only lk.acme.revocations
//	})
//	claims, err := v.Verify(bearerToken)
//
// Resource (resource.go) wraps it as HTTP middleware for a Go resource
// server or MCP server: protected-resource metadata (RFC 9728) and the
// challenges MCP clients follow.
//
// A DPoP-bound token (RFC 9449) is accepted only with a proof of its key
// (VerifyDPoP, dpop.go); Verify refuses it.
//
// A valid token is answered from memory: no network, microseconds.
//
// The verifier fails closed: when its revocation rules have not been proven
// current for Config.StaleAfter (the NATS feed is down or lags), it refuses
// every token with ErrStale, or asks Latchkey's introspection endpoint when
// Config.Introspection is set. Health reports which.
package verifier

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"
)

// Config says which realm to trust and how to reach it.
type Config struct {
	// Issuer is the realm's issuer URL: <public-url>/realms/<realm>, or
	// the URL of a host the realm claims (then Realm names the realm).
	Issuer string
	// Realm is the realm's name; empty: the last segment of an Issuer
	// ending in /realms/<realm>.
	Realm string
	// Audience the token must carry (required): the resource's identifier,
	// as registered in the realm and sent by clients as resource (RFC
	// 8707); or the Issuer, to accept tokens minted without a resource.
	// A token for another resource is refused.
	Audience string
	// JWKSURL defaults to <Issuer>/protocol/openid-connect/certs.
	JWKSURL string
	// HTTPClient fetches the JWKS; nil uses a client with a 10 s timeout.
	HTTPClient *http.Client
	// NATS is a connection allowed to read the realm's revocation rules
	// (see Permissions and Connect).
	NATS *nats.Conn
	// StaleAfter is how long the revocation rules are trusted without proof
	// that the feed is current (default 30 s). Past it, a token is refused
	// with ErrStale, or checked by Introspection when that is set.
	StaleAfter time.Duration
	// Introspection, when set, answers for tokens while the feed is stale.
	Introspection *Introspection
	// Lookback is how far back rules are replayed on start: the longest
	// access-token lifetime plus Leeway (default 24 h + Leeway), so a
	// restarted resource server still knows every revocation of a token it
	// could accept.
	Lookback time.Duration
	// Leeway tolerates clock skew on exp, nbf and iat (default 30 s).
	Leeway time.Duration
	// Logger reports refused revocation rules (default slog.Default()).
	Logger *slog.Logger
}

// Claims are the claims of a Latchkey access token.
type Claims struct {
	jwt.RegisteredClaims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
	// Confirmation is set on a DPoP-bound token (VerifyDPoP).
	Confirmation *Confirmation `json:"cnf,omitempty"`
}

// Errors Verify returns; every failure but ErrStale wraps ErrInvalid.
var (
	ErrInvalid = errors.New("invalid access token")
	ErrRevoked = fmt.Errorf("%w: revoked", ErrInvalid)
	// ErrStale: the token's signature and claims are valid, but whether it
	// was revoked cannot be known now (the revocation feed is stale and no
	// introspection answered). It is refused; answer 503, not 401.
	ErrStale = errors.New("verifier: the revocation feed is stale; the token cannot be checked now")
)

// Verifier checks one realm's access tokens.
type Verifier struct {
	cfg    Config
	parser *jwt.Parser
	keys   *keySet
	rules  *ruleSet
	feed   *feed
	proofs *spentProofs
}

// Health is how current the verifier's revocation rules are.
type Health struct {
	// Live: the rules were proven current within StaleAfter; tokens are
	// checked locally.
	Live bool `json:"live"`
	// SyncedAt is when the rules were last proven current.
	SyncedAt time.Time `json:"synced_at"`
	// Introspecting: not Live, and tokens are checked by introspection.
	// Not Live and not Introspecting: every token is refused (ErrStale).
	Introspecting bool `json:"introspecting"`
	// RefusedRules counts the revocation rules not applied because their
	// signature did not verify with the realm's keys: someone else
	// published them.
	RefusedRules uint64 `json:"refused_rules"`
}

// New fetches the realm's keys, replays its recent revocation rules and
// keeps following new ones. It returns once the replay has caught up.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	if cfg.Issuer == "" || cfg.NATS == nil {
		return nil, errors.New("verifier: Issuer and NATS are required")
	}
	cfg.Issuer = strings.TrimRight(cfg.Issuer, "/")
	realm, err := realmOf(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Audience == "" {
		return nil, errors.New("verifier: Audience is required: this resource's identifier, or the Issuer for tokens minted without a resource")
	}
	if cfg.JWKSURL == "" {
		cfg.JWKSURL = cfg.Issuer + "/protocol/openid-connect/certs"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.Lookback == 0 {
		cfg.Lookback = 24*time.Hour + cfg.Leeway
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Introspection != nil {
		in := *cfg.Introspection // the caller's stays as given
		cfg.Introspection = &in
		if in.ClientID == "" {
			return nil, errors.New("verifier: Introspection needs a ClientID")
		}
		if cfg.Introspection.URL == "" {
			cfg.Introspection.URL = cfg.Issuer + "/protocol/openid-connect/token/introspect"
		}
	}
	v := &Verifier{
		cfg: cfg,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{"ES256", "RS256"}),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithLeeway(cfg.Leeway),
		),
		keys:   newKeySet(cfg.JWKSURL, cfg.HTTPClient),
		rules:  newRuleSet(cfg.Leeway),
		proofs: newSpentProofs(),
	}
	if err := v.keys.refresh(ctx); err != nil {
		return nil, err
	}
	v.feed, err = follow(ctx, cfg.NATS, realm, time.Now().Add(-cfg.Lookback), v.rules, v.keys.ruleKey, cfg.Logger, cfg.StaleAfter)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// Close stops following revocation rules.
func (v *Verifier) Close() { v.feed.stop() }

// Health reports how current the revocation rules are.
func (v *Verifier) Health() Health {
	live := v.feed.live(time.Now())
	return Health{Live: live, SyncedAt: v.feed.syncedAtTime(), Introspecting: !live && v.cfg.Introspection != nil,
		RefusedRules: v.feed.refused.Load()}
}

// Verify checks a token presented as Bearer: signature, typ (at+jwt),
// iss, aud and exp, then the revocation rules. A token signed by a key not
// yet known makes it fetch the JWKS once (rate-limited). While the rules
// are stale it asks introspection (when configured) or refuses with
// ErrStale. A DPoP-bound token is refused (ErrDPoPBinding): without its
// proof it is as good as stolen; see VerifyDPoP.
func (v *Verifier) Verify(token string) (*Claims, error) {
	claims, err := v.parse(token)
	if err != nil {
		return nil, err
	}
	if claims.Confirmation != nil {
		return nil, &dpopError{kind: ErrDPoPBinding, desc: "the access token is DPoP-bound: send it as Authorization: DPoP, with a DPoP proof"}
	}
	if err := v.checkRevocation(token, claims); err != nil {
		return nil, err
	}
	return claims, nil
}

// parse checks a token's signature and claims.
func (v *Verifier) parse(token string) (*Claims, error) {
	claims := &Claims{}
	if _, err := v.parser.ParseWithClaims(token, claims, v.keyFor); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return claims, nil
}

// checkRevocation refuses a token the revocation rules name, and any token
// while the rules are stale unless introspection says it is active.
func (v *Verifier) checkRevocation(token string, claims *Claims) error {
	var iat int64
	if claims.IssuedAt != nil {
		iat = claims.IssuedAt.Unix()
	}
	if v.rules.revoked(claims.ID, claims.ClientID, claims.Subject, iat) {
		return ErrRevoked
	}
	if !v.feed.live(time.Now()) {
		if v.cfg.Introspection == nil {
			return ErrStale
		}
		return v.introspect(token)
	}
	return nil
}

func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	typ, _ := t.Header["typ"].(string)
	if !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return nil, fmt.Errorf("typ %q is not at+jwt", typ)
	}
	kid, _ := t.Header["kid"].(string)
	key, alg, ok := v.keys.get(kid)
	if !ok {
		key, alg, ok = v.keys.refreshFor(kid)
	}
	if !ok {
		return nil, fmt.Errorf("unknown key %q", kid)
	}
	if alg != t.Method.Alg() {
		return nil, fmt.Errorf("key %q is for %s, token uses %s", kid, alg, t.Method.Alg())
	}
	return crypto.PublicKey(key), nil
}

// realmOf is the realm a configuration names: Realm, which an issuer
// ending in /realms/<realm> must agree with, or else that realm.
func realmOf(cfg Config) (string, error) {
	if cfg.Realm == "" {
		return RealmOf(cfg.Issuer)
	}
	if strings.ContainsAny(cfg.Realm, "/.*> ") {
		return "", fmt.Errorf("verifier: invalid realm %q", cfg.Realm)
	}
	if fromPath, err := RealmOf(cfg.Issuer); err == nil && fromPath != cfg.Realm {
		return "", fmt.Errorf("verifier: issuer %q names realm %s, not %s", cfg.Issuer, fromPath, cfg.Realm)
	}
	return cfg.Realm, nil
}

// RealmOf reads the realm name from an issuer URL.
func RealmOf(issuer string) (string, error) {
	i := strings.LastIndex(issuer, "/realms/")
	if i < 0 || len(issuer) == i+len("/realms/") {
		return "", fmt.Errorf("verifier: issuer %q does not end in /realms/<realm>", issuer)
	}
	realm := issuer[i+len("/realms/"):]
	if strings.ContainsAny(realm, "/.*> ") {
		return "", fmt.Errorf("verifier: invalid realm %q", realm)
	}
	return realm, nil
}
