package handlers

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

// authorize is GET /realms/{realm}/protocol/openid-connect/auth. Requests
// whose client or redirect URI cannot be trusted get an error page; every
// other error goes back to the redirect URI with error, state and iss
// (RFC 9207).
func (a *api) authorize(c echo.Context) error {
	realmName := c.Param("realm")
	rl, err := a.reg.Get(c.Request().Context(), realmName)
	if err != nil {
		return errorPage(c, http.StatusNotFound, realmName, "This realm does not exist.")
	}
	q, repeated := singleValues(c.QueryParams())
	if repeated == "client_id" || repeated == "redirect_uri" {
		return errorPage(c, http.StatusBadRequest, rl.Name, "The request repeats "+repeated+".")
	}
	raw := c.QueryParams()
	req := domain.AuthRequest{
		ClientID: raw.Get("client_id"), RedirectURI: raw.Get("redirect_uri"), ResponseType: raw.Get("response_type"),
		Scope: raw.Get("scope"), State: raw.Get("state"), Nonce: raw.Get("nonce"), Prompt: raw.Get("prompt"),
		LoginHint: raw.Get("login_hint"), CodeChallenge: raw.Get("code_challenge"),
		CodeChallengeMethod: raw.Get("code_challenge_method"), MaxAge: -1,
	}
	client, _ := rl.Clients.Get(req.ClientID)
	if problem := domain.CheckAuthTarget(client, req.RedirectURI); problem != "" {
		return errorPage(c, http.StatusBadRequest, rl.Name, "This application's sign-in request is invalid: "+problem+".")
	}
	back := func(e *domain.OAuthError) error {
		return redirectTo(c, http.StatusFound, req.RedirectURI, url.Values{
			"error": {e.Code}, "error_description": {e.Description}, "state": {req.State}, "iss": {rl.Issuer},
		})
	}
	if repeated != "" {
		return back(&domain.OAuthError{Code: domain.ErrInvalidRequest, Description: "parameter " + repeated + " is repeated"})
	}
	if s := q["max_age"]; s != "" {
		if req.MaxAge, err = strconv.ParseInt(s, 10, 64); err != nil || req.MaxAge < 0 {
			return back(&domain.OAuthError{Code: domain.ErrInvalidRequest, Description: "max_age must be a non-negative integer"})
		}
	}
	scopes, oerr := domain.CheckAuthRequest(client, req)
	if oerr != nil {
		return back(oerr)
	}
	prompts := strings.Fields(req.Prompt)
	if slices.Contains(prompts, "none") && len(prompts) > 1 {
		return back(&domain.OAuthError{Code: domain.ErrInvalidRequest, Description: "prompt=none cannot be combined with other values"})
	}
	// One CSRF value per browser, kept across tabs and requests.
	csrf := cookieValue(c, csrfCookie)
	if len(csrf) < 32 {
		csrf = randomToken()
		a.setCookie(c, rl.Name, csrfCookie, csrf, 0)
	}
	now := a.now().Unix()
	session, user, signedIn := rl.LookupSession(cookieValue(c, sessionCookie), now)
	tooOld := signedIn && req.MaxAge >= 0 && now-sessionAuthTime(session) > req.MaxAge
	pending := realms.Pending{Request: req, Scopes: scopes, CSRF: csrf}
	if tooOld || slices.Contains(prompts, "login") {
		pending.SignInAfterMs = a.now().UnixMilli()
	}
	sealed, err := rl.SealPending(pending, a.now())
	if err != nil {
		return domainError(c, a.log, err)
	}
	if !signedIn || pending.SignInAfterMs > 0 {
		if slices.Contains(prompts, "none") {
			return back(&domain.OAuthError{Code: "login_required", Description: "the user must sign in"})
		}
		return render(c, http.StatusOK, "login.html", page{
			Title: "Sign in", Realm: rl.Name, ClientName: client.Name, Username: req.LoginHint,
			Action: "/realms/" + rl.Name + "/login-actions/authenticate", Pending: sealed,
		})
	}
	return a.consentStep(c, rl, client, user, session, sealed, pending, http.StatusFound)
}

// sessionAuthTime is when the user signed in for this session.
func sessionAuthTime(s *domain.Session) int64 { return s.ExpiresAt - domain.UISessionLifetime }

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
