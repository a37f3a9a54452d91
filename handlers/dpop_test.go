package handlers_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms/dpop"
)

// serviceClient is a realm-wide service client holding the management
// scope; dpopOnly says dpop_bound_access_tokens.
func (w *world) serviceClient(dpopOnly bool) (id, secret string) {
	return w.client(domain.ClientSettings{
		Name: "svc", Kind: domain.KindService, Scopes: []string{domain.ScopeManagement, "read"}, DPoPBoundAccessTokens: dpopOnly,
	})
}

func (w *world) tokenURL() string { return w.endpoint("/protocol/openid-connect/token") }

// credentials asks for a client-credentials token with a DPoP proof
// ("" for none).
func (w *world) credentials(id, secret, proof string) answer {
	w.t.Helper()
	set := basicAuth(id, secret)
	if proof != "" {
		set = both(set, header(proof))
	}
	return w.post(w.tokenURL(), url.Values{"grant_type": {"client_credentials"}}, set)
}

// dpopAuth presents a bound token with a proof of p for the request.
func dpopAuth(p *prover, method, u, token string) func(*http.Request) {
	proof := p.proof(method, u, func(c *dpop.ProofClaims) { c.ATH = domain.AccessTokenHash(token) })
	return func(r *http.Request) {
		r.Header.Set("Authorization", "DPoP "+token)
		r.Header.Set("DPoP", proof)
	}
}

