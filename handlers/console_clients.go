package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

// OAuth clients (Coralogix's Settings > OAuth Clients): an empty-state
// card, the table with its filter bar and paging, status toggles, rotate
// and delete after typing the client's name, and "Delete selected".

// clientsPage is the body of clients.html.
type clientsPage struct {
	Filter                   realms.ClientFilter
	Rows                     []clientRow
	Total, Enabled, Disabled int
	// Empty: the realm has no client at all (the empty-state card).
	Empty bool
	// Next is the query of the next page, First of the first one ("" when
	// on it).
	Next, First string
	Teams       []nodeOption
	Scopes      []string
	Action      string
	Limit       int
	PageSizes   []int
}

// clientRow is one client in the table.
type clientRow struct {
	ID, Name, Type, Kind, Status, Preset string
	Scopes, Teams                        []string
	Access, Refresh                      int64
	RefreshOn                            bool
	LastUsed                             int64
}

const (
	clientPageSize    = 50
	maxClientPageSize = 500
)

func (a *api) consoleClientRoutes(g *echo.Group) {
	r := g.Group("/realms/:realm/clients", a.consoleArea(domain.AreaClients))
	r.GET("", a.consoleClients)
	r.POST("", a.consoleCreateClient)
	r.GET("/new", a.consoleNewClient)
	r.POST("/bulk-delete", a.consoleBulkDelete)
	r.GET("/:id", a.consoleEditClient)
	r.POST("/:id", a.consoleUpdateClient)
	r.POST("/:id/status", a.consoleClientStatus)
	r.GET("/:id/rotate", a.consoleConfirmClient("rotate"))
	r.POST("/:id/rotate", a.consoleRotateClient)
	r.GET("/:id/delete", a.consoleConfirmClient("delete"))
	r.POST("/:id/delete", a.consoleDeleteClient)
}

// consoleClients is GET .../clients?team=&scope=&status=&kind=&q=&cursor=&limit=.
func (a *api) consoleClients(c echo.Context) error {
	cc := consoleOf(c)
	rl := cc.realm
	q := c.QueryParams()
	f := realms.ClientFilter{TeamRestriction: q.Get("team"), Scope: q.Get("scope"), Status: q.Get("status"), Kind: q.Get("kind"), Name: strings.TrimSpace(q.Get("q"))}
	if !slices.Contains([]string{"", domain.StatusEnabled, domain.StatusDisabled}, f.Status) {
		return badRequest("status must be enabled or disabled")
	}
	if !slices.Contains([]string{"", domain.KindService, domain.KindUserApp}, f.Kind) {
		return badRequest("kind must be service or user_app")
	}
	limit := clientPageSize
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxClientPageSize {
			return badRequest(fmt.Sprintf("limit must be 1 to %d", maxClientPageSize))
		}
		limit = n
	}
	page, ok := rl.Clients().Page(f, q.Get("cursor"), limit)
	if !ok {
		return badRequest("cursor names no client of this realm")
	}
	out := clientsPage{Filter: f, Total: page.Total, Enabled: page.Enabled, Disabled: page.Disabled,
		Teams: nodeTree(rl, domain.NodeOrganization, domain.NodeTeam), Action: cc.realmPath("/clients"), Limit: limit,
		PageSizes: []int{clientPageSize, 100, 200, maxClientPageSize}}
	if page.Total == 0 && f.TeamRestriction == "" && f.Scope == "" && f.Status == "" && f.Kind == "" && f.Name == "" {
		out.Empty = true
	}
	for _, e := range rl.Structure().Scopes().List() {
		out.Scopes = append(out.Scopes, e.Name)
	}
	for _, cl := range page.Clients {
		out.Rows = append(out.Rows, clientRow{
			ID: cl.ID, Name: cl.Name, Type: cl.Type, Kind: cl.Kind, Status: cl.Status, Preset: cl.AccessPreset,
			Scopes: cl.Scopes, Teams: cl.TeamRestrictions, Access: cl.AccessTokenLifetime,
			Refresh: cl.RefreshTokenLifetime, RefreshOn: cl.IssueRefreshTokens,
		})
		out.Rows[len(out.Rows)-1].LastUsed, _ = rl.Clients().LastUsed(cl.ID)
	}
	keep := url.Values{}
	for k, v := range map[string]string{"team": f.TeamRestriction, "scope": f.Scope, "status": f.Status, "kind": f.Kind, "q": f.Name} {
		if v != "" {
			keep.Set(k, v)
		}
	}
	if limit != clientPageSize {
		keep.Set("limit", strconv.Itoa(limit))
	}
	if q.Get("cursor") != "" {
		out.First = "?" + keep.Encode()
	}
	if page.More {
		keep.Set("cursor", page.Clients[len(page.Clients)-1].ID)
		out.Next = "?" + keep.Encode()
	}
	v := a.view(c, "OAuth clients", "clients")
	v.Data = out
	return renderConsole(c, http.StatusOK, "clients.html", v)
}

// consoleClientStatus is the status toggle: POST .../clients/{id}/status
// status=enabled|disabled. Disabling revokes the client's tokens.
func (a *api) consoleClientStatus(c echo.Context) error {
	cc := consoleOf(c)
	cl, err := a.consoleClient(c)
	if err != nil {
		return err
	}
	status := cc.form.Get("status")
	if status != domain.StatusEnabled && status != domain.StatusDisabled {
		return badRequest("status must be enabled or disabled")
	}
	if _, err := cc.realm.Clients().SetEnabled(c.Request().Context(), cl.ID, realms.Condition{}, status == domain.StatusEnabled, cc.meta(c, a)); err != nil {
		return err
	}
	return seeOther(c, cc.realmPath("/clients?done=client-"+status))
}

