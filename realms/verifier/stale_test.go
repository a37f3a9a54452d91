package verifier_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/realms/verifier"
)

const testIssuer = "https://id.example.test/realms/acme"

// tokenMint signs access tokens the way Latchkey does and serves its JWKS.
type tokenMint struct {
	key    *ecdsa.PrivateKey
	jwks   *httptest.Server
	issuer string // testIssuer unless set
}

func newTokenMint(t testing.TB) *tokenMint {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	set := map[string]any{"keys": []map[string]string{{
		"kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig", "x": enc(pub[1:33]), "y": enc(pub[33:]),
	}}}
	m := &tokenMint{key: key, issuer: testIssuer}
	m.jwks = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(m.jwks.Close)
	return m
}

// signRule signs a rule as the realm does, with key under kid.
func signRule(t *testing.T, realm string, r domain.RevocationRule, kid string, key *ecdsa.PrivateKey) domain.SignedRule {
	t.Helper()
	signed, err := domain.SignRule(eventstore.RevocationsSubject(realm), r, kid, key, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// ruleKey signs the rules of tests that read them without a verifier.
var ruleKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

// token returns a fresh access token and its jti.
func (m *tokenMint) token(t *testing.T) (string, string) {
	t.Helper()
	return m.tokenFor(t, m.issuer, "read")
}

// tokenFor returns a fresh access token for an audience and scope, and its
// jti.
func (m *tokenMint) tokenFor(t testing.TB, aud, scope string) (string, string) {
	t.Helper()
	return m.boundTokenFor(t, aud, scope, nil)
}

// boundTokenFor returns a fresh access token bound to cnf (nil: a bearer
// token), and its jti.
func (m *tokenMint) boundTokenFor(t testing.TB, aud, scope string, cnf *verifier.Confirmation) (string, string) {
	t.Helper()
	now := time.Now()
	jti := uuid.NewString()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, verifier.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: m.issuer, Subject: "c1", Audience: jwt.ClaimStrings{aud}, ID: jti,
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
		},
		ClientID: "c1", Scope: scope, Confirmation: cnf,
	})
	tok.Header["typ"] = "at+jwt"
	tok.Header["kid"] = "k1"
	raw, err := tok.SignedString(m.key)
	if err != nil {
		t.Fatal(err)
	}
	return raw, jti
}

// introspector answers RFC 7662 requests: active unless the jti is
// revoked, or HTTP 503 while failing.
type introspector struct {
	srv *httptest.Server

	mu      sync.Mutex
	revoked map[string]bool
	failing bool
	calls   int
	auth    string // last client_id:secret, decoded
}

