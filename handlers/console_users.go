package handlers

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

// Users of a realm: list and search, create, and each user's page:
// profile, status, password reset, memberships on the node tree, realm
// roles, and a locked username.

// usersPage is the body of users.html.
type usersPage struct {
	Q, Next, First, Action string
	Total                  int
	Users                  []*domain.User
	// New is the create form sent back with its error.
	New   realms.NewUser
	Roles []string
}

// userPage is the body of user.html.
type userPage struct {
	User        *domain.User
	Nodes       []membershipRow
	Roles       []string
	NodeRoles   []string
	LockedUntil int64
	Action      string
}

// membershipRow is a node of the tree with the user's role on it.
type membershipRow struct {
	nodeOption
	Role string
}

const userPageSize = 50

func (a *api) consoleUserRoutes(g *echo.Group) {
	r := g.Group("/realms/:realm/users", a.consoleArea(domain.AreaUsers))
	r.GET("", a.consoleUsers)
	r.POST("", a.consoleCreateUser)
	r.GET("/:id", a.consoleUser)
	r.POST("/:id/profile", a.consoleUserProfile)
	r.POST("/:id/status", a.consoleUserStatus)
	r.POST("/:id/password", a.consoleUserPassword)
	r.POST("/:id/memberships", a.consoleUserMemberships)
	r.POST("/:id/realm-roles", a.consoleUserRealmRoles)
	r.POST("/:id/unlock", a.consoleUserUnlock)
}

// consoleUsers is GET .../users?q=&cursor=.
func (a *api) consoleUsers(c echo.Context) error {
	return a.renderUsers(c, http.StatusOK, realms.NewUser{}, "")
}

func (a *api) renderUsers(c echo.Context, status int, nu realms.NewUser, problem string) error {
	cc := consoleOf(c)
	q := c.QueryParam("q")
	var after string
	if cur := c.QueryParam("cursor"); cur != "" {
		raw, err := base64.RawURLEncoding.DecodeString(cur)
		if err != nil || len(raw) == 0 {
			return badRequest("malformed cursor")
		}
		after = string(raw)
	}
	page := cc.realm.Users().Page(q, after, userPageSize)
	out := usersPage{Q: q, Total: page.Total, Users: page.Users, Action: cc.realmPath("/users"), New: nu, Roles: domain.RealmRoles}
	keep := url.Values{}
	if q != "" {
		keep.Set("q", q)
	}
	if after != "" {
		out.First = "?" + keep.Encode()
	}
	if page.Next != "" {
		keep.Set("cursor", base64.RawURLEncoding.EncodeToString([]byte(page.Next)))
		out.Next = "?" + keep.Encode()
	}
	v := a.view(c, "Users", "users")
	v.Error, v.Data = problem, out
	return renderConsole(c, status, "users.html", v)
}

// consoleCreateUser is POST .../users.
func (a *api) consoleCreateUser(c echo.Context) error {
	cc := consoleOf(c)
	f := cc.form
	nu := realms.NewUser{
		UserProfile: domain.UserProfile{Username: f.Get("username"), Email: strings.TrimSpace(f.Get("email")), DisplayName: f.Get("display_name")},
		Password:    f.Get("password"), Memberships: []domain.Membership{}, RealmRoles: nonNilStrings(f["realm_role"]),
	}
	u, err := cc.realm.Users().Create(c.Request().Context(), nu, cc.meta(c, a))
	if status, msg, ok := a.formProblem(c, err); ok {
		nu.Password = "" // never sent back
		return a.renderUsers(c, status, nu, msg)
	} else if err != nil {
		return err
	}
	return seeOther(c, cc.realmPath("/users/"+u.ID+"?done=user-created"))
}

// consoleUser is GET .../users/{id}.
func (a *api) consoleUser(c echo.Context) error {
	cc := consoleOf(c)
	u, err := cc.realm.Users().Get(c.Param("id"))
	if err != nil {
		return err
	}
	return a.renderUser(c, http.StatusOK, u, "")
}

