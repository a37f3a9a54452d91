package handlers

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
)

// Admin API of protected resources (RFC 8707), of the realm's client
// registration policy and of initial access tokens (RFC 7591).

// resourceView is a resource as the admin API shows it.
type resourceView struct {
	ID         string `json:"id"`
	Identifier string `json:"identifier"`
	domain.ResourceSettings
	Version uint64 `json:"version"`
}

func viewResource(r *domain.Resource) resourceView {
	return resourceView{ID: r.ID, Identifier: r.Identifier, ResourceSettings: r.ResourceSettings, Version: r.Version}
}

func writeResource(c echo.Context, status int, r *domain.Resource) error {
	c.Response().Header().Set("ETag", strconv.Quote(strconv.FormatUint(r.Version, 10)))
	return c.JSON(status, viewResource(r))
}

// resourceBody is a resource's request body.
type resourceBody struct {
	Identifier string `json:"identifier"`
	domain.ResourceSettings
}

// createResource is POST /admin/realms/{realm}/resources.
func (a *api) createResource(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	var body resourceBody
	if err := bindJSON(c, &body); err != nil {
		return err
	}
	r, err := rl.Resources().Create(c.Request().Context(), body.Identifier, body.ResourceSettings, callerOf(c).meta(c, a))
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/admin/realms/"+rl.Name+"/resources/"+r.ID)
	return writeResource(c, http.StatusCreated, r)
}

// listResources is GET /admin/realms/{realm}/resources.
func (a *api) listResources(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	out := []resourceView{}
	for _, r := range rl.Resources().List() {
		out = append(out, viewResource(r))
	}
	return c.JSON(http.StatusOK, map[string]any{"resources": out})
}

// getResource is GET /admin/realms/{realm}/resources/{id}.
func (a *api) getResource(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	r, err := rl.Resources().Get(c.Param("id"))
	if err != nil {
		return err
	}
	return writeResource(c, http.StatusOK, r)
}

// updateResource is PUT /admin/realms/{realm}/resources/{id}: its name,
// scopes and lifetime cap; the identifier cannot change.
func (a *api) updateResource(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	cond, err := ifMatchOf(c)
	if err != nil {
		return err
	}
	var body struct {
		resourceBody
		Version uint64 `json:"version"`
	}
	if err := bindJSON(c, &body); err != nil {
		return err
	}
	cur, err := rl.Resources().Get(c.Param("id"))
	if err != nil {
		return err
	}
	if body.Identifier != "" && body.Identifier != cur.Identifier {
		return &domain.ValidationError{Field: "identifier", Message: "a resource's identifier cannot change; register a new resource"}
	}
	if body.Version != 0 {
		cond.Version = body.Version
	}
	r, err := rl.Resources().Update(c.Request().Context(), cur.ID, cond, callerOf(c).meta(c, a),
		func(domain.ResourceSettings) (domain.ResourceSettings, error) { return body.ResourceSettings, nil })
	if err != nil {
		return err
	}
	return writeResource(c, http.StatusOK, r)
}

// deleteResource is DELETE /admin/realms/{realm}/resources/{id}.
func (a *api) deleteResource(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	cond, err := ifMatchOf(c)
	if err != nil {
		return err
	}
	if err := rl.Resources().Delete(c.Request().Context(), c.Param("id"), cond, callerOf(c).meta(c, a)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// getClientRegistration is GET /admin/realms/{realm}/client-registration.
func (a *api) getClientRegistration(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, rl.Registration().Policy())
}

// setClientRegistration is PUT /admin/realms/{realm}/client-registration:
// client ID metadata documents and dynamic registration, on or off.
func (a *api) setClientRegistration(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	var body domain.ClientRegistration
	if err := bindJSON(c, &body); err != nil {
		return err
	}
	if err := rl.Registration().SetPolicy(c.Request().Context(), body, callerOf(c).meta(c, a)); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, rl.Registration().Policy())
}

// initialTokenView is an initial access token as listed; the token itself
// is shown once, when it is created.
type initialTokenView struct {
	ID          string `json:"id"`
	Token       string `json:"token,omitempty"`
	Description string `json:"description,omitempty"`
	CreatedAt   int64  `json:"created_at"`
	ExpiresAt   int64  `json:"expires_at"`
	MaxUses     int    `json:"max_uses"`
	Uses        int    `json:"uses"`
	Status      string `json:"status"`
}

func (a *api) viewInitialToken(it *domain.InitialToken) initialTokenView {
	return initialTokenView{ID: it.ID, Description: it.Description, CreatedAt: it.CreatedAt, ExpiresAt: it.ExpiresAt,
		MaxUses: it.MaxUses, Uses: it.Uses, Status: it.Status(a.now().Unix())}
}

// createInitialToken is POST /admin/realms/{realm}/initial-access-tokens
// {expires_in, max_uses, description}: the response is the only time the
// token is shown.
func (a *api) createInitialToken(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	var body struct {
		ExpiresIn   int64  `json:"expires_in"`
		MaxUses     int    `json:"max_uses"`
		Description string `json:"description"`
	}
	if err := bindJSON(c, &body); err != nil {
		return err
	}
	issued, err := rl.Registration().CreateInitialToken(c.Request().Context(), body.Description, body.ExpiresIn, body.MaxUses, callerOf(c).meta(c, a))
	if err != nil {
		return err
	}
	v := a.viewInitialToken(issued.State)
	v.Token = issued.Token
	noStore(c)
	return c.JSON(http.StatusCreated, v)
}

// listInitialTokens is GET /admin/realms/{realm}/initial-access-tokens.
func (a *api) listInitialTokens(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	out := []initialTokenView{}
	for _, it := range rl.Registration().InitialTokens() {
		out = append(out, a.viewInitialToken(it))
	}
	return c.JSON(http.StatusOK, map[string]any{"initial_access_tokens": out})
}

// revokeInitialToken is DELETE /admin/realms/{realm}/initial-access-tokens/{id}.
func (a *api) revokeInitialToken(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	if err := rl.Registration().RevokeInitialToken(c.Request().Context(), c.Param("id"), callerOf(c).meta(c, a)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