func newIntrospector(t *testing.T) *introspector {
	t.Helper()
	in := &introspector{revoked: map[string]bool{}}
	in.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in.mu.Lock()
		defer in.mu.Unlock()
		in.calls++
		id, secret, _ := r.BasicAuth()
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		in.auth = id + ":" + secret
		if in.failing {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		claims := jwt.MapClaims{}
		_, _, _ = jwt.NewParser().ParseUnverified(r.PostFormValue("token"), claims)
		jti, _ := claims["jti"].(string)
		_ = json.NewEncoder(w).Encode(map[string]bool{"active": !in.revoked[jti]})
	}))
	t.Cleanup(in.srv.Close)
	return in
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// eventually polls cond every 20 ms until it holds or within passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// A verifier whose NATS feed stops refuses tokens once StaleAfter passes
// without proof that its rules are current, or asks introspection when
// configured; it reports it in Health, and recovers, rules missed while
// down included, when the feed is back.
func TestVerifierFailsClosedWhenItsFeedIsStale(t *testing.T) {
	const staleAfter = 1500 * time.Millisecond
	dir, addr := t.TempDir(), freeAddr(t)
	srv := startSecuredServer(t, dir, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := srv.store.EnsureRealmStream(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	mint := newTokenMint(t)
	in := newIntrospector(t)

	start := func(intro *verifier.Introspection) *verifier.Verifier {
		nc, _ := connectAs(t, "nats://"+addr, "acme", srv.credentials("acme"), nats.ReconnectWait(50*time.Millisecond))
		v, err := verifier.New(ctx, verifier.Config{
			Issuer: testIssuer, Audience: testIssuer, JWKSURL: mint.jwks.URL, NATS: nc, StaleAfter: staleAfter, Introspection: intro,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(v.Close)
		return v
	}
	strict := start(nil)
	fallback := start(&verifier.Introspection{URL: in.srv.URL, ClientID: "rs", ClientSecret: "s3cret/+"})

	tok, jti := mint.token(t)
	for name, v := range map[string]*verifier.Verifier{"strict": strict, "fallback": fallback} {
		if _, err := v.Verify(tok); err != nil {
			t.Fatalf("%s verifier with a live feed: %v", name, err)
		}
		if h := v.Health(); !h.Live || h.Introspecting {
			t.Fatalf("%s verifier with a live feed: health %+v", name, h)
		}
	}
	// A live feed keeps itself proven current (checks every StaleAfter/3).
	time.Sleep(2 * staleAfter)
	if _, err := strict.Verify(tok); err != nil {
		t.Fatalf("after %s of a live feed: %v", 2*staleAfter, err)
	}
	in.mu.Lock()
	if in.calls != 0 {
		t.Fatalf("introspection was asked %d times while the feed was live", in.calls)
	}
	in.mu.Unlock()

	// The NATS server stops under the running verifiers.
	stopped := time.Now()
	srv.stop()
	took := eventually(t, staleAfter+time.Second, "the strict verifier refusing with ErrStale", func() bool {
		_, err := strict.Verify(tok)
		return errors.Is(err, verifier.ErrStale)
	})
	t.Logf("tokens refused %s after the NATS server stopped (StaleAfter %s)", took, staleAfter)
	if errors.Is(verifier.ErrStale, verifier.ErrInvalid) {
		t.Error("ErrStale wraps ErrInvalid: a resource server would answer 401 instead of 503")
	}
	if h := strict.Health(); h.Live || h.Introspecting || h.SyncedAt.After(stopped) {
		t.Errorf("strict verifier's health with a stale feed: %+v", h)
	}
	eventually(t, staleAfter+time.Second, "the fallback verifier introspecting", func() bool {
		h := fallback.Health()
		return !h.Live && h.Introspecting
	})

	// The fallback asks introspection, token by token.
	if _, err := fallback.Verify(tok); err != nil {
		t.Fatalf("fallback verifier, active token: %v", err)
	}
	other, otherJTI := mint.token(t)
	in.mu.Lock()
	in.revoked[otherJTI] = true
	in.mu.Unlock()
	if _, err := fallback.Verify(other); !errors.Is(err, verifier.ErrRevoked) {
		t.Fatalf("fallback verifier, token introspection calls inactive: %v, want ErrRevoked", err)
	}
	in.mu.Lock()
	in.failing = true
	calls, auth := in.calls, in.auth
	in.mu.Unlock()
	if calls != 2 || auth != "rs:s3cret/+" {
		t.Errorf("introspection calls %d with credentials %q; want 2 with rs:s3cret/+", calls, auth)
	}
	if _, err := fallback.Verify(tok); !errors.Is(err, verifier.ErrStale) {
		t.Fatalf("fallback verifier, introspection failing: %v, want ErrStale", err)
	}
	// Forged tokens never reach introspection.
	if _, err := fallback.Verify(tok[:len(tok)-4] + "AAAA"); !errors.Is(err, verifier.ErrInvalid) {
		t.Fatalf("forged token while stale: %v", err)
	}

	// The server comes back; a rule written meanwhile reaches the
	// verifiers, which are live again.
	srv = startSecuredServer(t, dir, addr)
	rule := domain.RevocationRule{JTI: jti, ForgetAfter: time.Now().Add(time.Hour).Unix()}
	meta := eventstore.Meta{Actor: eventstore.ActorSystem, Time: time.Now()}
	if _, err := srv.store.AppendRevocation(ctx, "acme", domain.ClientRef("c1"), eventstore.AnyVersion, meta, domain.TokenRevoked{JTI: jti}, signRule(t, "acme", rule, "k1", mint.key)); err != nil {
		t.Fatal(err)
	}
	fresh, _ := mint.token(t)
	for name, v := range map[string]*verifier.Verifier{"strict": strict, "fallback": fallback} {
		eventually(t, 30*time.Second, name+" verifier refusing the token revoked while it was down", func() bool {
			_, err := v.Verify(tok)
			return errors.Is(err, verifier.ErrRevoked)
		})
		eventually(t, 30*time.Second, name+" verifier live again", func() bool { return v.Health().Live })
		if _, err := v.Verify(fresh); err != nil {
			t.Errorf("%s verifier, live again: %v", name, err)
		}
	}
}