func (a *api) renderUser(c echo.Context, status int, u *domain.User, problem string) error {
	cc := consoleOf(c)
	page := userPage{User: u, Roles: domain.RealmRoles, NodeRoles: domain.Roles, Action: cc.realmPath("/users/" + u.ID)}
	if u.LockedUntil > a.now().Unix() {
		page.LockedUntil = u.LockedUntil
	}
	for _, n := range nodeTree(cc.realm) {
		row := membershipRow{nodeOption: n}
		for _, m := range u.Memberships {
			if m.Node == n.Slug {
				row.Role = m.Role
			}
		}
		page.Nodes = append(page.Nodes, row)
	}
	v := a.view(c, "User "+u.Username, "users")
	v.Error, v.Data = problem, page
	return renderConsole(c, status, "user.html", v)
}

// userAction runs an action on the user a path names, and shows the user
// again: with the error for a refused input, else after a redirect.
func (a *api) userAction(c echo.Context, done string, act func(cc *consoleCtx, u *domain.User) error) error {
	cc := consoleOf(c)
	u, err := cc.realm.Users().Get(c.Param("id"))
	if err != nil {
		return err
	}
	err = act(cc, u)
	if status, msg, ok := a.formProblem(c, err); ok {
		if fresh, gerr := cc.realm.Users().Get(u.ID); gerr == nil {
			u = fresh
		}
		return a.renderUser(c, status, u, msg)
	} else if err != nil {
		return err
	}
	return seeOther(c, cc.realmPath("/users/"+u.ID+"?done="+done))
}

func (a *api) consoleUserProfile(c echo.Context) error {
	return a.userAction(c, "user-saved", func(cc *consoleCtx, u *domain.User) error {
		p := domain.UserProfile{Username: cc.form.Get("username"), Email: strings.TrimSpace(cc.form.Get("email")), DisplayName: cc.form.Get("display_name")}
		_, err := cc.realm.Users().Update(c.Request().Context(), u.ID, p, cc.meta(c, a))
		return err
	})
}

// consoleUserStatus disables (revoking every token issued for the user,
// ending their browser sessions) or enables a user.
func (a *api) consoleUserStatus(c echo.Context) error {
	return a.userAction(c, "user-saved", func(cc *consoleCtx, u *domain.User) error {
		status := cc.form.Get("status")
		if status != domain.StatusEnabled && status != domain.StatusDisabled {
			return badRequest("status must be enabled or disabled")
		}
		_, err := cc.realm.Users().SetEnabled(c.Request().Context(), u.ID, status == domain.StatusEnabled, cc.meta(c, a))
		return err
	})
}

func (a *api) consoleUserPassword(c echo.Context) error {
	return a.userAction(c, "password-set", func(cc *consoleCtx, u *domain.User) error {
		return cc.realm.Users().SetPassword(c.Request().Context(), u.ID, cc.form.Get("password"), cc.meta(c, a))
	})
}

// consoleUserMemberships replaces the user's memberships: a role (or none)
// per node, from fields role:<slug>.
func (a *api) consoleUserMemberships(c echo.Context) error {
	return a.userAction(c, "user-saved", func(cc *consoleCtx, u *domain.User) error {
		ms := []domain.Membership{}
		for _, n := range nodeTree(cc.realm) {
			if role := cc.form.Get("role:" + n.Slug); role != "" {
				ms = append(ms, domain.Membership{Node: n.Slug, Role: role})
			}
		}
		_, err := cc.realm.Users().SetMemberships(c.Request().Context(), u.ID, ms, cc.meta(c, a))
		return err
	})
}

// consoleUserUnlock lifts a sign-in lock of the user's username, as
// POST .../users/{id}/unlock does (a user.unlocked audit entry).
func (a *api) consoleUserUnlock(c echo.Context) error {
	return a.userAction(c, "user-unlocked", func(cc *consoleCtx, u *domain.User) error {
		_, err := cc.realm.Users().Unlock(c.Request().Context(), u.ID, cc.meta(c, a))
		return err
	})
}

func (a *api) consoleUserRealmRoles(c echo.Context) error {
	return a.userAction(c, "user-saved", func(cc *consoleCtx, u *domain.User) error {
		roles := nonNilStrings(cc.form["realm_role"])
		slices.Sort(roles)
		_, err := cc.realm.Users().SetRealmRoles(c.Request().Context(), u.ID, roles, cc.meta(c, a))
		return err
	})
}
