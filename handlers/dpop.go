package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

// DPoP (RFC 9449) on the HTTP side: the proof a request carries in its
// DPoP header, the nonce the token and pushed-request endpoints give, and
// how a protected endpoint (userinfo, the admin API) takes a bound token.
// The rules are the realm's (realms.Tokens.CheckProof).

// headerDPoP and headerDPoPNonce are RFC 9449's headers.
const (
	headerDPoP      = "DPoP"
	headerDPoPNonce = "DPoP-Nonce"
)

// endpointURL is the URL of the realm endpoint a request reached, as the
// realm's issuer names it (on a host the realm claims, or under
// /realms/<realm>): what a DPoP proof's htu and an assertion's audience
// name.
func endpointURL(c echo.Context, rl *realms.Realm) string {
	return rl.Issuer() + strings.TrimPrefix(c.Request().URL.EscapedPath(), "/realms/"+rl.Name)
}

// tokenProof checks the DPoP proof of a request to an endpoint that binds
// what it issues (token, pushed requests): it returns the key's thumbprint
// ("" without a proof). Every answer to a request that carried a proof
// carries a fresh nonce (DPoP-Nonce), which the client sends in its next
// proof, and must when the realm requires nonces (use_dpop_nonce).
func (a *api) tokenProof(c echo.Context, rl *realms.Realm) (string, error) {
	proofs := c.Request().Header.Values(headerDPoP)
	if len(proofs) == 0 {
		return "", nil
	}
	tokens := rl.Tokens()
	c.Response().Header().Set(headerDPoPNonce, tokens.DPoPNonce(a.now()))
	return tokens.CheckProof(c.Request().Context(), realms.ProofRequest{
		Headers: proofs, Method: c.Request().Method, URL: endpointURL(c, rl), Nonces: true,
	}, a.now())
}

// presented is the access token a request to a protected endpoint
// carries, and whether it came under the DPoP scheme.
type presented struct {
	token string
	dpop  bool
}

// presentedToken reads Authorization: Bearer <token> or DPoP <token>
// (RFC 6750 §2.1, RFC 9449 §7.1); ok is false for anything else.
func presentedToken(c echo.Context) (presented, bool) {
	scheme, raw, _ := strings.Cut(c.Request().Header.Get(echo.HeaderAuthorization), " ")
	raw = strings.TrimSpace(raw)
	switch {
	case raw == "":
		return presented{}, false
	case strings.EqualFold(scheme, "Bearer"):
		return presented{token: raw}, true
	case strings.EqualFold(scheme, "DPoP"):
		return presented{token: raw, dpop: true}, true
	}
	return presented{}, false
}

// errBoundAsBearer and errNotBound refuse a token under the wrong scheme.
var (
	errBoundAsBearer = errors.New("this access token is DPoP-bound: send it as Authorization: DPoP, with a DPoP proof")
	errNotBound      = errors.New("this access token is not DPoP-bound: send it as Authorization: Bearer")
	errKeyMismatch   = errors.New("the DPoP proof's key is not the key the access token is bound to")
)

// checkBinding checks how an active token, bound to the DPoP key bound
// ("" for none), was presented to a protected
// endpoint at url: a bound token only under the DPoP scheme, with a proof
// of its key for this request (ath naming the token); an unbound one only
// as Bearer. The refusal is a challenge of the scheme the token needs.
func (a *api) checkBinding(c echo.Context, rl *realms.Realm, bound string, p presented, url, protection, scope string) error {
	refuse := func(code, desc string) error {
		return &bearerError{realm: protection, scope: scope, status: http.StatusUnauthorized, code: code, desc: desc, dpop: bound != ""}
	}
	switch {
	case bound != "" && !p.dpop:
		return refuse(domain.ErrInvalidToken, errBoundAsBearer.Error())
	case bound == "" && p.dpop:
		return refuse(domain.ErrInvalidToken, errNotBound.Error())
	case bound == "":
		return nil
	}
	jkt, err := rl.Tokens().CheckProof(c.Request().Context(), realms.ProofRequest{
		Headers: c.Request().Header.Values(headerDPoP), Method: c.Request().Method, URL: url, AccessToken: p.token,
	}, a.now())
	var oerr *domain.OAuthError
	switch {
	case errors.As(err, &oerr):
		return refuse(oerr.Code, oerr.Description)
	case err != nil:
		return err
	case jkt == "":
		return refuse(domain.ErrInvalidDPoPProof, "a DPoP proof is required with a DPoP-bound access token")
	case jkt != bound:
		return refuse(domain.ErrInvalidToken, errKeyMismatch.Error())
	}
	return nil
}

// tokenType is an introspected or issued token's token_type.
func tokenType(jkt string) string {
	if jkt != "" {
		return domain.TokenTypeDPoP
	}
	return domain.TokenTypeBearer
}
