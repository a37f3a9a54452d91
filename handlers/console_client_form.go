package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

// The create and edit form of an OAuth client, in the sections of
// Coralogix's drawer: details (name, "Require client secret"), client
// type, team access (selection, restrictions on the org/team tree),
// access preset, token settings (the refresh block only when on),
// redirect URIs (inline examples, each URI's problem). Warnings on
// lifetimes are shown as the values change (console.js) and whenever the
// server renders the form; a high-risk combination asks for confirmation.

// clientForm is the form's fields and what it shows around them.
type clientForm struct {
	ID, Name, Description string
	Version               uint64
	RequireSecret         bool
	Kind, TeamSelection   string
	TeamRestrictions      []string
	Preset                string
	Scopes                []string
	AccessValue           int64
	AccessUnit            string
	IssueRefresh          bool
	RefreshValue          int64
	RefreshUnit           string
	RedirectURIs          string
	// DeviceGrant, DPoPBound and RequirePAR are the device flow (RFC
	// 8628, user-authorized apps), DPoP-bound tokens (RFC 9449) and
	// pushed authorization requests (RFC 9126).
	DeviceGrant, DPoPBound, RequirePAR bool

	Editing      bool
	Type         string // fixed once created
	Teams        []nodeOption
	Catalog      []domain.ScopeEntry
	Warnings     []domain.Warning
	URIProblems  []string
	HighRisk     bool
	NeedsConfirm bool
	Stale        bool
	Action       string
	// Thresholds for console.js, from the domain's rules.
	WarnDays, HighDays, HighRiskSeconds int64
}

// nodeOption is a node of the tree, with its depth for indentation.
type nodeOption struct {
	Slug, Name, Kind string
	Depth            int
}

