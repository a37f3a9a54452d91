package handlers

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

// userView is a user as the admin API shows it: never the password or its
// hash, only whether one is set.
type userView struct {
	ID          string              `json:"id"`
	Username    string              `json:"username"`
	Email       string              `json:"email"`
	DisplayName string              `json:"display_name"`
	Status      string              `json:"status"`
	Memberships []domain.Membership `json:"memberships"`
	RealmRoles  []string            `json:"realm_roles"`
	HasPassword bool                `json:"has_password"`
	Version     uint64              `json:"version"`
}

func viewUser(u *domain.User) userView {
	ms := u.Memberships
	if ms == nil {
		ms = []domain.Membership{}
	}
	roles := u.RealmRoles
	if roles == nil {
		roles = []string{}
	}
	return userView{
		ID: u.ID, Username: u.Username, Email: u.Email, DisplayName: u.DisplayName,
		Status: u.Status, Memberships: ms, RealmRoles: roles, HasPassword: u.HasPassword, Version: u.Version,
	}
}

// writeUser answers with a user and its version as ETag.
func writeUser(c echo.Context, status int, u *domain.User) error {
	c.Response().Header().Set("ETag", strconv.Quote(strconv.FormatUint(u.Version, 10)))
	return c.JSON(status, viewUser(u))
}

// withDetails makes a validation error of the users API list its problems
// in details, as every 400 of that API does.
func withDetails(err error) error {
	var verr *domain.ValidationError
	if errors.As(err, &verr) && len(verr.Details) == 0 {
		return &domain.ValidationError{Field: verr.Field, Message: verr.Message, Details: []string{verr.Message}}
	}
	return err
}

// createUser is POST /admin/realms/{realm}/users {username, email,
// display_name, password (optional), memberships}.
func (a *api) createUser(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	var nu realms.NewUser
	if err := bindJSON(c, &nu); err != nil {
		return err
	}
	u, err := rl.Users().Create(c.Request().Context(), nu, callerOf(c).meta(c, a))
	if err != nil {
		return withDetails(err)
	}
	c.Response().Header().Set(echo.HeaderLocation, "/admin/realms/"+rl.Name+"/users/"+u.ID)
	return writeUser(c, http.StatusCreated, u)
}

// listUsers is GET /admin/realms/{realm}/users: ordered by username
// (case-insensitively), filtered by q (a substring of the username or the
// email, any case), paged by an opaque cursor.
func (a *api) listUsers(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	limit, err := pageLimit(c)
	if err != nil {
		return err
	}
	var after string
	if cur := c.QueryParam("cursor"); cur != "" {
		raw, err := base64.RawURLEncoding.DecodeString(cur)
		if err != nil || len(raw) == 0 {
			return badRequest("malformed cursor")
		}
		after = string(raw)
	}
	page := rl.Users().Page(c.QueryParam("q"), after, limit)
	out := struct {
		Users      []userView `json:"users"`
		NextCursor string     `json:"next_cursor,omitempty"`
		Total      int        `json:"total"`
	}{Users: make([]userView, 0, len(page.Users)), Total: page.Total}
	for _, u := range page.Users {
		out.Users = append(out.Users, viewUser(u))
	}
	if page.Next != "" {
		out.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(page.Next))
	}
	return c.JSON(http.StatusOK, out)
}

// userOf loads the realm and user a path names.
func (a *api) userOf(c echo.Context) (*realms.Realm, *domain.User, error) {
	rl, err := a.realmOf(c)
	if err != nil {
		return nil, nil, err
	}
	u, err := rl.Users().Get(c.Param("id"))
	return rl, u, err
}

func (a *api) getUser(c echo.Context) error {
	_, u, err := a.userOf(c)
	if err != nil {
		return err
	}
	return writeUser(c, http.StatusOK, u)
}

// updateUser is PUT /admin/realms/{realm}/users/{id} {username, email,
// display_name}: the whole profile; an absent field becomes empty.
func (a *api) updateUser(c echo.Context) error {
	rl, u, err := a.userOf(c)
	if err != nil {
		return err
	}
	var p domain.UserProfile
	if err := bindJSON(c, &p); err != nil {
		return err
	}
	if u, err = rl.Users().Update(c.Request().Context(), u.ID, p, callerOf(c).meta(c, a)); err != nil {
		return withDetails(err)
	}
	return writeUser(c, http.StatusOK, u)
}

// setUserPassword is PUT /admin/realms/{realm}/users/{id}/password
// {password}: hashed with argon2id and sealed; the history only says it
// changed.
func (a *api) setUserPassword(c echo.Context) error {
	rl, u, err := a.userOf(c)
	if err != nil {
		return err
	}
	var body struct {
		Password string `json:"password"`
	}
	if err := bindJSON(c, &body); err != nil {
		return err
	}
	if err := rl.Users().SetPassword(c.Request().Context(), u.ID, body.Password, callerOf(c).meta(c, a)); err != nil {
		return withDetails(err)
	}
	return c.NoContent(http.StatusNoContent)
}

// setUserMemberships is PUT /admin/realms/{realm}/users/{id}/memberships
// {memberships: [{node, role}]}: the full list; [] removes every one.
// Tokens already issued see the change at once.
func (a *api) setUserMemberships(c echo.Context) error {
	rl, u, err := a.userOf(c)
	if err != nil {
		return err
	}
	var body struct {
		Memberships *[]domain.Membership `json:"memberships"`
	}
	if err := bindJSON(c, &body); err != nil {
		return err
	}
	if body.Memberships == nil {
		return badRequest("memberships is required: the full list, [] to remove every membership")
	}
	if u, err = rl.Users().SetMemberships(c.Request().Context(), u.ID, *body.Memberships, callerOf(c).meta(c, a)); err != nil {
		return withDetails(err)
	}
	return writeUser(c, http.StatusOK, u)
}

