package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

// clientView is a client as the admin API shows it: every setting, never
// its secret or a hash.
type clientView struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret,omitempty"`
	domain.ClientSettings
	Status string `json:"status"`
	// Source is how the client came to be: admin, metadata_document or
	// registration.
	Source                  string `json:"source"`
	PreviousSecretExpiresAt int64  `json:"previous_secret_expires_at,omitempty"`
	// LastUsedAt is when a token of the client was last issued or seen in
	// use (Unix seconds); absent when it never had one.
	LastUsedAt int64            `json:"last_used_at,omitempty"`
	Warnings   []domain.Warning `json:"warnings"`
	Version    uint64           `json:"version"`
}

func viewClient(cl *domain.Client, now int64) clientView {
	v := clientView{ClientID: cl.ID, ClientSettings: cl.ClientSettings, Status: cl.Status, Source: cl.Source, Warnings: cl.Warnings(), Version: cl.Version}
	if v.Source == domain.SourceAdmin {
		v.Source = "admin"
	}
	if cl.PreviousSecretHash != "" && now < cl.PreviousSecretExpires {
		v.PreviousSecretExpiresAt = cl.PreviousSecretExpires
	}
	return v
}

// writeClient answers with a client, its ETag and the warnings of the
// request that produced it.
func (a *api) writeClient(c echo.Context, status int, cl *domain.Client, secret string, warnings []domain.Warning) error {
	v := viewClient(cl, a.now().Unix())
	if rl, err := a.realmOf(c); err == nil {
		v.LastUsedAt, _ = rl.Clients().LastUsed(cl.ID)
	}
	v.ClientSecret = secret
	if warnings != nil {
		v.Warnings = warnings
	}
	noStore(c)
	c.Response().Header().Set("ETag", strconv.Quote(strconv.FormatUint(cl.Version, 10)))
	return c.JSON(status, v)
}

// clientRequest is a client body split into its settings and the fields
// that are not settings.
type clientRequest struct {
	settings        domain.ClientSettings
	confirmHighRisk bool
	status          string // "", enabled or disabled
}

// outputOnly are fields of a client view that a PUT may send back
// unchanged; they are ignored. client_secret is not among them: the server
// makes every secret, and one sent would silently not be the client's, so
// only an empty one (a view sent back) is accepted.
var outputOnly = []string{"version", "warnings", "previous_secret_expires_at", "source"}

// parseClientBody reads settings from a JSON object, strictly: an unknown
// field is an error. A setting the object leaves out takes the realm's
// client defaults. With the realm's seacat profile on it also reads SeaCat
// Auth's client attributes (seacatAliases); seacatauth_credentials adds
// client_credentials to the grant types, or with false takes it away.
func parseClientBody(rl *realms.Realm, fields map[string]json.RawMessage, pathID string) (clientRequest, error) {
	var req clientRequest
	take := func(name string, v any) error {
		raw, ok := fields[name]
		if !ok {
			return nil
		}
		delete(fields, name)
		if err := decodeStrict(raw, v); err != nil {
			return &domain.ValidationError{Field: name, Message: fmt.Sprintf("%s: %v", name, err)}
		}
		return nil
	}
	if err := seacatAliases(rl, fields); err != nil {
		return req, err
	}
	var id string
	var seacatCredentials *bool
	if err := errors.Join(
		take("client_id", &id), take("confirm_high_risk", &req.confirmHighRisk), take("status", &req.status),
		take("seacatauth_credentials", &seacatCredentials),
	); err != nil {
		return req, err
	}
	if id != "" && id != pathID {
		return req, &domain.ValidationError{Field: "client_id", Message: "client_id cannot change"}
	}
	var secret string
	if err := take("client_secret", &secret); err != nil || secret != "" {
		return req, &domain.ValidationError{Field: "client_secret", Message: "client_secret is made by the server: see rotate-secret"}
	}
	if req.status != "" && req.status != domain.StatusEnabled && req.status != domain.StatusDisabled {
		return req, &domain.ValidationError{Field: "status", Message: "status must be enabled or disabled"}
	}
	for _, f := range outputOnly {
		delete(fields, f)
	}
	body, err := json.Marshal(fields)
	if err != nil {
		return req, err
	}
	if err := decodeStrict(body, &req.settings); err != nil {
		return req, &domain.ValidationError{Field: "client", Message: "invalid client settings: " + err.Error()}
	}
	if _, sent := fields["issue_refresh_tokens"]; sent && !req.settings.IssueRefreshTokens &&
		slices.Contains(req.settings.GrantTypes, domain.GrantRefreshToken) {
		return req, &domain.ValidationError{Field: "issue_refresh_tokens", Message: "issue_refresh_tokens is false but grant_types has refresh_token: drop one"}
	}
	if seacatCredentials != nil {
		req.settings.GrantTypes = slices.DeleteFunc(req.settings.GrantTypes, func(g string) bool { return g == domain.GrantClientCredentials })
		if *seacatCredentials {
			req.settings.GrantTypes = append(req.settings.GrantTypes, domain.GrantClientCredentials)
		}
	}
	req.settings = rl.Clients().WithDefaults(req.settings, func(field string) bool {
		_, given := fields[field]
		return given || field == "grant_types" && seacatCredentials != nil
	})
	return req, nil
}

