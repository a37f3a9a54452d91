package realms

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/realms/dpop"
)

// DPoP proofs (RFC 9449) at the realm's own endpoints: the token and
// pushed-authorization endpoints, where the realm binds what it issues to
// the proof's key, and userinfo and the admin API, where a bound token
// comes with a proof. A proof is checked once per request, before any
// command: its jti is spent on the store every replica shares, so the
// command deciding again after a lost race must not check it again.

// ProofRequest is what a request presents of DPoP and what a proof must be
// for.
type ProofRequest struct {
	// Headers are the request's DPoP header fields; at most one.
	Headers []string
	// Method and URL are the request's (htm, htu); URL is the endpoint as
	// the realm's issuer names it.
	Method, URL string
	// AccessToken is the token a proof at a protected resource comes with
	// (ath); empty at the token endpoint.
	AccessToken string
	// Nonces: the endpoint gives nonces (DPoP-Nonce). A proof must carry
	// one the realm gave when the realm requires it, and any nonce a
	// proof carries must be one.
	Nonces bool
}

// CheckProof checks a request's DPoP proof at now and spends its jti; it
// returns the thumbprint of the proof's key, or "" when the request sent
// none. A proof that does not hold is invalid_dpop_proof; one without a
// fresh nonce where one is needed, use_dpop_nonce (then DPoPNonce gives
// one).
func (ts Tokens) CheckProof(ctx context.Context, pr ProofRequest, now time.Time) (string, error) {
	switch len(pr.Headers) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", &domain.OAuthError{Code: domain.ErrInvalidDPoPProof, Description: "send one DPoP proof, not several"}
	}
	p, err := dpop.Parse(pr.Headers[0])
	if err != nil {
		return "", err
	}
	if oerr := domain.CheckDPoPProof(p, domain.DPoPTarget{Method: pr.Method, URL: pr.URL, AccessToken: pr.AccessToken}, now); oerr != nil {
		return "", oerr
	}
	if pr.Nonces && (p.Nonce != "" || ts.rl.Settings().RequireDPoPNonce) && !ts.nonceValid(p.Nonce, now) {
		return "", &domain.OAuthError{Code: domain.ErrUseDPoPNonce, Description: "the DPoP proof must carry the nonce of the DPoP-Nonce header"}
	}
	err = ts.rl.reg.store.SpendDPoPProof(ctx, ts.rl.Name, p.JKT, p.JTI)
	if errors.Is(err, eventstore.ErrProofReplayed) {
		return "", &domain.OAuthError{Code: domain.ErrInvalidDPoPProof, Description: "the DPoP proof was used before: make a fresh one for each request"}
	}
	if err != nil {
		return "", err
	}
	return p.JKT, nil
}

// Server-provided nonces (RFC 9449 §8) are made, not stored: a nonce is
// the time window it was made in and a MAC of the realm and that window
// under a key derived from the master key, so any replica accepts any
// replica's nonce, and none has to remember one. A nonce is good in its
// window and the next.
const dpopNonceWindow = 60 // seconds

// DPoPNonce is the nonce to give a client at now (the DPoP-Nonce header).
func (ts Tokens) DPoPNonce(now time.Time) string {
	return ts.nonceOf(now.Unix() / dpopNonceWindow)
}

func (ts Tokens) nonceOf(window int64) string {
	var b [24]byte
	binary.BigEndian.PutUint64(b[:8], uint64(window))
	mac := hmac.New(sha256.New, ts.rl.reg.keys.nonces)
	mac.Write([]byte(ts.rl.Name))
	mac.Write(b[:8])
	copy(b[8:], mac.Sum(nil))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// nonceValid reports whether a nonce is one the realm gave in this window
// or the one before.
func (ts Tokens) nonceValid(nonce string, now time.Time) bool {
	raw, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(raw) != 24 {
		return false
	}
	window := int64(binary.BigEndian.Uint64(raw[:8]))
	current := now.Unix() / dpopNonceWindow
	if window != current && window != current-1 {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(nonce), []byte(ts.nonceOf(window))) == 1
}