// units of lifetimes, in seconds.
var lifetimeUnits = map[string]int64{"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}

// splitLifetime shows seconds in the largest unit that divides them.
func splitLifetime(sec int64) (int64, string) {
	for _, u := range []string{"days", "hours", "minutes"} {
		if n := lifetimeUnits[u]; sec > 0 && sec%n == 0 {
			return sec / n, u
		}
	}
	return sec, "seconds"
}

// nodeTree lists the realm's nodes depth first, roots and children by
// slug; kinds, when given, keeps only those kinds (with their depth).
func nodeTree(rl *realms.Realm, kinds ...string) []nodeOption {
	children := map[string][]*domain.Node{}
	for _, n := range rl.Structure().Nodes() {
		children[n.Parent] = append(children[n.Parent], n)
	}
	var out []nodeOption
	var walk func(parent string, depth int)
	walk = func(parent string, depth int) {
		list := children[parent]
		slices.SortFunc(list, func(a, b *domain.Node) int { return strings.Compare(a.Slug, b.Slug) })
		for _, n := range list {
			if len(kinds) == 0 || slices.Contains(kinds, n.Kind) {
				out = append(out, nodeOption{Slug: n.Slug, Name: n.Name, Kind: n.Kind, Depth: depth})
			}
			walk(n.Slug, depth+1)
		}
	}
	walk("", 0)
	return out
}

// newClientForm is the form for settings s.
func (a *api) newClientForm(cc *consoleCtx, s domain.ClientSettings) *clientForm {
	f := &clientForm{
		Name: s.Name, Description: s.Description, RequireSecret: s.Type != domain.ClientPublic, Type: s.Type,
		Kind: s.Kind, TeamSelection: s.TeamSelection, TeamRestrictions: s.TeamRestrictions, Preset: s.AccessPreset,
		Scopes: s.Scopes, IssueRefresh: s.IssueRefreshTokens, RedirectURIs: strings.Join(s.RedirectURIs, "\n"),
		WarnDays: domain.RefreshWarningDays, HighDays: domain.RefreshHighDays, HighRiskSeconds: domain.HighRiskAccessLifetime,
		DeviceGrant: slices.Contains(s.GrantTypes, domain.GrantDeviceCode), DPoPBound: s.DPoPBoundAccessTokens, RequirePAR: s.RequirePAR,
	}
	f.AccessValue, f.AccessUnit = splitLifetime(s.AccessTokenLifetime)
	f.RefreshValue, f.RefreshUnit = splitLifetime(s.RefreshTokenLifetime)
	f.Teams = nodeTree(cc.realm, domain.NodeOrganization, domain.NodeTeam)
	for _, e := range cc.realm.Structure().Scopes().List() {
		// Scope management makes a client an administrator: offered only
		// to whoever administers the realm.
		if e.Name != domain.ScopeManagement || cc.p.can(cc.realm.Name, domain.AreaRealm) {
			f.Catalog = append(f.Catalog, e)
		}
	}
	n := s
	n.Normalize()
	f.Warnings, f.HighRisk = n.Warnings(), n.HighRisk()
	for _, u := range s.RedirectURIs {
		f.URIProblems = append(f.URIProblems, domain.InvalidRedirectURIs([]string{u})...)
	}
	return f
}

// defaultClientSettings are a new client's settings as the form first
// shows them: Coralogix's defaults (a user-authorized app, read-only, one
// team, 1 hour access tokens, refresh tokens off at 7 days).
func defaultClientSettings() domain.ClientSettings {
	s := domain.ClientSettings{Type: domain.ClientConfidential, Kind: domain.KindUserApp}
	s.Normalize()
	return s
}

// parseClientForm reads the form into settings, over base (a client's
// current settings when editing; its type never changes).
func parseClientForm(form url.Values, base domain.ClientSettings, editing bool) (domain.ClientSettings, error) {
	s := base
	s.Name = strings.TrimSpace(form.Get("name"))
	s.Description = strings.TrimSpace(strings.ReplaceAll(form.Get("description"), "\r\n", "\n"))
	if !editing {
		s.Type = domain.ClientPublic
		if form.Get("require_secret") == "on" {
			s.Type = domain.ClientConfidential
		}
		s.TokenEndpointAuthMethod = ""
	}
	s.Kind = form.Get("kind")
	s.TeamSelection = form.Get("team_selection")
	s.TeamRestrictions = nonNilStrings(form["team_restriction"])
	s.AccessPreset = form.Get("access_preset")
	s.Scopes = nonNilStrings(form["scope"])
	s.IssueRefreshTokens = form.Get("issue_refresh_tokens") == "on"
	s.GrantTypes = []string{domain.GrantClientCredentials}
	if s.Kind == domain.KindUserApp {
		s.GrantTypes = []string{domain.GrantAuthorizationCode}
		if s.IssueRefreshTokens {
			s.GrantTypes = append(s.GrantTypes, domain.GrantRefreshToken)
		}
		if form.Get("device_grant") == "on" {
			s.GrantTypes = append(s.GrantTypes, domain.GrantDeviceCode)
		}
	} else {
		s.IssueRefreshTokens = false
	}
	s.DPoPBoundAccessTokens = form.Get("dpop_bound_access_tokens") == "on"
	s.RequirePAR = s.Kind == domain.KindUserApp && form.Get("require_pushed_authorization_requests") == "on"
	s.RedirectURIs = []string{}
	for line := range strings.SplitSeq(form.Get("redirect_uris"), "\n") {
		if u := strings.TrimSpace(line); u != "" {
			s.RedirectURIs = append(s.RedirectURIs, u)
		}
	}
	var problems []string
	lifetime := func(field string) int64 {
		v, err := strconv.ParseInt(strings.TrimSpace(form.Get(field+"_value")), 10, 64)
		unit, ok := lifetimeUnits[form.Get(field+"_unit")]
		if err != nil || !ok || v <= 0 || v > 1<<40 {
			problems = append(problems, strings.ReplaceAll(field, "_", " ")+" must be a positive whole number of seconds, minutes, hours or days")
			return 0
		}
		return v * unit
	}
	s.AccessTokenLifetime = lifetime("access_token_lifetime")
	if s.IssueRefreshTokens {
		s.RefreshTokenLifetime = lifetime("refresh_token_lifetime")
	} else if s.RefreshTokenLifetime == 0 {
		s.RefreshTokenLifetime = domain.DefaultRefreshTokenLifetime // kept for when they are turned on
	}
	if len(problems) > 0 {
		return s, &domain.ValidationError{Field: "client", Message: strings.Join(problems, "; "), Details: problems}
	}
	return s, nil
}

// consoleNewClient is GET .../clients/new.
func (a *api) consoleNewClient(c echo.Context) error {
	cc := consoleOf(c)
	// The realm's client defaults (a compatibility profile's lifetimes,
	// refresh tokens on) show in the form as the values it starts with.
	s := cc.realm.Clients().WithDefaults(defaultClientSettings(), func(string) bool { return false })
	f := a.newClientForm(cc, s)
	f.Action = cc.realmPath("/clients")
	return a.renderClientForm(c, http.StatusOK, f, "")
}

func (a *api) renderClientForm(c echo.Context, status int, f *clientForm, problem string) error {
	title := "Create OAuth client"
	if f.Editing {
		title = "Edit OAuth client"
	}
	v := a.view(c, title, "clients")
	v.Error, v.Data = problem, f
	return renderConsole(c, status, "client_form.html", v)
}

// consoleCreateClient is POST .../clients: the new client's secret is
// shown once, on the answer.
func (a *api) consoleCreateClient(c echo.Context) error {
	cc := consoleOf(c)
	s, perr := parseClientForm(cc.form, domain.ClientSettings{}, false)
	f := a.newClientForm(cc, s)
	f.Action = cc.realmPath("/clients")
	if perr != nil {
		status, msg, _ := a.formProblem(c, perr)
		return a.renderClientForm(c, status, f, msg)
	}
	if err := cc.p.checkClientScopes(cc.realm.Name, s.AllScopes()); err != nil {
		return err
	}
	confirmed := cc.form.Get("confirm_high_risk") == "on"
	created, err := cc.realm.Clients().Create(c.Request().Context(), "", s, confirmed, cc.meta(c, a))
	if handled, perr := a.clientFormProblem(c, f, err); handled {
		return perr
	} else if err != nil {
		return err
	}
	return a.renderSecret(c, http.StatusCreated, "OAuth client created", created.Client, created.Secret, created.Warnings)
}

// clientFormProblem shows the form again for an error it can explain: a
// high-risk combination to confirm, a stale edit, refused settings.
func (a *api) clientFormProblem(c echo.Context, f *clientForm, err error) (bool, error) {
	var cerr *domain.ConflictError
	switch {
	case err == nil:
		return false, nil
	case errors.As(err, &cerr) && cerr.Code == domain.ErrConfirmationRequired:
		// The domain's reason (full access with long-lived tokens, a name
		// mixing lookalike scripts), without the API's way to confirm.
		reason, _, _ := strings.Cut(cerr.Message, `; send "confirm_high_risk"`)
		f.NeedsConfirm = true
		return true, a.renderClientForm(c, http.StatusConflict, f, reason+": confirm below to go ahead.")
	case errors.As(err, &cerr) && f.Editing:
		f.Stale = true
		return true, a.renderClientForm(c, http.StatusConflict, f, "Someone else saved this client after you opened it; your changes were not saved. Reload the client to see theirs, then edit again.")
	}
	status, msg, ok := a.formProblem(c, err)
	if !ok {
		return false, nil
	}
	return true, a.renderClientForm(c, status, f, msg)
}

// consoleEditClient is GET .../clients/{id}: the form with the client's
// settings, and the version it shows (an edit of an older version is
// refused, not merged).
func (a *api) consoleEditClient(c echo.Context) error {
	cc := consoleOf(c)
	cl, err := a.consoleClient(c)
	if err != nil {
		return err
	}
	return a.renderClientForm(c, http.StatusOK, a.editForm(cc, cl, cl.ClientSettings, cl.Version), "")
}

func (a *api) editForm(cc *consoleCtx, cl *domain.Client, s domain.ClientSettings, version uint64) *clientForm {
	f := a.newClientForm(cc, s)
	f.ID, f.Version, f.Editing, f.Type = cl.ID, version, true, cl.Type
	f.Action = cc.realmPath("/clients/" + cl.ID)
	return f
}

// consoleUpdateClient is POST .../clients/{id}.
func (a *api) consoleUpdateClient(c echo.Context) error {
	cc := consoleOf(c)
	cl, err := a.consoleClient(c)
	if err != nil {
		return err
	}
	version, _ := strconv.ParseUint(cc.form.Get("version"), 10, 64)
	s, perr := parseClientForm(cc.form, cl.ClientSettings, true)
	f := a.editForm(cc, cl, s, version)
	if perr != nil {
		status, msg, _ := a.formProblem(c, perr)
		return a.renderClientForm(c, status, f, msg)
	}
	if version == 0 {
		return badRequest("the form lacks the version it was read at")
	}
	if err := cc.p.checkClientScopes(cc.realm.Name, s.AllScopes()); err != nil {
		return err
	}
	confirmed := cc.form.Get("confirm_high_risk") == "on"
	_, _, err = cc.realm.Clients().Update(c.Request().Context(), cl.ID, realms.Condition{Version: version}, confirmed, cc.meta(c, a),
		func(domain.ClientSettings) (domain.ClientSettings, error) { return s, nil })
	if handled, perr := a.clientFormProblem(c, f, err); handled {
		return perr
	} else if err != nil {
		return err
	}
	return seeOther(c, cc.realmPath("/clients?done=client-saved"))
}

// consoleClient loads the client a path names, for an action the caller
// may take on a client with its scopes.
func (a *api) consoleClient(c echo.Context) (*domain.Client, error) {
	cc := consoleOf(c)
	cl, err := cc.realm.Clients().Get(c.Param("id"))
	if err != nil {
		return nil, err
	}
	return cl, cc.p.checkClientScopes(cc.realm.Name, cl.AllScopes())
}