// consoleBulkDelete is "Delete selected": up to 500 clients, all or none;
// when some id names no client, nothing is deleted and the page says which.
func (a *api) consoleBulkDelete(c echo.Context) error {
	cc := consoleOf(c)
	ids := cc.form["id"]
	if len(ids) == 0 || len(ids) > realms.MaxBulkDelete {
		return badRequest(fmt.Sprintf("select 1 to %d clients", realms.MaxBulkDelete))
	}
	for _, id := range ids {
		if cl, err := cc.realm.Clients().Get(id); err == nil {
			if err := cc.p.checkClientScopes(cc.realm.Name, cl.AllScopes()); err != nil {
				return err
			}
		}
	}
	n, err := cc.realm.Clients().Delete(c.Request().Context(), ids, realms.Condition{}, cc.meta(c, a))
	if err != nil {
		return err
	}
	return seeOther(c, cc.realmPath("/clients?done=clients-deleted&n="+strconv.Itoa(n)))
}

// confirmPage is the body of client_confirm.html: rotate or delete, after
// typing the client's name.
type confirmPage struct {
	What, ID, Name, Action string
	Version                uint64
	Typed                  string
}

// consoleConfirmClient is GET .../clients/{id}/rotate and /delete: the
// page that asks for the client's name.
func (a *api) consoleConfirmClient(what string) echo.HandlerFunc {
	return func(c echo.Context) error {
		cl, err := a.consoleClient(c)
		if err != nil {
			return err
		}
		return a.renderConfirm(c, http.StatusOK, what, cl, "", "")
	}
}

func (a *api) renderConfirm(c echo.Context, status int, what string, cl *domain.Client, typed, problem string) error {
	cc := consoleOf(c)
	title := map[string]string{"rotate": "Rotate the secret of ", "delete": "Delete "}[what] + cl.Name
	v := a.view(c, title, "clients")
	v.Error = problem
	v.Data = confirmPage{What: what, ID: cl.ID, Name: cl.Name, Version: cl.Version, Typed: typed, Action: cc.realmPath("/clients/" + cl.ID + "/" + what)}
	return renderConsole(c, status, "client_confirm.html", v)
}

// typedName checks the name typed to confirm an action: exactly the
// client's.
func (a *api) typedName(c echo.Context, what string, cl *domain.Client) (bool, error) {
	typed := consoleOf(c).form.Get("confirm_name")
	if typed != cl.Name {
		return false, a.renderConfirm(c, http.StatusBadRequest, what, cl, typed, "Type the client's name exactly as shown to confirm.")
	}
	return true, nil
}

// overlaps are the choices for how long a rotated-out secret stays valid.
var overlaps = map[string]int64{"0": 0, "3600": 3600, "86400": 86400, "604800": 604800}

// consoleRotateClient is POST .../clients/{id}/rotate: the new secret is
// shown once.
func (a *api) consoleRotateClient(c echo.Context) error {
	cc := consoleOf(c)
	cl, err := a.consoleClient(c)
	if err != nil {
		return err
	}
	if ok, err := a.typedName(c, "rotate", cl); !ok {
		return err
	}
	overlap, ok := overlaps[cc.form.Get("overlap")]
	if !ok {
		return badRequest("overlap must be one of the choices")
	}
	secret, err := cc.realm.Clients().RotateSecret(c.Request().Context(), cl.ID, realms.Condition{}, overlap, cc.meta(c, a))
	if err != nil {
		return err
	}
	if cl, err = cc.realm.Clients().Get(cl.ID); err != nil {
		return err
	}
	return a.renderSecret(c, http.StatusOK, "Secret rotated", cl, secret, nil)
}

// consoleDeleteClient is POST .../clients/{id}/delete.
func (a *api) consoleDeleteClient(c echo.Context) error {
	cc := consoleOf(c)
	cl, err := a.consoleClient(c)
	if err != nil {
		return err
	}
	if ok, err := a.typedName(c, "delete", cl); !ok {
		return err
	}
	if _, err := cc.realm.Clients().Delete(c.Request().Context(), []string{cl.ID}, realms.Condition{}, cc.meta(c, a)); err != nil {
		return err
	}
	return seeOther(c, cc.realmPath("/clients?done=client-deleted"))
}

// secretPage is the body of client_secret.html.
type secretPage struct {
	ID, Name, Secret, Type string
	PreviousUntil          int64
	Warnings               []domain.Warning
	Back                   string
}

// renderSecret shows a client's id and secret, this once: the page is
// never stored, and the secret never shown again.
func (a *api) renderSecret(c echo.Context, status int, title string, cl *domain.Client, secret string, warnings []domain.Warning) error {
	cc := consoleOf(c)
	v := a.view(c, title, "clients")
	p := secretPage{ID: cl.ID, Name: cl.Name, Secret: secret, Type: cl.Type, Warnings: warnings, Back: cc.realmPath("/clients")}
	if cl.PreviousSecretHash != "" && a.now().Unix() < cl.PreviousSecretExpires {
		p.PreviousUntil = cl.PreviousSecretExpires
	}
	v.Data = p
	return renderConsole(c, status, "client_secret.html", v)
}
