package handlers

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/mileusna/useragent"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

// pendingForm is a login or consent form post: its fields and the sealed
// request it carries.
type pendingForm struct {
	fields  map[string]string
	teams   []string
	pending realms.Pending
	sealed  string
}

// readPendingForm reads a login or consent form post of rl, checked against
// the browser id its CSRF cookie carries (csrf.go).
func (a *api) readPendingForm(c echo.Context, rl *realms.Realm) (pendingForm, error) {
	var pf pendingForm
	values, err := pageParams(c, rl.Name)
	if err != nil {
		return pf, err
	}
	pf.teams = values["team"]
	delete(values, "team")
	f, repeated := singleValues(values)
	if repeated != "" {
		return pf, errorPage(http.StatusBadRequest, rl.Name, "The form repeats "+repeated+".")
	}
	pf.fields, pf.sealed = f, f["req"]
	if pf.pending, err = rl.Grants().OpenPending(pf.sealed, a.now()); err != nil {
		return pf, errorPage(http.StatusBadRequest, rl.Name, err.Error())
	}
	if id := a.sentBrowserID(c); id == "" || subtle.ConstantTimeCompare([]byte(id), []byte(pf.pending.CSRF)) != 1 || !fromOwnOrigin(c, rl.PageOrigins()) {
		return pf, csrfRefused(rl.Name)
	}
	// A form of a request already answered (the back button, a replay)
	// gets no second code, session or answer.
	if pf.pending.FlowID != "" && rl.Grants().FlowCompleted(pf.pending.FlowID) {
		return pf, flowDone(rl)
	}
	return pf, nil
}

// flowDone is the answer to a form of an authorization request that has
// already been given its code: 409.
func flowDone(rl *realms.Realm) error {
	return errorPage(http.StatusConflict, rl.Name, "This sign-in is already complete; start again from the application.")
}

// isFlowDone reports whether err is flowDone's.
func isFlowDone(err error) bool {
	var pe *pageError
	return errors.As(err, &pe) && pe.status == http.StatusConflict
}

// browserMeta is the metadata of an action done in the browser: no OAuth
// client is involved in signing in.
func (a *api) browserMeta(c echo.Context, userID string) realms.Meta {
	actor := realms.ActorSystem
	if userID != "" {
		actor = realms.UserActor(userID)
	}
	return realms.Meta{Actor: actor, RequestID: requestID(c), IP: c.RealIP(), Time: a.now()}
}

// signIn is POST /realms/{realm}/login-actions/authenticate. Wrong
// username and wrong password give the same message; repeated failures
// slow down, then lock the username for a while, and the page says so.
func (a *api) signIn(c echo.Context) error {
	rl, err := a.pageRealm(c)
	if err != nil {
		return err
	}
	pf, err := a.readPendingForm(c, rl)
	if err != nil {
		return err
	}
	f, p, sealed := pf.fields, pf.pending, pf.sealed
	client, err := rl.Clients().Get(p.Request.ClientID)
	if err != nil || !client.Enabled() {
		return errorPage(http.StatusBadRequest, rl.Name, "This application can no longer sign you in.")
	}
	res, err := rl.Users().SignIn(c.Request().Context(), realms.SignInRequest{
		Username: f["username"], Password: f["password"], Source: c.RealIP(), Device: cookieValue(c, deviceCookie),
	}, a.browserMeta(c, ""))
	if err != nil {
		return limitPage(rl.Name, err)
	}
	if res.Wait > 0 {
		select {
		case <-time.After(res.Wait):
		case <-c.Request().Context().Done():
			return nil
		}
	}
	if res.User == nil {
		msg := "Invalid username or password."
		if !res.LockedUntil.IsZero() {
			msg = "Too many failed sign-ins: this account is locked until " + res.LockedUntil.UTC().Format("15:04 MST") + "."
		}
		return render(c, http.StatusOK, "login.html", page{
			Title: "Sign in", Realm: rl.Name, ClientName: client.Name, Username: f["username"], Error: msg,
			Action: "/realms/" + rl.Name + "/login-actions/authenticate", Pending: sealed,
		})
	}
	a.setCookie(c, rl.Name, deviceCookie, res.Device, int(realms.DeviceLifetime/time.Second))
	ua := useragent.Parse(c.Request().UserAgent())
	device := ua.OS
	if ua.Device != "" {
		device = ua.Device + " (" + ua.OS + ")"
	}
	// The browser's earlier session, if any (someone else's, or this
	// user's before a fresh sign-in), ends: one browser, one session.
	if old, oldUser, ok := rl.Sessions().Lookup(cookieValue(c, sessionCookie), a.now().Unix()); ok {
		if err := rl.Sessions().End(c.Request().Context(), old.SessionID, "signed in again", a.browserMeta(c, oldUser.ID)); err != nil {
			return err
		}
	}
	cookie, session, err := rl.Sessions().Create(c.Request().Context(), res.User,
		realms.BrowserInfo{Device: device, Browser: strings.TrimSpace(ua.Name + " " + ua.Version), IP: c.RealIP()},
		a.browserMeta(c, res.User.ID))
	if err != nil {
		return err
	}
	// The cookie goes out with the answer unless that answer is that the
	// same form, sent again at the same moment, completed the request
	// first: then this sign-in's session ends, and the browser keeps the
	// winner's.
	c.Response().Before(func() {
		if c.Response().Status != http.StatusConflict {
			a.setCookie(c, rl.Name, sessionCookie, cookie, domain.UISessionLifetime)
		}
	})
	err = a.consentStep(c, rl, client, res.User, session, p, http.StatusSeeOther)
	if isFlowDone(err) {
		meta := a.browserMeta(c, res.User.ID)
		if err := rl.Sessions().End(context.WithoutCancel(c.Request().Context()), session.SessionID, "sign-in form sent twice", meta); err != nil {
			a.log.Warn("session of a sign-in form sent twice not ended", "realm", rl.Name, "request_id", meta.RequestID, "err", err)
		}
	}
	return err
}

