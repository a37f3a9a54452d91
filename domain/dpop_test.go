package domain

import (
	"strings"
	"testing"
	"time"
)

func TestCheckDPoPProof(t *testing.T) {
	const tokenURL = "https://id.example.com/realms/acme/protocol/openid-connect/token"
	good := DPoPProof{Typ: DPoPProofType, Alg: AlgES256, JKT: "jkt", JTI: "j1", HTM: "POST", HTU: tokenURL,
		IAT: t0.Unix(), HasIAT: true}
	target := DPoPTarget{Method: "POST", URL: tokenURL}
	withToken := DPoPTarget{Method: "GET", URL: "https://api.example.com/hello", AccessToken: "the-token"}
	atRS := good
	atRS.HTM, atRS.HTU, atRS.ATH, atRS.HasATH = "GET", "https://api.example.com/hello", AccessTokenHash("the-token"), true
	change := func(p DPoPProof, f func(*DPoPProof)) DPoPProof { f(&p); return p }
	for _, tc := range []struct {
		name   string
		proof  DPoPProof
		target DPoPTarget
		now    time.Time
		want   string // a word of the refusal; "" accepts
	}{
		{"a fresh proof for this request", good, target, t0, ""},
		{"iat a minute ago", good, target, at(DPoPProofLifetime), ""},
		{"iat a little ahead of the server's clock", good, target, at(-DPoPLeeway), ""},
		{"stale iat", good, target, at(DPoPProofLifetime + time.Second), "too old"},
		{"iat in the future", good, target, at(-DPoPLeeway - time.Second), "future"},
		{"no iat", change(good, func(p *DPoPProof) { p.HasIAT = false }), target, t0, "iat"},
		{"typ JWT", change(good, func(p *DPoPProof) { p.Typ = "JWT" }), target, t0, "typ"},
		{"alg HS256", change(good, func(p *DPoPProof) { p.Alg = "HS256" }), target, t0, "alg"},
		{"EdDSA", change(good, func(p *DPoPProof) { p.Alg = "EdDSA" }), target, t0, ""},
		{"Ed25519 (RFC 9864)", change(good, func(p *DPoPProof) { p.Alg = "Ed25519" }), target, t0, ""},
		{"RS256", change(good, func(p *DPoPProof) { p.Alg = AlgRS256 }), target, t0, ""},
		{"no key", change(good, func(p *DPoPProof) { p.JKT = "" }), target, t0, "jwk"},
		{"no jti", change(good, func(p *DPoPProof) { p.JTI = "" }), target, t0, "jti"},
		{"a jti too long", change(good, func(p *DPoPProof) { p.JTI = strings.Repeat("j", 257) }), target, t0, "jti"},
		{"wrong htm", change(good, func(p *DPoPProof) { p.HTM = "GET" }), target, t0, "htm"},
		{"htm in lower case", change(good, func(p *DPoPProof) { p.HTM = "post" }), target, t0, "htm"},
		{"wrong htu", change(good, func(p *DPoPProof) { p.HTU = "https://id.example.com/realms/acme/protocol/openid-connect/userinfo" }), target, t0, "htu"},
		{"htu of another host", change(good, func(p *DPoPProof) { p.HTU = strings.Replace(tokenURL, "id.example.com", "evil.example", 1) }), target, t0, "htu"},
		{"htu with a query", change(good, func(p *DPoPProof) { p.HTU = tokenURL + "?a=b" }), target, t0, "htu"},
		{"htu with a fragment", change(good, func(p *DPoPProof) { p.HTU = tokenURL + "#x" }), target, t0, "htu"},
		{"htu normalized: case and default port", change(good, func(p *DPoPProof) {
			p.HTU = "HTTPS://ID.example.com:443/realms/acme/protocol/openid-connect/token"
		}), target, t0, ""},
		{"at a resource, ath matches", atRS, withToken, t0, ""},
		{"at a resource, no ath", change(atRS, func(p *DPoPProof) { p.HasATH, p.ATH = false, "" }), withToken, t0, "ath"},
		{"at a resource, ath of another token", change(atRS, func(p *DPoPProof) { p.ATH = AccessTokenHash("another") }), withToken, t0, "ath"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckDPoPProof(tc.proof, tc.target, tc.now)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("accepted, want a refusal naming %q", tc.want)
			case err != nil && (err.Code != ErrInvalidDPoPProof || !strings.Contains(err.Description, tc.want)):
				t.Fatalf("refusal %v, want invalid_dpop_proof naming %q", err, tc.want)
			}
		})
	}
}

func TestSameHTU(t *testing.T) {
	for _, tc := range []struct {
		htu, target string
		same        bool
	}{
		{"https://a.example/x", "https://a.example/x", true},
		{"https://a.example/x", "https://a.example/x?q=1", true}, // the request's query is ignored
		{"https://a.example", "https://a.example/", true},
		{"http://a.example:80/x", "http://a.example/x", true},
		{"https://a.example:8443/x", "https://a.example/x", false},
		{"https://a.example/x/", "https://a.example/x", false},
		{"http://a.example/x", "https://a.example/x", false},
		{"https://a.example/%78", "https://a.example/x", true},
		{"https://user@a.example/x", "https://a.example/x", false},
		{"/x", "https://a.example/x", false},
		{"", "https://a.example/x", false},
	} {
		if got := SameHTU(tc.htu, tc.target); got != tc.same {
			t.Errorf("SameHTU(%q, %q) = %v, want %v", tc.htu, tc.target, got, tc.same)
		}
	}
}

func TestDPoPBindingProblem(t *testing.T) {
	for _, tc := range []struct {
		bound, jkt string
		ok         bool
	}{
		{"", "", true}, {"", "k1", true}, {"k1", "k1", true}, {"k1", "", false}, {"k1", "k2", false},
	} {
		if got := DPoPBindingProblem(tc.bound, tc.jkt) == ""; got != tc.ok {
			t.Errorf("bound %q, proof %q: ok = %v, want %v", tc.bound, tc.jkt, got, tc.ok)
		}
	}
	bound := &Client{ClientSettings: ClientSettings{DPoPBoundAccessTokens: true}}
	if DPoPRequired(bound, "") == nil || DPoPRequired(bound, "k1") != nil || DPoPRequired(&Client{}, "") != nil {
		t.Error("dpop_bound_access_tokens: a client that says so must send a proof; others need not")
	}
}

func TestCheckAuthRequestDPoPJKT(t *testing.T) {
	c := &Client{ClientSettings: ClientSettings{Type: ClientPublic, GrantTypes: []string{GrantAuthorizationCode}, Scopes: []string{"openid"}}}
	req := AuthRequest{ResponseType: "code", CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", CodeChallengeMethod: "S256"}
	req.DPoPJKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	if _, oerr := CheckAuthRequest(c, req, true); oerr != nil {
		t.Fatalf("a thumbprint refused: %v", oerr)
	}
	req.DPoPJKT = "not a thumbprint"
	if _, oerr := CheckAuthRequest(c, req, true); oerr == nil || !strings.Contains(oerr.Description, "dpop_jkt") {
		t.Fatalf("a malformed dpop_jkt: %v", oerr)
	}
}
