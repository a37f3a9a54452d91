package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
)

type nodeView struct {
	Slug    string `json:"slug"`
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Parent  string `json:"parent,omitempty"`
	Version uint64 `json:"version"`
}

func viewNode(n *domain.Node) nodeView {
	return nodeView{Slug: n.Slug, Name: n.Name, Kind: n.Kind, Parent: n.Parent, Version: n.Version}
}

// createNode is POST /admin/realms/{realm}/nodes {slug, name, kind, parent,
// confirm_high_risk}.
func (a *api) createNode(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	var cmd domain.CreateNode
	if err := bindJSON(c, &cmd); err != nil {
		return err
	}
	n, err := rl.Structure().CreateNode(c.Request().Context(), cmd, callerOf(c).meta(c, a))
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/admin/realms/"+rl.Name+"/nodes/"+n.Slug)
	return c.JSON(http.StatusCreated, viewNode(n))
}

// listNodes is GET /admin/realms/{realm}/nodes: the tree, parents first.
func (a *api) listNodes(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	out := []nodeView{}
	for _, n := range rl.Structure().Nodes() {
		out = append(out, viewNode(n))
	}
	return c.JSON(http.StatusOK, map[string]any{"nodes": out})
}

func (a *api) getNode(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	n, err := rl.Structure().Node(c.Param("slug"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewNode(n))
}

// renameNode is PATCH /admin/realms/{realm}/nodes/{slug} {"name",
// "confirm_high_risk"}.
func (a *api) renameNode(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	var body struct {
		Name            string `json:"name"`
		ConfirmHighRisk bool   `json:"confirm_high_risk"`
	}
	if err := bindJSON(c, &body); err != nil {
		return err
	}
	n, err := rl.Structure().RenameNode(c.Request().Context(), c.Param("slug"), body.Name, body.ConfirmHighRisk, callerOf(c).meta(c, a))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewNode(n))
}

// deleteNode is DELETE /admin/realms/{realm}/nodes/{slug}; 409 while
// anything refers to the node.
func (a *api) deleteNode(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	if err := rl.Structure().DeleteNode(c.Request().Context(), c.Param("slug"), callerOf(c).meta(c, a)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// listScopes is GET /admin/realms/{realm}/scopes: the catalog.
func (a *api) listScopes(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"scopes": rl.Structure().Scopes().List()})
}

// defineScope is PUT /admin/realms/{realm}/scopes/{name} {"description"}.
func (a *api) defineScope(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	var body struct {
		Description string `json:"description"`
	}
	if err := bindJSON(c, &body); err != nil {
		return err
	}
	s := domain.ScopeDefined{Name: c.Param("name"), Description: body.Description}
	if err := rl.Structure().DefineScope(c.Request().Context(), s, callerOf(c).meta(c, a)); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, domain.ScopeEntry{Name: s.Name, Description: s.Description})
}

// removeScope is DELETE /admin/realms/{realm}/scopes/{name}; 409 while a
// client has it, or for a built-in scope.
func (a *api) removeScope(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	if err := rl.Structure().RemoveScope(c.Request().Context(), c.Param("name"), callerOf(c).meta(c, a)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