// seacatNames are SeaCat Auth's names for client settings.
var seacatNames = map[string]string{"client_name": "name", "tenants": "team_restrictions"}

// seacatAliases rewrites SeaCat Auth's names for settings into Latchkey's:
// client_name is name, tenants are team_restrictions, and roles may be
// "node/role" strings. A PATCH is rewritten before it is merged, so an
// alias replaces the current setting as its own name would. They are read
// only in a realm with the seacat profile on; elsewhere they are refused,
// naming the profile.
func seacatAliases(rl *realms.Realm, fields map[string]json.RawMessage) error {
	seacat := rl.Settings().Has(domain.CompatSeaCat)
	for _, alias := range []string{"client_name", "tenants", "seacatauth_credentials"} {
		if _, ok := fields[alias]; ok && !seacat {
			return &domain.ValidationError{Field: alias, Message: alias + " is SeaCat Auth's attribute: turn on the realm's seacat profile (compat) to use it"}
		}
	}
	for alias, name := range seacatNames {
		v, ok := fields[alias]
		if !ok {
			continue
		}
		if _, both := fields[name]; both {
			return &domain.ValidationError{Field: alias, Message: "send " + alias + " or " + name + ", not both"}
		}
		fields[name] = v
		delete(fields, alias)
	}
	return seacatRoles(fields, seacat)
}

// seacatRoles rewrites roles given as "node/role" strings into objects.
func seacatRoles(fields map[string]json.RawMessage, seacat bool) error {
	raw, ok := fields["roles"]
	if !ok {
		return nil
	}
	var asStrings []string
	if json.Unmarshal(raw, &asStrings) != nil || len(asStrings) == 0 {
		return nil // objects, decoded as settings
	}
	if !seacat {
		return &domain.ValidationError{Field: "roles", Message: `roles written "node/role" are SeaCat Auth's form: turn on the realm's seacat profile (compat), or send {"node","role"} objects`}
	}
	roles := make([]domain.RoleAssignment, 0, len(asStrings))
	for _, s := range asStrings {
		node, role, ok := strings.Cut(s, "/")
		if !ok {
			return &domain.ValidationError{Field: "roles", Message: fmt.Sprintf("role %q must be written node/role", s)}
		}
		roles = append(roles, domain.RoleAssignment{Node: node, Role: role})
	}
	fields["roles"], _ = json.Marshal(roles)
	return nil
}

// bindClientBody reads a client JSON body into a field map.
func bindClientBody(c echo.Context) (map[string]json.RawMessage, error) {
	fields := map[string]json.RawMessage{}
	if err := bindJSONAs(c, &fields, echo.MIMEApplicationJSON, "application/merge-patch+json"); err != nil {
		return nil, err
	}
	return fields, nil
}

