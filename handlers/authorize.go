package handlers

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

// authorize is GET or POST /realms/{realm}/protocol/openid-connect/auth
// (OIDC Core §3.1.2.1: a POST carries the parameters as a form, and is
// answered with a 303 to the same request as a GET). Requests
// whose client or redirect URI cannot be trusted (unreadable, or either
// one repeated) get an error page; every other error goes back to the
// redirect URI with error, state and iss (RFC 9207).
func (a *api) authorize(c echo.Context) error {
	rl, err := a.pageRealm(c)
	if err != nil {
		return err
	}
	params, err := authParams(c, rl.Name)
	if err != nil {
		return err
	}
	if c.Request().Method == http.MethodPost {
		// The same request as a GET: browsers do not send SameSite=Lax
		// cookies with a cross-site POST, so answering it here would miss
		// the session (no single sign-on, prompt=none failing) and replace
		// the browser's CSRF cookie under its open forms. The top-level
		// GET that follows carries them.
		c.Response().Header().Set("Cache-Control", "no-store")
		return c.Redirect(http.StatusSeeOther, "/realms/"+rl.Name+"/protocol/openid-connect/auth?"+params.Encode())
	}
	// A pushed request (RFC 9126) stands for the whole request: its
	// request_uri is traded for the parameters pushed, once.
	pushed := params.Has("request_uri")
	if pushed {
		if params, err = a.pushedParams(c, rl, params); err != nil {
			return err
		}
	}
	for _, k := range []string{"client_id", "redirect_uri"} {
		if len(params[k]) > 1 {
			return errorPage(http.StatusBadRequest, rl.Name, "The request repeats "+k+".")
		}
	}
	// resource may be repeated (RFC 8707 §2): the user authorizes access
	// to each; every token is then minted for one of them.
	resources := params["resource"]
	delete(params, "resource")
	q, repeated := singleValues(params)
	clientID, redirectURI := params.Get("client_id"), params.Get("redirect_uri")
	client, err := rl.Clients().Resolve(c.Request().Context(), clientID, a.browserMeta(c, ""))
	var oerr *domain.OAuthError
	if errors.As(err, &oerr) {
		// A metadata document that cannot be fetched or read: nothing of
		// the request can be trusted, so nothing is redirected.
		return errorPage(http.StatusBadRequest, rl.Name, "This application cannot sign you in: "+oerr.Description+".")
	}
	if err != nil && !errors.Is(err, domain.ErrNotFound) {
		return err
	}
	if problem := domain.CheckAuthTarget(client, redirectURI); problem != "" {
		return errorPage(http.StatusBadRequest, rl.Name, "This application's sign-in request is invalid: "+problem+".")
	}
	if problem := domain.CheckResponseMode(params.Get("response_mode")); problem != "" {
		return errorPage(http.StatusBadRequest, rl.Name, "This application's sign-in request is invalid (invalid_request): "+problem+".")
	}
	back := func(e *domain.OAuthError) error {
		return redirectTo(c, http.StatusFound, redirectURI, url.Values{
			"error": {e.Code}, "error_description": {errorText(e.Description)}, "state": {params.Get("state")}, "iss": {rl.Issuer()},
		})
	}
	if repeated != "" {
		return back(&domain.OAuthError{Code: domain.ErrInvalidRequest, Description: "parameter " + repeated + " is repeated"})
	}
	if !pushed && domain.PARRequired(client, rl.Settings()) {
		return back(&domain.OAuthError{Code: domain.ErrInvalidRequest, Description: "this client must push its authorization requests first (PAR, RFC 9126) and send request_uri"})
	}
	req, scopes, oerr := authRequestOf(rl, client, q, resources)
	if oerr != nil {
		return back(oerr)
	}
	prompts := strings.Fields(req.Prompt)
	// One browser id per browser, kept across tabs and requests; the forms
	// of this request are bound to it.
	csrf := a.browserID(c, rl.Name)
	now := a.now().Unix()
	session, user, signedIn := rl.Sessions().Lookup(cookieValue(c, sessionCookie), now)
	// max_age=0 is prompt=login (OIDC Core §3.1.2.1): within the same
	// second as the sign-in, elapsed time alone would not ask again.
	tooOld := signedIn && (req.MaxAge == 0 || req.MaxAge > 0 && now-sessionAuthTime(session) > req.MaxAge)
	pending := realms.Pending{Request: req, Scopes: scopes, CSRF: csrf, FlowID: randomToken()}
	if tooOld || slices.Contains(prompts, "login") {
		pending.SignInAfterMs = a.now().UnixMilli()
	}
	sealed, err := rl.Grants().SealPending(pending, a.now())
	if err != nil {
		return err
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
	return a.consentStep(c, rl, client, user, session, pending, http.StatusFound)
}

// authRequestOf reads the parameters of an authorization request (each
// once; resource as often as sent) of a client whose redirect URI was
// checked, as the authorization and pushed-request endpoints both do: the
// request and the scopes it asks for, or the error to answer with.
func authRequestOf(rl *realms.Realm, client *domain.Client, q map[string]string, resources []string) (domain.AuthRequest, []string, *domain.OAuthError) {
	invalid := func(desc string) (domain.AuthRequest, []string, *domain.OAuthError) {
		return domain.AuthRequest{}, nil, &domain.OAuthError{Code: domain.ErrInvalidRequest, Description: desc}
	}
	// The request is kept (sealed, as JSON) until the user has answered:
	// a value that is not UTF-8 could not come back exactly as sent.
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if !utf8.ValidString(q[k]) {
			return invalid("parameter " + k + " is not valid UTF-8")
		}
	}
	// Request objects (OIDC Core §6) are not supported; ignoring them
	// would let the unsigned outer parameters stand in for signed ones.
	if _, ok := q["request"]; ok {
		return domain.AuthRequest{}, nil, &domain.OAuthError{Code: "request_not_supported", Description: "request objects are not supported"}
	}
	if _, ok := q["request_uri"]; ok {
		return invalid("request_uri names a pushed request; it cannot be part of one")
	}
	req := domain.AuthRequest{
		ClientID: q["client_id"], RedirectURI: q["redirect_uri"], ResponseType: q["response_type"],
		Scope: q["scope"], State: q["state"], Nonce: q["nonce"], Prompt: q["prompt"],
		LoginHint: q["login_hint"], CodeChallenge: q["code_challenge"],
		CodeChallengeMethod: q["code_challenge_method"], MaxAge: -1, DPoPJKT: q["dpop_jkt"],
	}
	if s := q["max_age"]; s != "" {
		var err error
		if req.MaxAge, err = strconv.ParseInt(s, 10, 64); err != nil || req.MaxAge < 0 {
			return invalid("max_age must be a non-negative integer")
		}
	}
	scopes, oerr := domain.CheckAuthRequest(client, req, rl.Settings().RequirePKCE)
	if oerr != nil {
		return domain.AuthRequest{}, nil, oerr
	}
	targets, err := rl.Resources().Resolve(resources)
	if errors.As(err, &oerr) {
		return domain.AuthRequest{}, nil, oerr
	}
	if scopes, oerr = domain.FitScopesToResources(scopes, strings.Trim(req.Scope, " ") != "", targets); oerr != nil {
		return domain.AuthRequest{}, nil, oerr
	}
	for _, t := range targets {
		req.Resources = append(req.Resources, t.Identifier)
	}
	prompts := strings.Fields(req.Prompt)
	if slices.Contains(prompts, "none") && len(prompts) > 1 {
		return invalid("prompt=none cannot be combined with other values")
	}
	return req, scopes, nil
}

