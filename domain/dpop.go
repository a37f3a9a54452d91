package domain

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
	"time"
)

// DPoP (RFC 9449): a client proves, with every token request and every use
// of a token, that it holds a private key; the tokens it gets are bound to
// that key (cnf.jkt, the key's RFC 7638 thumbprint), so a stolen token is
// worthless without the key. A proof is a JWT the client signs, its public
// key in the header; its signature is checked where the keys are
// (realms/dpop), these are the rules for what it claims.

// DPoP error codes (RFC 9449 §12.2) and token types.
const (
	ErrInvalidDPoPProof = "invalid_dpop_proof"
	ErrUseDPoPNonce     = "use_dpop_nonce"

	TokenTypeBearer = "Bearer"
	TokenTypeDPoP   = "DPoP"

	// DPoPProofType is the typ of a proof's header.
	DPoPProofType = "dpop+jwt"
)

// Bounds of DPoP proofs: a proof is accepted for DPoPProofLifetime after
// its iat, and up to DPoPLeeway before it (the client's clock may be
// ahead). Its jti is remembered as spent for DPoPReplayWindow, longer than
// any proof is accepted.
const (
	DPoPProofLifetime = 60 * time.Second
	DPoPLeeway        = 10 * time.Second
	DPoPReplayWindow  = DPoPProofLifetime + 2*DPoPLeeway
)

// DPoPAlgs are the algorithms a proof may be signed with. Ed25519 is
// EdDSA with the curve named (RFC 9864), the name oauth4webapi and
// openid-client sign Ed25519 proofs with; EdDSA stays for older clients.
var DPoPAlgs = []string{AlgES256, AlgRS256, "EdDSA", "Ed25519"}

// DPoPProof is what a proof says: its header's typ and alg, the
// thumbprint of its header's key, and its claims.
type DPoPProof struct {
	Typ, Alg string
	// JKT is the base64url SHA-256 JWK thumbprint (RFC 7638) of the key
	// that signed it.
	JKT                string
	JTI, HTM, HTU, ATH string
	Nonce              string
	IAT                int64
	HasIAT, HasATH     bool
}

// DPoPTarget is the request a proof must be for: its method and URL, and
// at a protected resource the access token it comes with.
type DPoPTarget struct {
	Method, URL string
	// AccessToken, when set, must be what ath hashes.
	AccessToken string
}

func dpopRefused(desc string) *OAuthError {
	return &OAuthError{Code: ErrInvalidDPoPProof, Description: desc}
}

// CheckDPoPProof applies RFC 9449 §4.3 to a proof whose signature verified:
// typ dpop+jwt, a supported alg, a jti, htm and htu naming this request
// (htu without query and fragment, compared after normalization), iat
// within the window at now, and ath the hash of the access token it comes
// with. Every refusal is invalid_dpop_proof. The nonce and the jti's single
// use are checked by the caller, which holds their state.
func CheckDPoPProof(p DPoPProof, t DPoPTarget, now time.Time) *OAuthError {
	switch {
	case p.Typ != DPoPProofType:
		return dpopRefused("the proof's typ must be dpop+jwt")
	case !slices.Contains(DPoPAlgs, p.Alg):
		return dpopRefused("the proof's alg must be one of " + strings.Join(DPoPAlgs, ", "))
	case p.JKT == "":
		return dpopRefused("the proof's header must carry its public key (jwk)")
	case p.JTI == "" || len(p.JTI) > maxJTILength:
		return dpopRefused("the proof needs a jti (at most 256 characters)")
	case p.HTM != t.Method:
		return dpopRefused("htm does not match the request's method " + t.Method)
	case !SameHTU(p.HTU, t.URL):
		return dpopRefused("htu does not match the request's URL " + t.URL)
	case !p.HasIAT:
		return dpopRefused("the proof needs an iat")
	case p.IAT > now.Add(DPoPLeeway).Unix():
		return dpopRefused("the proof's iat is in the future")
	case p.IAT < now.Add(-DPoPProofLifetime).Unix():
		return dpopRefused("the proof is too old: make a fresh one for each request")
	}
	if t.AccessToken != "" {
		if !p.HasATH || subtle.ConstantTimeCompare([]byte(p.ATH), []byte(AccessTokenHash(t.AccessToken))) != 1 {
			return dpopRefused("ath does not match the access token")
		}
	}
	return nil
}

// AccessTokenHash is a proof's ath for an access token: base64url SHA-256
// of its ASCII bytes.
func AccessTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// SameHTU reports whether a proof's htu names target: the same URI once
// query and fragment are dropped and both are normalized (RFC 3986 §6.2.2
// and §6.2.3: scheme and host in lower case, the scheme's default port
// dropped, an empty path as "/", percent-encoding as decoded). A proof
// whose htu carries a query or fragment does not match (RFC 9449 §4.2).
func SameHTU(htu, target string) bool {
	if htu == "" || strings.ContainsAny(htu, "?#") {
		return false
	}
	a, ok1 := normalHTU(htu)
	b, ok2 := normalHTU(target)
	return ok1 && ok2 && a == b
}

func normalHTU(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.User != nil {
		return "", false
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname())
	port := u.Port()
	if scheme == "https" && port == "443" || scheme == "http" && port == "80" {
		port = ""
	}
	if port != "" {
		host += ":" + port
	}
	path := u.Path
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path, true
}

// DPoPBindingProblem says why a proof's key cannot get a token for what
// was authorized, or "": a code bound at authorization (dpop_jkt) is
// redeemed only with that key, and a public client's refresh token only
// with the key it was issued for (RFC 9449 §5, §10). bound is the
// thumbprint the code or grant holds ("" for none), jkt the proof's (""
// for a request without a proof).
func DPoPBindingProblem(bound, jkt string) string {
	switch {
	case bound == "":
		return ""
	case jkt == "":
		return "this grant is bound to a DPoP key: send a DPoP proof made with it"
	case bound != jkt:
		return "the DPoP proof's key is not the key this grant is bound to"
	}
	return ""
}

// DPoPRequired says why a token request must carry a proof, or "": a
// client whose metadata says dpop_bound_access_tokens gets only bound
// tokens (RFC 9449 §5.2).
func DPoPRequired(c *Client, jkt string) *OAuthError {
	if c.DPoPBoundAccessTokens && jkt == "" {
		return &OAuthError{Code: ErrInvalidDPoPProof, Description: "this client's tokens are DPoP-bound: send a DPoP proof"}
	}
	return nil
}