// createClient is POST /admin/realms/{realm}/clients: the response is the
// only time the secret is shown.
func (a *api) createClient(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	fields, err := bindClientBody(c)
	if err != nil {
		return err
	}
	req, err := parseClientBody(rl, fields, "")
	if err != nil {
		return err
	}
	if err := callerOf(c).checkClientScopes(rl.Name, req.settings.AllScopes()); err != nil {
		return err
	}
	meta := callerOf(c).meta(c, a)
	created, err := rl.Clients().Create(c.Request().Context(), "", req.settings, req.confirmHighRisk, meta)
	if err != nil {
		return err
	}
	cl := created.Client
	if req.status == domain.StatusDisabled {
		if cl, err = rl.Clients().SetEnabled(c.Request().Context(), cl.ID, realms.Condition{}, false, meta); err != nil {
			return err
		}
	}
	c.Response().Header().Set(echo.HeaderLocation, "/admin/realms/"+rl.Name+"/clients/"+cl.ID)
	return a.writeClient(c, http.StatusCreated, cl, created.Secret, created.Warnings)
}

// updateClient is PUT (full replacement; absent settings take their
// defaults) and PATCH (JSON merge patch, RFC 7396) of a client. A stale
// If-Match is 412; a stale version in the body 409.
func (a *api) updateClient(c echo.Context) error {
	cl, warnings, err := a.changeClient(c, c.Request().Method == http.MethodPatch)
	if err != nil {
		return err
	}
	return a.writeClient(c, http.StatusOK, cl, "", warnings)
}

// changeClient changes the settings of the client the path names: merged
// into the current ones (a JSON merge patch), or replacing them.
func (a *api) changeClient(c echo.Context, merge bool) (*domain.Client, []domain.Warning, error) {
	rl, err := a.realmOf(c)
	if err != nil {
		return nil, nil, err
	}
	id := c.Param("id")
	cond, err := ifMatchOf(c)
	if err != nil {
		return nil, nil, err
	}
	patch, err := bindClientBody(c)
	if err != nil {
		return nil, nil, err
	}
	if err := seacatAliases(rl, patch); err != nil {
		return nil, nil, err
	}
	// A view sent back carries the version it was read at: a condition
	// like If-Match, so an edit of a stale view cannot undo another's.
	if raw, sent := patch["version"]; sent && string(raw) != "null" {
		var v uint64
		if decodeStrict(raw, &v) != nil || v == 0 {
			return nil, nil, badRequest("version must be the client's version, a positive integer")
		}
		if cond.IfMatch != 0 && cond.IfMatch != v {
			return nil, nil, badRequest("If-Match and version name different versions")
		}
		cond.Version = v
	}
	var status string
	change := func(current domain.ClientSettings) (domain.ClientSettings, error) {
		fields := patch
		if merge {
			fields = mergePatch(current, patch)
		}
		req, err := parseClientBody(rl, clone(fields), id)
		status = req.status
		if err == nil {
			err = callerOf(c).checkClientScopes(rl.Name, current.AllScopes(), req.settings.AllScopes())
		}
		return req.settings, err
	}
	confirm := bytes.Contains(patch["confirm_high_risk"], []byte("true"))
	meta := callerOf(c).meta(c, a)
	cl, warnings, err := rl.Clients().Update(c.Request().Context(), id, cond, confirm, meta, change)
	if err != nil {
		return nil, nil, err
	}
	if status != "" && status != cl.Status {
		if cl, err = rl.Clients().SetEnabled(c.Request().Context(), id, realms.Condition{}, status == domain.StatusEnabled, meta); err != nil {
			return nil, nil, err
		}
	}
	return cl, warnings, nil
}

// mergePatch applies an RFC 7396 merge patch to settings at the top level:
// null removes a setting (back to its default), anything else replaces it.
// issue_refresh_tokens and the refresh_token grant type say one thing
// twice: a patch of one of them carries over to the other, or the current
// value of the other would undo the patch.
func mergePatch(current domain.ClientSettings, patch map[string]json.RawMessage) map[string]json.RawMessage {
	_, grantsPatched := patch["grant_types"]
	if flag, ok := patch["issue_refresh_tokens"]; ok && !grantsPatched {
		var on bool
		_ = json.Unmarshal(flag, &on) // null is off; a bad value fails decoding later
		current.GrantTypes = slices.DeleteFunc(slices.Clone(current.GrantTypes), func(g string) bool { return g == domain.GrantRefreshToken })
		if on {
			current.GrantTypes = append(current.GrantTypes, domain.GrantRefreshToken)
		}
	}
	raw, _ := json.Marshal(current)
	fields := map[string]json.RawMessage{}
	_ = json.Unmarshal(raw, &fields)
	if _, ok := patch["issue_refresh_tokens"]; grantsPatched && !ok {
		delete(fields, "issue_refresh_tokens") // the patched grant types decide
	}
	for k, v := range patch {
		if string(v) == "null" {
			delete(fields, k)
		} else {
			fields[k] = v
		}
	}
	return fields
}

