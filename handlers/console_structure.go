package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
)

// A realm's structure (organization → team, project → app) and its scope
// catalog: add, rename or describe, remove; a removal something still
// refers to is refused, and the page says why.

// structurePage is the body of structure.html.
type structurePage struct {
	Nodes   []nodeOption
	Parents []nodeOption
	Kinds   []string
	New     domain.CreateNode
	Action  string
}

// scopesPage is the body of scopes.html.
type scopesPage struct {
	Scopes []domain.ScopeEntry
	New    domain.ScopeDefined
	Action string
}

func (a *api) consoleStructureRoutes(g *echo.Group) {
	r := g.Group("/realms/:realm", a.consoleArea(domain.AreaStructure))
	r.GET("/structure", a.consoleStructure)
	r.POST("/structure", a.consoleCreateNode)
	r.POST("/structure/:slug/rename", a.consoleRenameNode)
	r.POST("/structure/:slug/delete", a.consoleDeleteNode)
	r.GET("/scopes", a.consoleScopes)
	r.POST("/scopes", a.consoleDefineScope)
	r.POST("/scopes/:name/delete", a.consoleRemoveScope)
}

func (a *api) consoleStructure(c echo.Context) error {
	return a.renderStructure(c, http.StatusOK, domain.CreateNode{}, "")
}

func (a *api) renderStructure(c echo.Context, status int, nc domain.CreateNode, problem string) error {
	cc := consoleOf(c)
	page := structurePage{
		Nodes: nodeTree(cc.realm), Parents: nodeTree(cc.realm, domain.NodeOrganization, domain.NodeProject),
		Kinds: []string{domain.NodeOrganization, domain.NodeTeam, domain.NodeProject, domain.NodeApp},
		New:   nc, Action: cc.realmPath("/structure"),
	}
	v := a.view(c, "Structure", "structure")
	v.Error, v.Data = problem, page
	return renderConsole(c, status, "structure.html", v)
}

// structureAction runs a change of the tree and shows the tree again: with
// the reason for a refusal (a 409 names what still refers to a node).
func (a *api) structureAction(c echo.Context, nc domain.CreateNode, done string, err error) error {
	if status, msg, ok := a.formProblem(c, err); ok {
		return a.renderStructure(c, status, nc, msg)
	} else if err != nil {
		return err
	}
	return seeOther(c, consoleOf(c).realmPath("/structure?done="+done))
}

func (a *api) consoleCreateNode(c echo.Context) error {
	cc := consoleOf(c)
	nc := domain.CreateNode{Slug: strings.TrimSpace(cc.form.Get("slug")), Name: cc.form.Get("name"), Kind: cc.form.Get("kind"), Parent: cc.form.Get("parent"),
		ConfirmHighRisk: cc.form.Get("confirm_high_risk") == "on"}
	_, err := cc.realm.Structure().CreateNode(c.Request().Context(), nc, cc.meta(c, a))
	return a.structureAction(c, nc, "node-created", err)
}

func (a *api) consoleRenameNode(c echo.Context) error {
	cc := consoleOf(c)
	_, err := cc.realm.Structure().RenameNode(c.Request().Context(), c.Param("slug"), cc.form.Get("name"), cc.form.Get("confirm_high_risk") == "on", cc.meta(c, a))
	return a.structureAction(c, domain.CreateNode{}, "node-renamed", err)
}

func (a *api) consoleDeleteNode(c echo.Context) error {
	cc := consoleOf(c)
	err := cc.realm.Structure().DeleteNode(c.Request().Context(), c.Param("slug"), cc.meta(c, a))
	return a.structureAction(c, domain.CreateNode{}, "node-deleted", err)
}

func (a *api) consoleScopes(c echo.Context) error {
	return a.renderScopes(c, http.StatusOK, domain.ScopeDefined{}, "")
}

func (a *api) renderScopes(c echo.Context, status int, sd domain.ScopeDefined, problem string) error {
	cc := consoleOf(c)
	v := a.view(c, "Scopes", "scopes")
	v.Error = problem
	v.Data = scopesPage{Scopes: cc.realm.Structure().Scopes().List(), New: sd, Action: cc.realmPath("/scopes")}
	return renderConsole(c, status, "scopes.html", v)
}

func (a *api) scopeAction(c echo.Context, sd domain.ScopeDefined, done string, err error) error {
	if status, msg, ok := a.formProblem(c, err); ok {
		return a.renderScopes(c, status, sd, msg)
	} else if err != nil {
		return err
	}
	return seeOther(c, consoleOf(c).realmPath("/scopes?done="+done))
}

// consoleDefineScope adds a scope or describes one again.
func (a *api) consoleDefineScope(c echo.Context) error {
	cc := consoleOf(c)
	sd := domain.ScopeDefined{Name: strings.TrimSpace(cc.form.Get("name")), Description: strings.TrimSpace(cc.form.Get("description"))}
	err := cc.realm.Structure().DefineScope(c.Request().Context(), sd, cc.meta(c, a))
	return a.scopeAction(c, sd, "scope-saved", err)
}

// consoleRemoveScope removes a scope; one a client holds is refused.
func (a *api) consoleRemoveScope(c echo.Context) error {
	cc := consoleOf(c)
	err := cc.realm.Structure().RemoveScope(c.Request().Context(), c.Param("name"), cc.meta(c, a))
	return a.scopeAction(c, domain.ScopeDefined{}, "scope-deleted", err)
}