// pushedParams trades an authorization request's request_uri (with its
// client_id, RFC 9126 §4) for the parameters pushed with it. A request_uri
// that is unknown, another client's, used or expired is the error page:
// nothing of the request can be trusted, so nothing is redirected.
func (a *api) pushedParams(c echo.Context, rl *realms.Realm, params url.Values) (url.Values, error) {
	if len(params["request_uri"]) > 1 || len(params["client_id"]) != 1 {
		return nil, errorPage(http.StatusBadRequest, rl.Name, "This application's sign-in request is invalid: send request_uri once, with client_id.")
	}
	pushed, jkt, err := rl.Grants().UsePushed(c.Request().Context(), params.Get("client_id"), params.Get("request_uri"), a.browserMeta(c, ""))
	var oerr *domain.OAuthError
	if errors.As(err, &oerr) {
		return nil, errorPage(http.StatusBadRequest, rl.Name, "This application's sign-in request is invalid ("+oerr.Code+"): "+oerr.Description+".")
	}
	if err != nil {
		return nil, err
	}
	out := url.Values(pushed)
	if jkt != "" {
		out.Set("dpop_jkt", jkt)
	}
	return out, nil
}

// authParams reads an authorization request of realm: the query of a GET,
// the form body of a POST. A request that cannot be read is the error page
// (400); half a request is never used.
func authParams(c echo.Context, realm string) (url.Values, error) {
	problem := ""
	var params url.Values
	var err error
	if c.Request().Method != http.MethodPost {
		if params, err = url.ParseQuery(c.Request().URL.RawQuery); err != nil {
			problem = "The request could not be read: its query string is malformed."
		}
	} else {
		params, err = readFormBody(c)
		var oerr *domain.OAuthError
		switch {
		case errors.Is(err, errBodyTooLarge):
			problem = "The request is too large."
		case errors.As(err, &oerr):
			problem = "The request could not be read: " + oerr.Description + "."
		}
	}
	if problem != "" {
		return nil, errorPage(http.StatusBadRequest, realm, problem)
	}
	return params, nil
}

// sessionAuthTime is when the user signed in for this session.
func sessionAuthTime(s *domain.Session) int64 { return s.ExpiresAt - domain.UISessionLifetime }

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