func clone(m map[string]json.RawMessage) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// ifMatchOf reads the If-Match header: `"42"` (or W/"42"); empty means no
// precondition, and so does "*" (RFC 9110 §13.1.1: any current
// representation, and a change only ever applies to a client that exists).
func ifMatchOf(c echo.Context) (realms.Condition, error) {
	h := strings.TrimSpace(c.Request().Header.Get("If-Match"))
	if h == "" || h == "*" {
		return realms.Condition{}, nil
	}
	v, err := strconv.ParseUint(strings.Trim(strings.TrimPrefix(h, "W/"), `"`), 10, 64)
	if err != nil || v == 0 {
		return realms.Condition{}, badRequest(`If-Match must be a version ETag, like "42"`)
	}
	return realms.Condition{IfMatch: v}, nil
}

// listClients is GET /admin/realms/{realm}/clients with filters
// team_restriction (a node, or * for unrestricted clients), scope, status,
// kind, preset and q (name), cursor pagination and counts.
func (a *api) listClients(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	limit, err := pageLimit(c)
	if err != nil {
		return err
	}
	f := realms.ClientFilter{
		TeamRestriction: c.QueryParam("team_restriction"), Scope: c.QueryParam("scope"),
		Status: c.QueryParam("status"), Kind: c.QueryParam("kind"), Preset: c.QueryParam("preset"), Name: c.QueryParam("q"),
	}
	// A misspelt filter value is an error, not an empty (or full) list.
	if !slices.Contains([]string{"", domain.StatusEnabled, domain.StatusDisabled}, f.Status) {
		return badRequest("status must be enabled or disabled")
	}
	if !slices.Contains([]string{"", domain.KindService, domain.KindUserApp}, f.Kind) {
		return badRequest("kind must be service or user_app")
	}
	if !slices.Contains([]string{"", domain.PresetReadOnly, domain.PresetFull}, f.Preset) {
		return badRequest("preset must be read_only or full")
	}
	page, ok := rl.Clients().Page(f, c.QueryParam("cursor"), limit)
	if !ok {
		return badRequest("cursor names no client of this realm")
	}
	now := a.now().Unix()
	out := struct {
		Clients    []clientView `json:"clients"`
		NextCursor string       `json:"next_cursor,omitempty"`
		Total      int          `json:"total"`
		Enabled    int          `json:"enabled"`
		Disabled   int          `json:"disabled"`
	}{Clients: make([]clientView, 0, len(page.Clients)), Total: page.Total, Enabled: page.Enabled, Disabled: page.Disabled}
	for _, cl := range page.Clients {
		v := viewClient(cl, now)
		v.LastUsedAt, _ = rl.Clients().LastUsed(cl.ID)
		out.Clients = append(out.Clients, v)
	}
	if page.More {
		out.NextCursor = page.Clients[len(page.Clients)-1].ID
	}
	return c.JSON(http.StatusOK, out)
}

// clientOf loads the realm and client a path names.
func (a *api) clientOf(c echo.Context) (*realms.Realm, *domain.Client, error) {
	rl, err := a.realmOf(c)
	if err != nil {
		return nil, nil, err
	}
	cl, err := rl.Clients().Find(c.Request().Context(), c.Param("id"))
	return rl, cl, err
}

// changeableClientOf loads the client a path names, for an action the
// caller must be allowed on a client with its scopes.
func (a *api) changeableClientOf(c echo.Context) (*realms.Realm, *domain.Client, error) {
	rl, cl, err := a.clientOf(c)
	if err == nil {
		err = callerOf(c).checkClientScopes(rl.Name, cl.AllScopes())
	}
	return rl, cl, err
}