// limitPage answers a sign-in the limits refuse before any form can be
// shown (an address or the realm over its limit: 429; no capacity for the
// password check: 503) with the error page and Retry-After.
func limitPage(realm string, err error) error {
	var lerr *domain.LimitError
	if !errors.As(err, &lerr) {
		return err
	}
	pe := &pageError{status: http.StatusTooManyRequests, realm: realm, retryAfter: lerr.RetryAfter,
		message: "Too many failed sign-ins: try again in " + waitText(lerr.RetryAfter) + "."}
	if lerr.Busy {
		pe.status, pe.message = http.StatusServiceUnavailable, "The server is busy: try again in a moment."
	}
	return pe
}

// waitText says a wait in seconds in words.
func waitText(s int64) string {
	if s < 120 {
		return strconv.FormatInt(s, 10) + " seconds"
	}
	return strconv.FormatInt((s+59)/60, 10) + " minutes"
}

// consentStep issues the code at once when a remembered consent covers the
// request (and prompt=consent does not ask again); otherwise it shows the
// consent page, or answers consent_required for prompt=none. A device's
// request (RFC 8628) always shows the page: the user code may have come
// from someone else (§5.4), and only the user's own answer approves it.
func (a *api) consentStep(c echo.Context, rl *realms.Realm, client *domain.Client, user *domain.User, s *domain.Session, p realms.Pending, status int) error {
	p.Scopes = domain.AllowedScopes(p.Scopes, client.AllScopes())
	if client.ID == domain.ConsoleClientID {
		// The console built into Latchkey is first-party: signing in to it
		// asks for no consent (and remembers none).
		return a.issueCode(c, rl, client, user, s, p, []string{}, status)
	}
	prompts := strings.Fields(p.Request.Prompt)
	selectable := rl.Users().SelectableTeams(user, client)
	remembered, ok := rl.Users().RememberedConsent(user, client)
	if p.DeviceID == "" && ok && domain.ConsentReusable(remembered, client, p.Scopes, p.Request.Resources, p.Request.RedirectURI) && !slices.Contains(prompts, "consent") &&
		domain.CheckTeamChoice(remembered.Teams, selectable, client.TeamSelection) == nil {
		return a.issueCode(c, rl, client, user, s, p, remembered.Teams, status)
	}
	if slices.Contains(prompts, "none") {
		return redirectTo(c, status, p.Request.RedirectURI, url.Values{
			"error": {"consent_required"}, "error_description": {"the user has not consented"}, "state": {p.Request.State}, "iss": {rl.Issuer()},
		})
	}
	catalog := rl.Structure().Scopes()
	lines := make([]scopeLine, 0, len(p.Scopes))
	for _, sc := range p.Scopes {
		lines = append(lines, scopeLine{Name: sc, Description: catalog.Describe(sc)})
	}
	name := user.DisplayName
	if name == "" {
		name = user.Username
	}
	p.ShownTo, p.ShownPreset = user.ID, client.AccessPreset
	sealed, err := rl.Grants().SealPending(p, a.now())
	if err != nil {
		return err
	}
	var targets []scopeLine
	for _, id := range p.Request.Resources {
		if r, ok := rl.Resources().Lookup(id); ok {
			targets = append(targets, scopeLine{Name: r.Name, Description: r.Identifier})
		}
	}
	return render(c, http.StatusOK, "consent.html", page{
		Title: "Allow access", Realm: rl.Name, ClientName: client.Name, ClientHost: documentHost(client), Username: name,
		Action: "/realms/" + rl.Name + "/login-actions/consent", Pending: sealed, Resources: targets,
		Preset: client.AccessPreset, Scopes: lines, Teams: selectable, Multiple: client.TeamSelection == domain.TeamsMultiple,
		UserCode: p.UserCode,
	})
}

