package handlers

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

// Realms: the list (every realm for master's administrators, else one's
// own), creating one, and a realm's own page: settings, signing keys, its
// console.

// realmRow is a realm in the list, with the first of its pages the user
// may open.
type realmRow struct {
	Name, Issuer, Href string
	Roles              []string
}

// realmsPage is the body of realms.html.
type realmsPage struct {
	Realms    []realmRow
	CanCreate bool
	Name      string // a name sent back with its error
}

// overviewPage is the body of realm.html.
type overviewPage struct {
	Issuer, Discovery string
	Settings          domain.RealmSettings
	Keys              []domain.SigningKey
	Console           *domain.Client
	Action            string
}

func (a *api) consoleRealmRoutes(g *echo.Group) {
	g.GET("/realms", a.consoleRealms)
	g.POST("/realms", a.consoleCreateRealm)
	r := g.Group("/realms/:realm", a.consoleArea(domain.AreaRealm))
	r.GET("", a.consoleRealmPage)
	r.GET("/", a.consoleRealmPage)
	r.POST("/settings", a.consoleRealmSettings)
	r.POST("/keys/rotate", a.consoleRotateKeys)
	r.POST("/console", a.consoleToggleConsole)
}

// consoleRealms is GET /console/{home}/realms.
func (a *api) consoleRealms(c echo.Context) error {
	return a.renderRealms(c, http.StatusOK, "", "")
}

func (a *api) renderRealms(c echo.Context, status int, name, problem string) error {
	cc := consoleOf(c)
	page := realmsPage{Name: name, CanCreate: cc.p.Realm == domain.MasterRealm && cc.p.can(domain.MasterRealm, domain.AreaRealm)}
	for _, rl := range a.reg.List() {
		if !cc.p.may(rl.Name) {
			continue
		}
		row := realmRow{Name: rl.Name, Issuer: rl.Issuer()}
		for _, s := range realmSections {
			if cc.p.can(rl.Name, s.area) {
				row.Href = consoleBase(cc.home.Name) + "/realms/" + rl.Name + s.page
				break
			}
		}
		page.Realms = append(page.Realms, row)
	}
	v := a.view(c, "Realms", "")
	v.Error, v.Data = problem, page
	return renderConsole(c, status, "realms.html", v)
}

// consoleCreateRealm is POST /console/{home}/realms (master's
// administrators).
func (a *api) consoleCreateRealm(c echo.Context) error {
	cc := consoleOf(c)
	if cc.p.Realm != domain.MasterRealm || !cc.p.can(domain.MasterRealm, domain.AreaRealm) {
		return forbidden("only realm master's administrators may create realms")
	}
	name := strings.TrimSpace(cc.form.Get("name"))
	rl, err := a.reg.Create(c.Request().Context(), name, cc.meta(c, a))
	if status, body, ok := a.formProblem(c, err); ok {
		return a.renderRealms(c, status, name, body)
	} else if err != nil {
		return err
	}
	return seeOther(c, consoleBase(cc.home.Name)+"/realms/"+rl.Name+"/?done=realm-created")
}

// consoleRealmPage is a realm's own page.
func (a *api) consoleRealmPage(c echo.Context) error {
	return a.renderRealmPage(c, http.StatusOK, "")
}

func (a *api) renderRealmPage(c echo.Context, status int, problem string) error {
	cc := consoleOf(c)
	rl := cc.realm
	page := overviewPage{
		Issuer: rl.Issuer(), Discovery: rl.Issuer() + "/.well-known/openid-configuration",
		Settings: rl.Settings(), Keys: rl.Keys().List(), Action: cc.realmPath(""),
	}
	if cl, err := rl.Clients().Get(domain.ConsoleClientID); err == nil {
		page.Console = cl
	}
	v := a.view(c, "Realm "+rl.Name, "overview")
	v.Error, v.Data = problem, page
	return renderConsole(c, status, "realm.html", v)
}

// consoleRealmSettings saves a realm's checkpoint, retention and PKCE
// settings; its other settings (hosts, compatibility, client defaults)
// stay as they are.
func (a *api) consoleRealmSettings(c echo.Context) error {
	cc := consoleOf(c)
	s := cc.realm.Settings()
	var bad []string
	num := func(name string) int64 {
		v := strings.TrimSpace(cc.form.Get(name))
		if v == "" {
			return 0
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			bad = append(bad, name+" must be a whole number")
		}
		return n
	}
	s.CheckpointEvery = int(num("checkpoint_every"))
	s.CheckpointInterval = num("checkpoint_interval")
	s.TokenRetention = num("token_retention")
	s.RequirePKCE = cc.form.Get("require_pkce") == "on"
	if len(bad) > 0 {
		return a.renderRealmPage(c, http.StatusBadRequest, strings.Join(bad, "; "))
	}
	err := cc.realm.UpdateSettings(c.Request().Context(), s, cc.meta(c, a))
	if status, msg, ok := a.formProblem(c, err); ok {
		return a.renderRealmPage(c, status, msg)
	} else if err != nil {
		return err
	}
	return seeOther(c, cc.realmPath("/?done=settings"))
}

// consoleRotateKeys rotates a realm's signing keys.
func (a *api) consoleRotateKeys(c echo.Context) error {
	cc := consoleOf(c)
	if err := cc.realm.Keys().Rotate(c.Request().Context(), cc.meta(c, a)); err != nil {
		return err
	}
	return seeOther(c, cc.realmPath("/?done=keys-rotated"))
}

// consoleToggleConsole disables or enables the realm's console client. The
// console of master stays on from here: turning it off would lock every
// administrator out of the console.
func (a *api) consoleToggleConsole(c echo.Context) error {
	cc := consoleOf(c)
	enable := cc.form.Get("status") == domain.StatusEnabled
	if !enable && cc.realm.Name == cc.home.Name {
		return a.renderRealmPage(c, http.StatusConflict, "This console is signed in through realm "+cc.realm.Name+": disable its console from another realm's console, or through the admin API.")
	}
	if _, err := cc.realm.Clients().SetEnabled(c.Request().Context(), domain.ConsoleClientID, realms.Condition{}, enable, cc.meta(c, a)); err != nil {
		return err
	}
	done := "console-disabled"
	if enable {
		done = "console-enabled"
	}
	return seeOther(c, cc.realmPath("/?done="+done))
}

// formProblem tells an error a form can show (the input was refused:
// 4xx) from a failure: for the former, its status and text.
func (a *api) formProblem(c echo.Context, err error) (int, string, bool) {
	if err == nil {
		return 0, "", false
	}
	status, body := errorAnswer(c, a.log, err)
	if status >= 500 || status == http.StatusForbidden {
		return 0, "", false
	}
	msg := body.Description
	if len(body.Details) > 1 {
		msg = strings.Join(body.Details, "; ")
	}
	return status, msg, true
}