// checkClientScopes refuses an action on a client holding (or to hold)
// scopes the caller may not touch (principal.mayHoldScopes).
func (p principal) checkClientScopes(realm string, scopes ...[]string) error {
	if !p.mayHoldScopes(realm, scopes...) {
		return forbidden("only the realm's administrators may create, change or use a client with scope management")
	}
	return nil
}

func (a *api) getClient(c echo.Context) error {
	_, cl, err := a.clientOf(c)
	if err != nil {
		return err
	}
	return a.writeClient(c, http.StatusOK, cl, "", nil)
}

// rotateSecret is POST .../clients/{id}/rotate-secret
// {"previous_secret_expires_in": seconds}: the new secret is shown once.
func (a *api) rotateSecret(c echo.Context) error {
	rl, cl, err := a.changeableClientOf(c)
	if err != nil {
		return err
	}
	cond, err := ifMatchOf(c)
	if err != nil {
		return err
	}
	var body struct {
		PreviousSecretExpiresIn int64 `json:"previous_secret_expires_in"`
	}
	if c.Request().ContentLength != 0 {
		if err := bindJSON(c, &body); err != nil {
			return err
		}
	}
	secret, err := rl.Clients().RotateSecret(c.Request().Context(), cl.ID, cond, body.PreviousSecretExpiresIn, callerOf(c).meta(c, a))
	if err != nil {
		return err
	}
	if cl, err = rl.Clients().Get(cl.ID); err != nil {
		return err
	}
	return a.writeClient(c, http.StatusOK, cl, secret, nil)
}

// setEnabled serves POST .../clients/{id}/enable and /disable.
func (a *api) setEnabled(enabled bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		rl, cl, err := a.changeableClientOf(c)
		if err != nil {
			return err
		}
		cond, err := ifMatchOf(c)
		if err != nil {
			return err
		}
		if cl, err = rl.Clients().SetEnabled(c.Request().Context(), cl.ID, cond, enabled, callerOf(c).meta(c, a)); err != nil {
			return err
		}
		return a.writeClient(c, http.StatusOK, cl, "", nil)
	}
}

// deleteClient is DELETE .../clients/{id}: permanent, revokes its tokens.
func (a *api) deleteClient(c echo.Context) error {
	rl, cl, err := a.changeableClientOf(c)
	if err != nil {
		return err
	}
	cond, err := ifMatchOf(c)
	if err != nil {
		return err
	}
	if _, err := rl.Clients().Delete(c.Request().Context(), []string{cl.ID}, cond, callerOf(c).meta(c, a)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// bulkDeleteClients is POST .../clients/bulk-delete {"ids": [...]}: up to
// 500, all or none; missing ids are named (missing_ids) and nothing is
// deleted.
func (a *api) bulkDeleteClients(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	var body struct {
		IDs []string `json:"ids"`
	}
	if err := bindJSON(c, &body); err != nil {
		return err
	}
	if len(body.IDs) == 0 || len(body.IDs) > realms.MaxBulkDelete {
		return badRequest(fmt.Sprintf("ids must list 1 to %d clients", realms.MaxBulkDelete))
	}
	for _, id := range body.IDs {
		if cl, err := rl.Clients().Get(id); err == nil {
			if err := callerOf(c).checkClientScopes(rl.Name, cl.AllScopes()); err != nil {
				return err
			}
		}
	}
	deleted, err := rl.Clients().Delete(c.Request().Context(), body.IDs, realms.Condition{}, callerOf(c).meta(c, a))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]int{"deleted": deleted})
}

// nodeCredentials is POST /admin/realms/{realm}/nodes/{slug}/client-credentials
// {"scope": "management"|"consumer", "name"}: a service client owned by the
// node, which its tokens can never reach outside.
func (a *api) nodeCredentials(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	var body struct {
		Scope string `json:"scope"`
		Name  string `json:"name"`
	}
	if err := bindJSON(c, &body); err != nil {
		return err
	}
	created, err := rl.Clients().NodeCredentials(c.Request().Context(), c.Param("slug"), body.Scope, body.Name, callerOf(c).meta(c, a))
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/admin/realms/"+rl.Name+"/clients/"+created.Client.ID)
	return a.writeClient(c, http.StatusCreated, created.Client, created.Secret, created.Warnings)
}