// documentHost is the host of a client known by its metadata document:
// the one thing about it that is verified (its name is what it says of
// itself), so the consent page names it first. "" for other clients.
func documentHost(c *domain.Client) string {
	if c.Source != domain.SourceMetadataDocument {
		return ""
	}
	u, err := url.Parse(c.ID)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// consent is POST /realms/{realm}/login-actions/consent: allow (a code) or
// deny (access_denied), always answered with a 303 to the redirect URI;
// for a device's request, the answer is recorded and a page says so.
func (a *api) consent(c echo.Context) error {
	rl, err := a.pageRealm(c)
	if err != nil {
		return err
	}
	pf, err := a.readPendingForm(c, rl)
	if err != nil {
		return err
	}
	f, teams, p := pf.fields, pf.teams, pf.pending
	session, user, ok := rl.Sessions().Lookup(cookieValue(c, sessionCookie), a.now().Unix())
	if !ok || (p.SignInAfterMs > 0 && session.SignedInMs <= p.SignInAfterMs) {
		return errorPage(http.StatusForbidden, rl.Name, "Please sign in again; start again from the application.")
	}
	client, err := rl.Clients().Get(p.Request.ClientID)
	if err != nil || !client.Enabled() {
		return errorPage(http.StatusBadRequest, rl.Name, "This application can no longer sign you in.")
	}
	back := func(code, desc string) error {
		if p.DeviceID != "" {
			return errorPage(http.StatusBadRequest, rl.Name, "This answer cannot be taken ("+code+"): "+desc+".")
		}
		return redirectTo(c, http.StatusSeeOther, p.Request.RedirectURI, url.Values{
			"error": {code}, "error_description": {errorText(desc)}, "state": {p.Request.State}, "iss": {rl.Issuer()},
		})
	}
	switch f["action"] {
	case "deny":
		if p.DeviceID != "" {
			return a.answerDevice(c, rl, client, user, session, p, "deny", nil)
		}
		return back("access_denied", "the user denied access")
	case "approve":
	default:
		return errorPage(http.StatusBadRequest, rl.Name, "Choose Allow or Deny.")
	}
	if p.ShownTo != user.ID || p.ShownPreset != client.AccessPreset {
		// The page named another user (someone else signed in in this
		// browser since), or described other access (the client's preset
		// changed since): ask again with what holds now.
		return a.consentStep(c, rl, client, user, session, p, http.StatusSeeOther)
	}
	selectable := rl.Users().SelectableTeams(user, client)
	if oerr := domain.CheckTeamChoice(teams, selectable, client.TeamSelection); oerr != nil {
		return back(oerr.Code, oerr.Description)
	}
	if teams == nil {
		teams = []string{}
	}
	// A scope the client lost while the page was open is not granted.
	p.Scopes = domain.AllowedScopes(p.Scopes, client.AllScopes())
	consent := domain.Consent{Scopes: p.Scopes, Teams: teams, Preset: client.AccessPreset, Resources: p.Request.Resources}
	if err := rl.Users().GrantConsent(c.Request().Context(), user.ID, client.ID, consent, a.browserMeta(c, user.ID)); err != nil {
		return err
	}
	if p.DeviceID != "" {
		return a.answerDevice(c, rl, client, user, session, p, "approve", teams)
	}
	return a.issueCode(c, rl, client, user, session, p, teams, http.StatusSeeOther)
}

// issueCode records an authorization code and sends the browser back to the
// client with code, state and iss.
func (a *api) issueCode(c echo.Context, rl *realms.Realm, client *domain.Client, user *domain.User, s *domain.Session, p realms.Pending, teams []string, status int) error {
	// The redirect URI was checked when the flow began; an administrator
	// may have removed it since (a compromised one): no code goes there.
	if problem := domain.CheckAuthTarget(client, p.Request.RedirectURI); problem != "" {
		return errorPage(http.StatusBadRequest, rl.Name, "This application's sign-in request is no longer valid: "+problem+".")
	}
	meta := a.browserMeta(c, user.ID)
	meta.ClientID = client.ID
	rl.Sessions().Touch(s, meta)
	code, err := rl.Grants().IssueCode(c.Request().Context(), domain.CodeIssued{
		ClientID: client.ID, UserID: user.ID, RedirectURI: p.Request.RedirectURI, Scope: strings.Join(p.Scopes, " "),
		Challenge: p.Request.CodeChallenge, Nonce: p.Request.Nonce, AuthTime: sessionAuthTime(s),
		Teams: teams, SessionID: s.SessionID, FlowID: p.FlowID, Resources: p.Request.Resources, DPoPJKT: p.Request.DPoPJKT,
	}, meta)
	if errors.Is(err, realms.ErrFlowCompleted) {
		return flowDone(rl) // another answer to the same request won
	}
	if err != nil {
		return err
	}
	return redirectTo(c, status, p.Request.RedirectURI, url.Values{"code": {code}, "state": {p.Request.State}, "iss": {rl.Issuer()}})
}