func bearer(token string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

// wantChallenge fails unless a is a 401 whose WWW-Authenticate is a DPoP
// challenge with error code.
func wantChallenge(t *testing.T, what string, a answer, code string) {
	t.Helper()
	h := a.header.Get("WWW-Authenticate")
	if a.status != http.StatusUnauthorized || !strings.HasPrefix(h, "DPoP ") || !strings.Contains(h, `error="`+code+`"`) || !strings.Contains(h, `algs="ES256 RS256 EdDSA Ed25519"`) {
		t.Fatalf("%s: %d WWW-Authenticate %q %s, want 401 DPoP error=%q", what, a.status, h, a.body, code)
	}
}

// A token request with a proof (ES256, RS256 or EdDSA) gets a DPoP token
// bound to the proof's key (cnf.jkt; introspection says so too) and a
// nonce to use next. The admin API takes that token only as
// Authorization: DPoP with a fresh proof of the same key naming the token
// (ath): as Bearer, without a proof, or with another key's, it is 401 with
// a DPoP challenge.
func TestDPoPBoundTokensAtTheAdminAPI(t *testing.T) {
	w := newWorld(t)
	svc, secret := w.serviceClient(false)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	for name, p := range map[string]*prover{"ES256": w.prover(nil), "RS256": w.prover(rsaKey), "EdDSA": w.prover(edKey)} {
		a := w.credentials(svc, secret, p.proof(http.MethodPost, w.tokenURL(), nil))
		if a.status != http.StatusOK || a.str(t, "token_type") != "DPoP" || a.header.Get("DPoP-Nonce") == "" {
			t.Fatalf("%s: token with a proof: %d %s (DPoP-Nonce %q)", name, a.status, a.body, a.header.Get("DPoP-Nonce"))
		}
		if cnf, _ := claimsOf(t, a.str(t, "access_token"))["cnf"].(map[string]any); cnf["jkt"] != p.JKT() {
			t.Fatalf("%s: cnf %v, want jkt %s", name, cnf, p.JKT())
		}
	}

	p := w.prover(nil)
	tok := w.credentials(svc, secret, p.proof(http.MethodPost, w.tokenURL(), nil)).str(t, "access_token")
	in := w.post(w.endpoint("/protocol/openid-connect/token/introspect"), url.Values{"token": {tok}}, basicAuth(svc, secret)).json(t)
	if cnf, _ := in["cnf"].(map[string]any); in["active"] != true || in["token_type"] != "DPoP" || cnf["jkt"] != p.JKT() {
		t.Fatalf("introspection of a DPoP token: %v", in)
	}

	admin := w.base + "/admin/realms/acme"
	if a := w.get(admin, dpopAuth(p, http.MethodGet, admin, tok)); a.status != http.StatusOK {
		t.Fatalf("admin API with the token and a proof: %d %s", a.status, a.body)
	}
	wantChallenge(t, "the DPoP token as Bearer", w.get(admin, bearer(tok)), domain.ErrInvalidToken)
	wantChallenge(t, "the DPoP token without a proof", w.get(admin, func(r *http.Request) { r.Header.Set("Authorization", "DPoP "+tok) }), domain.ErrInvalidDPoPProof)
	wantChallenge(t, "a proof of another key", w.get(admin, dpopAuth(w.prover(nil), http.MethodGet, admin, tok)), domain.ErrInvalidToken)
	wantChallenge(t, "a proof for another URL", w.get(admin, dpopAuth(p, http.MethodGet, admin+"/clients", tok)), domain.ErrInvalidDPoPProof)
	noATH := p.proof(http.MethodGet, admin, nil)
	wantChallenge(t, "a proof without ath", w.get(admin, func(r *http.Request) {
		r.Header.Set("Authorization", "DPoP "+tok)
		r.Header.Set("DPoP", noATH)
	}), domain.ErrInvalidDPoPProof)

	// A bearer token is not taken under the DPoP scheme either.
	plain := w.credentials(svc, secret, "")
	if plain.str(t, "token_type") != "Bearer" {
		t.Fatalf("a token without a proof: %s", plain.body)
	}
	if a := w.get(admin, dpopAuth(p, http.MethodGet, admin, plain.str(t, "access_token"))); a.status != http.StatusUnauthorized {
		t.Fatalf("a bearer token sent as DPoP: %d %s", a.status, a.body)
	}
}

// Every proof the token endpoint refuses is 400 invalid_dpop_proof, and
// no token is issued: a proof used before (on any replica: the jti is
// spent on the shared store), one naming another URL or method, one whose
// htu carries a query, a stale or future iat, two proofs, a proof signed
// by another key than its header's. A client that says
// dpop_bound_access_tokens gets no token without a proof.
func TestDPoPProofRefusalsAtTheTokenEndpoint(t *testing.T) {
	w := newWorld(t)
	svc, secret := w.serviceClient(false)
	p := w.prover(nil)
	used := p.proof(http.MethodPost, w.tokenURL(), nil)
	if a := w.credentials(svc, secret, used); a.status != http.StatusOK {
		t.Fatalf("first use of a proof: %d %s", a.status, a.body)
	}
	other := w.prover(nil)
	forged := strings.Split(p.proof(http.MethodPost, w.tokenURL(), nil), ".")
	forged[2] = strings.Split(other.proof(http.MethodPost, w.tokenURL(), nil), ".")[2]
	for what, proof := range map[string]string{
		"a replayed proof":    used,
		"another htu":         p.proof(http.MethodPost, w.endpoint("/protocol/openid-connect/userinfo"), nil),
		"another host in htu": p.proof(http.MethodPost, strings.Replace(w.tokenURL(), "127.0.0.1", "localhost", 1), nil),
		"htu with a query":    p.proof(http.MethodPost, w.tokenURL()+"?x=1", nil),
		"htm GET":             p.proof(http.MethodGet, w.tokenURL(), nil),
		"a stale iat": p.proof(http.MethodPost, w.tokenURL(), func(c *dpop.ProofClaims) {
			c.IAT = w.clock.now().Add(-2 * time.Minute).Unix()
		}),
		"a future iat": p.proof(http.MethodPost, w.tokenURL(), func(c *dpop.ProofClaims) {
			c.IAT = w.clock.now().Add(time.Minute).Unix()
		}),
		"no jti":           p.proof(http.MethodPost, w.tokenURL(), func(c *dpop.ProofClaims) { c.JTI = "" }),
		"a forged proof":   strings.Join(forged, "."),
		"not a JWT at all": "not-a-proof",
	} {
		wantError(t, what, w.credentials(svc, secret, proof), http.StatusBadRequest, domain.ErrInvalidDPoPProof)
	}
	two := w.post(w.tokenURL(), url.Values{"grant_type": {"client_credentials"}}, both(basicAuth(svc, secret), func(r *http.Request) {
		r.Header.Add("DPoP", p.proof(http.MethodPost, w.tokenURL(), nil))
		r.Header.Add("DPoP", p.proof(http.MethodPost, w.tokenURL(), nil))
	}))
	wantError(t, "two proofs", two, http.StatusBadRequest, domain.ErrInvalidDPoPProof)

	bound, boundSecret := w.client(domain.ClientSettings{Name: "bound", Kind: domain.KindService, Scopes: []string{"read"}, DPoPBoundAccessTokens: true})
	wantError(t, "a dpop_bound_access_tokens client without a proof", w.credentials(bound, boundSecret, ""), http.StatusBadRequest, domain.ErrInvalidDPoPProof)
	if a := w.credentials(bound, boundSecret, p.proof(http.MethodPost, w.tokenURL(), nil)); a.status != http.StatusOK || a.str(t, "token_type") != "DPoP" {
		t.Fatalf("a dpop_bound_access_tokens client with a proof: %d %s", a.status, a.body)
	}
}

// With server nonces on, a proof without one is 400 use_dpop_nonce with
// a DPoP-Nonce to use; the retry with it gets the token. A nonce the
// server never gave, or one given minutes ago, is refused the same way.
func TestDPoPNonceChallenge(t *testing.T) {
	w := newWorld(t)
	w.settings(func(s *domain.RealmSettings) { s.RequireDPoPNonce = true })
	svc, secret := w.serviceClient(false)
	p := w.prover(nil)
	first := w.credentials(svc, secret, p.proof(http.MethodPost, w.tokenURL(), nil))
	wantError(t, "a proof without a nonce", first, http.StatusBadRequest, domain.ErrUseDPoPNonce)
	nonce := first.header.Get("DPoP-Nonce")
	if nonce == "" {
		t.Fatal("use_dpop_nonce without a DPoP-Nonce header")
	}
	withNonce := func(n string) string {
		return p.proof(http.MethodPost, w.tokenURL(), func(c *dpop.ProofClaims) { c.Nonce = n })
	}
	if a := w.credentials(svc, secret, withNonce(nonce)); a.status != http.StatusOK || a.str(t, "token_type") != "DPoP" {
		t.Fatalf("the retry with the nonce: %d %s", a.status, a.body)
	}
	wantError(t, "a made-up nonce", w.credentials(svc, secret, withNonce("bm90LWEtbm9uY2UtZnJvbS10aGUtc2VydmVy")), http.StatusBadRequest, domain.ErrUseDPoPNonce)
	w.clock.advance(3 * time.Minute)
	wantError(t, "a nonce of 3 minutes ago", w.credentials(svc, secret, withNonce(nonce)), http.StatusBadRequest, domain.ErrUseDPoPNonce)
	meta := w.get(w.endpoint("/.well-known/openid-configuration"), nil).json(t)
	if algs, _ := json.Marshal(meta["dpop_signing_alg_values_supported"]); string(algs) != `["ES256","RS256","EdDSA","Ed25519"]` {
		t.Fatalf("discovery dpop_signing_alg_values_supported %s", algs)
	}
}

// A public client's device-flow tokens with a proof: the access token is
// DPoP-bound and userinfo takes it only as DPoP with a proof of its key;
// the refresh token is bound to the key too, so it is worthless without
// it (and the grant stays usable with it).
func TestDPoPBindsPublicClientsTokensAndUserinfo(t *testing.T) {
	w := newWorld(t)
	cli := w.deviceClient()
	p := w.prover(nil)
	d := w.startDevice(cli, nil)
	if done := w.browser().enterCode(d.userCode, "approve"); done.status != http.StatusOK {
		t.Fatalf("approve: %d %s", done.status, done.body)
	}
	a := w.poll(cli, d.deviceCode, header(p.proof(http.MethodPost, w.tokenURL(), nil)))
	if a.status != http.StatusOK || a.str(t, "token_type") != "DPoP" {
		t.Fatalf("device tokens with a proof: %d %s", a.status, a.body)
	}
	tok, refresh := a.str(t, "access_token"), a.str(t, "refresh_token")

	ui := w.endpoint("/protocol/openid-connect/userinfo")
	if a := w.get(ui, dpopAuth(p, http.MethodGet, ui, tok)); a.status != http.StatusOK || a.str(t, "sub") == "" {
		t.Fatalf("userinfo with the DPoP token and a proof: %d %s", a.status, a.body)
	}
	wantChallenge(t, "userinfo with the DPoP token as Bearer", w.get(ui, bearer(tok)), domain.ErrInvalidToken)
	wantChallenge(t, "userinfo with another key's proof", w.get(ui, dpopAuth(w.prover(nil), http.MethodGet, ui, tok)), domain.ErrInvalidToken)
	wantChallenge(t, "userinfo with a proof for POST", w.get(ui, dpopAuth(p, http.MethodPost, ui, tok)), domain.ErrInvalidDPoPProof)
	replay := dpopAuth(p, http.MethodGet, ui, tok)
	w.get(ui, replay)
	wantChallenge(t, "userinfo with a replayed proof", w.get(ui, replay), domain.ErrInvalidDPoPProof)

	refreshWith := func(proof string) answer {
		var set func(*http.Request)
		if proof != "" {
			set = header(proof)
		}
		return w.post(w.tokenURL(), url.Values{"grant_type": {"refresh_token"}, "client_id": {cli}, "refresh_token": {refresh}}, set)
	}
	wantError(t, "the bound refresh token without a proof", refreshWith(""), http.StatusBadRequest, domain.ErrInvalidGrant)
	wantError(t, "the bound refresh token with another key", refreshWith(w.prover(nil).proof(http.MethodPost, w.tokenURL(), nil)), http.StatusBadRequest, domain.ErrInvalidGrant)
	if a := refreshWith(p.proof(http.MethodPost, w.tokenURL(), nil)); a.status != http.StatusOK || a.str(t, "token_type") != "DPoP" {
		t.Fatalf("the bound refresh token with its key: %d %s", a.status, a.body)
	}
}

// dpop_jkt on the authorization request (and a proof sent with a pushed
// request) binds the code to a key: redeemed without a proof of it, the
// code is refused (and spent); with one, the tokens are bound to it.
func TestDPoPJKTBindsTheCode(t *testing.T) {
	w := newWorld(t)
	web, secret := w.webClient(false)
	p := w.prover(nil)
	redeem := func(code, proof string) answer {
		set := basicAuth(web, secret)
		if proof != "" {
			set = both(set, header(proof))
		}
		return w.post(w.tokenURL(), url.Values{
			"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webRedirect}, "code_verifier": {pkceVerifier},
		}, set)
	}
	req := codeRequest(web)
	req.Set("dpop_jkt", p.JKT())
	code := w.browser().authorizeWith(req).Get("code")
	wantError(t, "a dpop_jkt code without a proof", redeem(code, ""), http.StatusBadRequest, domain.ErrInvalidGrant)
	wantError(t, "the same code then with the proof", redeem(code, p.proof(http.MethodPost, w.tokenURL(), nil)), http.StatusBadRequest, domain.ErrInvalidGrant)

	code = w.browser().authorizeWith(req).Get("code")
	wantError(t, "a dpop_jkt code with another key", redeem(code, w.prover(nil).proof(http.MethodPost, w.tokenURL(), nil)), http.StatusBadRequest, domain.ErrInvalidGrant)
	code = w.browser().authorizeWith(req).Get("code")
	if a := redeem(code, p.proof(http.MethodPost, w.tokenURL(), nil)); a.status != http.StatusOK || a.str(t, "token_type") != "DPoP" {
		t.Fatalf("a dpop_jkt code with its key: %d %s", a.status, a.body)
	}

	parURL := w.endpoint("/protocol/openid-connect/ext/par/request")
	pushed := w.push(codeRequest(web), both(basicAuth(web, secret), header(p.proof(http.MethodPost, parURL, nil))))
	if pushed.status != http.StatusCreated || pushed.header.Get("DPoP-Nonce") == "" {
		t.Fatalf("a push with a proof: %d %s", pushed.status, pushed.body)
	}
	code = w.browser().authorizeWith(url.Values{"client_id": {web}, "request_uri": {pushed.str(t, "request_uri")}}).Get("code")
	wantError(t, "the code of a push with a proof, redeemed without one", redeem(code, ""), http.StatusBadRequest, domain.ErrInvalidGrant)
}
