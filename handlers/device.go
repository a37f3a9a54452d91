package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

// The device authorization grant (RFC 8628) on the HTTP side: the device
// asks for its codes at devicePath, the user enters the user code on the
// verification page (devicePage), signs in and answers the same consent
// page as the code flow; the device polls the token endpoint meanwhile.

// devicePath is the device authorization endpoint (Keycloak's path);
// verificationPath is the page where the user enters the code.
const (
	devicePath       = "/protocol/openid-connect/auth/device"
	verificationPath = "/device"
)

// deviceResponse is RFC 8628 §3.2's answer.
type deviceResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// deviceAuthorization is POST /realms/{realm}/protocol/openid-connect/auth/device:
// the client authenticates as at the token endpoint (a public client by
// its client_id), must hold the device grant, and asks for scope (and one
// resource, RFC 8707) as at the authorization endpoint.
func (a *api) deviceAuthorization(c echo.Context) error {
	rl, f, err := a.formRequest(c)
	if err != nil {
		return err
	}
	auth, err := clientAuth(c, rl, f, true)
	if err != nil {
		return err
	}
	var resources []string
	if r := f["resource"]; r != "" {
		resources = []string{r}
	}
	meta := realms.Meta{
		Actor: realms.ClientActor(auth.ClientID), ClientID: auth.ClientID,
		RequestID: requestID(c), IP: c.RealIP(), Via: via(c), Time: a.now(),
	}
	codes, err := rl.Devices().Authorize(c.Request().Context(), auth, f["scope"], resources, meta)
	if err != nil {
		return a.authFailure(c, rl, auth, err)
	}
	page := rl.Issuer() + verificationPath
	noStore(c)
	return c.JSON(http.StatusOK, deviceResponse{
		DeviceCode: codes.DeviceCode, UserCode: codes.UserCode, VerificationURI: page,
		VerificationURIComplete: page + "?user_code=" + codes.UserCode,
		ExpiresIn:               codes.ExpiresIn, Interval: codes.Interval,
	})
}

// devicePage is GET and POST /realms/{realm}/device, the verification
// page. GET shows the code form (filled in from user_code, the
// verification_uri_complete, which the user still confirms: a link alone
// never approves anything). POST takes the code (case, dashes and spaces
// do not matter; wrong codes are limited per address and per realm) and
// goes on as the code flow does: sign-in when needed, then the consent
// page, always shown for a device.
func (a *api) devicePage(c echo.Context) error {
	rl, err := a.pageRealm(c)
	if err != nil {
		return err
	}
	p, err := pageSingleParams(c, rl.Name)
	if err != nil {
		return err
	}
	if c.Request().Method != http.MethodPost {
		return a.codeForm(c, rl, p["user_code"], "")
	}
	sent := a.sentBrowserID(c)
	if sent == "" || !a.reg.CSRF().Valid(p["csrf"], deviceBinding(rl.Name, sent), a.now()) || !fromOwnOrigin(c, rl.PageOrigins()) {
		return csrfRefused(rl.Name)
	}
	d, err := rl.Devices().ByUserCode(c.Request().Context(), p["user_code"], c.RealIP(), a.now())
	var lerr *domain.LimitError
	switch {
	case errors.As(err, &lerr):
		return &pageError{status: http.StatusTooManyRequests, realm: rl.Name, retryAfter: lerr.RetryAfter,
			message: "Too many wrong codes: try again in " + waitText(lerr.RetryAfter) + "."}
	case errors.Is(err, realms.ErrUserCodeUnknown):
		return a.codeForm(c, rl, p["user_code"], err.Error())
	case err != nil:
		return err
	}
	client, err := rl.Clients().Get(d.ClientID)
	if err != nil || !client.Enabled() {
		return errorPage(http.StatusBadRequest, rl.Name, "This application can no longer sign you in.")
	}
	code, _ := domain.NormalizeUserCode(p["user_code"])
	pending := realms.Pending{
		Request: domain.AuthRequest{ClientID: d.ClientID, Scope: d.Scope, Resources: d.Resources, MaxAge: -1},
		Scopes:  strings.Fields(d.Scope), CSRF: sent, FlowID: randomToken(),
		DeviceID: d.ID, UserCode: domain.FormatUserCode(code),
	}
	session, user, signedIn := rl.Sessions().Lookup(cookieValue(c, sessionCookie), a.now().Unix())
	if !signedIn {
		sealed, err := rl.Grants().SealPending(pending, a.now())
		if err != nil {
			return err
		}
		return render(c, http.StatusOK, "login.html", page{
			Title: "Sign in", Realm: rl.Name, ClientName: client.Name,
			Action: "/realms/" + rl.Name + "/login-actions/authenticate", Pending: sealed,
		})
	}
	return a.consentStep(c, rl, client, user, session, pending, http.StatusSeeOther)
}

// codeForm shows the verification page's form, with a CSRF token bound to
// this browser, the code as typed and what was wrong with it.
func (a *api) codeForm(c echo.Context, rl *realms.Realm, typed, problem string) error {
	csrf := a.reg.CSRF().Token(deviceBinding(rl.Name, a.browserID(c, rl.Name)), a.now().Add(realms.BrowserIDLifetime))
	return render(c, http.StatusOK, "device.html", page{
		Title: "Connect a device", Realm: rl.Name, Error: problem, UserCode: typed, Pending: csrf,
		Action: "/realms/" + rl.Name + verificationPath,
	})
}

// deviceBinding binds a code form to the realm and browser.
func deviceBinding(realm, browserID string) string { return "device:" + realm + ":" + browserID }

// answerDevice records the user's answer to a device authorization on the
// consent page and ends the flow in the browser: the device learns the
// answer from its next poll.
func (a *api) answerDevice(c echo.Context, rl *realms.Realm, client *domain.Client, user *domain.User, s *domain.Session, p realms.Pending, action string, teams []string) error {
	meta := a.browserMeta(c, user.ID)
	meta.ClientID = client.ID
	devices := rl.Devices()
	var err error
	if action == "deny" {
		err = devices.Deny(c.Request().Context(), p.DeviceID, user, meta)
	} else {
		err = devices.Approve(c.Request().Context(), p.DeviceID, user, s, p.Scopes, teams, meta)
	}
	if errors.Is(err, domain.ErrDeviceAnswered) {
		return errorPage(http.StatusConflict, rl.Name, "This code was already used, or has expired: start again on your device.")
	}
	if err != nil {
		return err
	}
	if action == "deny" {
		return render(c, http.StatusOK, "message.html", page{Title: "Access denied", Realm: rl.Name,
			Message: client.Name + " was not given access. You may return to your device."})
	}
	return render(c, http.StatusOK, "message.html", page{Title: "Device connected", Realm: rl.Name,
		Message: client.Name + " has access now. You may return to your device."})
}
