package verifier

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms/dpop"
)

// DPoP-bound access tokens (RFC 9449) at a resource server. A token whose
// cnf claim names a key thumbprint (jkt) is worthless without that key:
// the client presents it as "Authorization: DPoP <token>" with a DPoP
// header holding a proof, a JWT it signed with the key for this one
// request (its method and URL, the token's hash, a fresh jti). Proofs are
// read by realms/dpop and judged by domain.CheckDPoPProof, the rules the
// token endpoint applies too.
//
// A proof's jti is remembered as spent in this process's memory only: a
// resource server run as several replicas accepts a proof replayed to
// another replica within its short lifetime (60 s past its iat). The token
// endpoint spends jtis in the store every Latchkey replica shares.

// Errors of DPoP-bound tokens; both wrap ErrInvalid.
var (
	// ErrDPoPProof: the proof is missing, malformed, signed with an
	// unsupported algorithm, made for another request or token, too old or
	// already used (invalid_dpop_proof).
	ErrDPoPProof = fmt.Errorf("%w: invalid DPoP proof", ErrInvalid)
	// ErrDPoPBinding: the token and the way it was presented disagree: a
	// DPoP-bound token sent as Bearer, an unbound one sent as DPoP, or a
	// proof made with another key than the token's (invalid_token).
	ErrDPoPBinding = fmt.Errorf("%w: DPoP key binding", ErrInvalid)
)

// DPoPRequest is a request that presented its access token under the DPoP
// scheme.
type DPoPRequest struct {
	// Token is the access token of "Authorization: DPoP <token>".
	Token string
	// Proofs are the values of the request's DPoP headers; a request must
	// carry exactly one.
	Proofs []string
	// Method is the request's method; URL is the URL the client sent it
	// to, as clients name this server (its public URL, not the address it
	// listens on), query and fragment ignored: what the proof's htm and
	// htu must name.
	Method, URL string
}

// Confirmation is a token's cnf claim (RFC 7800): the thumbprint of the
// DPoP key it is bound to (RFC 9449 §6.1).
type Confirmation struct {
	JKT string `json:"jkt,omitempty"`
}

// VerifyDPoP checks a DPoP-bound token as Verify does, and its proof: one
// DPoP header, signed (ES256, RS256 or EdDSA) by the key cnf.jkt names,
// for this request's method and URL, issued within the last minute, its
// ath the token's hash, its jti not seen before by this verifier.
func (v *Verifier) VerifyDPoP(r DPoPRequest) (*Claims, error) {
	claims, err := v.parse(r.Token)
	if err != nil {
		return nil, err
	}
	if claims.Confirmation == nil || claims.Confirmation.JKT == "" {
		return nil, &dpopError{kind: ErrDPoPBinding, desc: "the access token is not DPoP-bound: send it as Authorization: Bearer"}
	}
	if len(r.Proofs) != 1 {
		return nil, &dpopError{kind: ErrDPoPProof, desc: "send exactly one DPoP header with a DPoP-bound access token"}
	}
	now := time.Now()
	proof, err := dpop.Parse(r.Proofs[0])
	if err != nil {
		return nil, proofRefused(err)
	}
	if problem := domain.CheckDPoPProof(proof, domain.DPoPTarget{Method: r.Method, URL: r.URL, AccessToken: r.Token}, now); problem != nil {
		return nil, proofRefused(problem)
	}
	if proof.JKT != claims.Confirmation.JKT {
		return nil, &dpopError{kind: ErrDPoPBinding, desc: "the DPoP proof's key is not the key the access token is bound to"}
	}
	// Spent last, once the proof is known good for this token: a refused
	// request does not use up a proof the client may still send.
	if !v.proofs.spend(proof.JKT+" "+proof.JTI, now) {
		return nil, &dpopError{kind: ErrDPoPProof, desc: "this DPoP proof was used before: make a fresh one for each request"}
	}
	if err := v.checkRevocation(r.Token, claims); err != nil {
		return nil, err
	}
	return claims, nil
}

// dpopError is a refusal of a DPoP-bound token: its kind (ErrDPoPProof or
// ErrDPoPBinding) and why, in words fit for a challenge's
// error_description.
type dpopError struct {
	kind error
	desc string
}

func (e *dpopError) Error() string { return e.kind.Error() + ": " + e.desc }
func (e *dpopError) Unwrap() error { return e.kind }

// proofRefused is ErrDPoPProof with the reason realms/dpop or the domain
// rules gave.
func proofRefused(err error) error {
	desc := "the DPoP proof cannot be read"
	var refusal *domain.OAuthError
	if errors.As(err, &refusal) {
		desc = refusal.Description
	}
	return &dpopError{kind: ErrDPoPProof, desc: desc}
}

// spentProofs remembers the proofs this verifier accepted (by key
// thumbprint and jti) for domain.DPoPReplayWindow, longer than a proof is
// accepted, and forgets them after it.
type spentProofs struct {
	mu    sync.Mutex
	until map[string]time.Time
	swept time.Time
}

func newSpentProofs() *spentProofs { return &spentProofs{until: map[string]time.Time{}} }

// spend records id as used at now, or reports false when it was already.
// Entries past their window are swept at most once per window, so memory
// stays bounded by the proofs of the last two windows.
func (s *spentProofs) spend(id string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.swept) > domain.DPoPReplayWindow {
		for k, until := range s.until {
			if now.After(until) {
				delete(s.until, k)
			}
		}
		s.swept = now
	}
	if until, seen := s.until[id]; seen && !now.After(until) {
		return false
	}
	s.until[id] = now.Add(domain.DPoPReplayWindow)
	return true
}