// setUserRealmRoles is PUT /admin/realms/{realm}/users/{id}/realm-roles
// {realm_roles: [...]}: the full list; [] takes every realm role away.
func (a *api) setUserRealmRoles(c echo.Context) error {
	rl, u, err := a.userOf(c)
	if err != nil {
		return err
	}
	var body struct {
		RealmRoles *[]string `json:"realm_roles"`
	}
	if err := bindJSON(c, &body); err != nil {
		return err
	}
	if body.RealmRoles == nil {
		return badRequest("realm_roles is required: the full list, [] to take every realm role away")
	}
	if u, err = rl.Users().SetRealmRoles(c.Request().Context(), u.ID, *body.RealmRoles, callerOf(c).meta(c, a)); err != nil {
		return withDetails(err)
	}
	return writeUser(c, http.StatusOK, u)
}

// setUserEnabled serves POST .../users/{id}/enable and /disable; disabling
// revokes every token issued for the user.
func (a *api) setUserEnabled(enabled bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		rl, u, err := a.userOf(c)
		if err != nil {
			return err
		}
		if u, err = rl.Users().SetEnabled(c.Request().Context(), u.ID, enabled, callerOf(c).meta(c, a)); err != nil {
			return withDetails(err)
		}
		return writeUser(c, http.StatusOK, u)
	}
}

// unlockUser is POST /admin/realms/{realm}/users/{id}/unlock: the user's
// sign-in lock ends on every replica, with a user.unlocked event.
func (a *api) unlockUser(c echo.Context) error {
	rl, u, err := a.userOf(c)
	if err != nil {
		return err
	}
	if u, err = rl.Users().Unlock(c.Request().Context(), u.ID, callerOf(c).meta(c, a)); err != nil {
		return err
	}
	return writeUser(c, http.StatusOK, u)
}

// deleteUser is DELETE /admin/realms/{realm}/users/{id}: permanent; revokes
// every token issued for the user and removes the password hash.
func (a *api) deleteUser(c echo.Context) error {
	rl, u, err := a.userOf(c)
	if err != nil {
		return err
	}
	if err := rl.Users().Delete(c.Request().Context(), u.ID, callerOf(c).meta(c, a)); err != nil {
		return withDetails(err)
	}
	return c.NoContent(http.StatusNoContent)
}

// uiSessionView is one browser session in the admin UI-sessions view.
// Times are Unix seconds.
type uiSessionView struct {
	ID         string `json:"id"`
	UserID     string `json:"user_id"`
	Username   string `json:"username"`
	Device     string `json:"device"`
	Browser    string `json:"browser"`
	IP         string `json:"ip"`
	LastActive int64  `json:"last_active"`
	ExpiresAt  int64  `json:"expires_at"`
}

// uiSessionsOf reads the realm and ?user_id= of the UI-sessions list:
// empty for every user, else a user that must exist (404).
func (a *api) uiSessionsOf(c echo.Context) (*realms.Realm, string, error) {
	rl, err := a.realmOf(c)
	if err != nil {
		return nil, "", err
	}
	userID := c.QueryParam("user_id")
	if userID != "" {
		if _, err := rl.Users().Get(userID); err != nil {
			return nil, "", err
		}
	}
	return rl, userID, nil
}

// listUISessions is GET /admin/realms/{realm}/ui-sessions?user_id=: the
// browser sessions still valid, newest first. Sessions of deleted users,
// which can never sign in again, are left out.
func (a *api) listUISessions(c echo.Context) error {
	rl, userID, err := a.uiSessionsOf(c)
	if err != nil {
		return err
	}
	out := []uiSessionView{}
	users := rl.Users()
	for _, s := range rl.Sessions().List(userID, a.now().Unix()) {
		u, err := users.Get(s.UserID)
		if err != nil {
			continue
		}
		out = append(out, uiSessionView{
			ID: s.SessionID, UserID: s.UserID, Username: u.Username, Device: s.Device, Browser: s.Browser,
			IP: s.IP, LastActive: s.LastActive, ExpiresAt: s.ExpiresAt,
		})
	}
	return c.JSON(http.StatusOK, map[string]any{"sessions": out})
}

// endUISessions is DELETE /admin/realms/{realm}/ui-sessions?user_id=:
// every browser session of the user, or without user_id of the realm, ends.
func (a *api) endUISessions(c echo.Context) error {
	rl, userID, err := a.uiSessionsOf(c)
	if err != nil {
		return err
	}
	// Not cut short by the caller hanging up: half the sessions ended
	// would be an answer nobody received.
	ended := rl.Sessions().EndAll(context.WithoutCancel(c.Request().Context()), userID, "ended by an administrator", callerOf(c).meta(c, a))
	return c.JSON(http.StatusOK, map[string]int{"ended": ended})
}

// endUISession is DELETE /admin/realms/{realm}/ui-sessions/{id}: the
// browser is signed out at its next request.
func (a *api) endUISession(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	if err := rl.Sessions().End(c.Request().Context(), c.Param("id"), "ended by an administrator", callerOf(c).meta(c, a)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
