package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/latchkeyhq/latchkey/cmd/latchkey/adminclient"
	"github.com/latchkeyhq/latchkey/domain"
)

// apiUser is a user as the admin API shows it.
type apiUser struct {
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

// realmRoles is a repeatable --role flag.
type realmRoles []string

func (r *realmRoles) String() string     { return "" }
func (r *realmRoles) Set(s string) error { *r = append(*r, s); return nil }

// memberships is a repeatable --member node=role flag.
type memberships []domain.Membership

func (m *memberships) String() string { return "" }
func (m *memberships) Set(s string) error {
	ms, err := parseMembership(s)
	if err == nil {
		*m = append(*m, ms)
	}
	return err
}

func init() {
	const userArg = "USER" // an id, or a username
	registerGroup(verbGroup{name: "user", summary: "People who sign in to a realm. USER is a user's id or username.", verbs: []verb{
		{name: "user create",
			summary: "Create a user. With --password the password is read from LATCHKEY_USER_PASSWORD, stdin or a prompt.",
			example: "latchkey user create --realm acme --username alice --email alice@example.com --member eng=editor --password",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				username := fs.String("username", "", "username: letters, digits, '.', '_', '-', '@' (required)")
				email := fs.String("email", "", "email address")
				display := fs.String("display-name", "", "name shown to people (default: the username)")
				var ms memberships
				fs.Var(&ms, "member", "node=role (viewer, editor or admin); repeatable")
				withPassword := fs.Bool("password", false, "set a password (read from LATCHKEY_USER_PASSWORD, stdin or a prompt)")
				return func(ctx context.Context, _ []string) error {
					if *username == "" {
						return usageError(errors.New("user create: --username is required"))
					}
					body := map[string]any{"username": *username, "email": *email, "display_name": *display, "memberships": nonNilMemberships(ms)}
					if *withPassword {
						pw, err := s.io.readSecret("LATCHKEY_USER_PASSWORD", "Password for "+*username)
						if err != nil {
							return err
						}
						body["password"] = pw
					}
					resp, err := s.call(ctx, "create user "+*username, adminclient.Request{Method: http.MethodPost, Path: s.realmPath("/users"), Body: body})
					if err != nil {
						return err
					}
					return s.showUser(resp)
				}
			}},
		{name: "user list",
			summary: "List users by username, every page.",
			example: "latchkey user list --realm acme --q example.com",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				q := fs.String("q", "", "part of the username or email, any case")
				return func(ctx context.Context, _ []string) error {
					query := url.Values{}
					if *q != "" {
						query.Set("q", *q)
					}
					items, err := s.allPages(ctx, "list users", s.realmPath("/users"), query, "users", "next_cursor")
					if err != nil {
						return err
					}
					if s.json {
						return printJSONList(s.io.stdout, items)
					}
					t := newTable(s.io.stdout, "ID", "USERNAME", "EMAIL", "STATUS", "MEMBERSHIPS")
					for _, raw := range items {
						var u apiUser
						_ = json.Unmarshal(raw, &u)
						t.row(u.ID, u.Username, u.Email, u.Status, membershipList(u.Memberships))
					}
					return t.flush()
				}
			}},
		userAction("get", "Show one user (never the password).", http.MethodGet, ""),
		userAction("disable", "Disable a user: every token issued for them is revoked.", http.MethodPost, "/disable"),
		userAction("enable", "Enable a user.", http.MethodPost, "/enable"),
		userAction("unlock", "Lift a user's sign-in lock on every replica: the failed sign-ins of their username are forgotten (user.unlocked in the audit log).", http.MethodPost, "/unlock"),
		{name: "user set-password", args: userArg, nargs: 1,
			summary: "Set a user's password, read from LATCHKEY_USER_PASSWORD, stdin or a prompt; their browser sessions end.",
			example: "latchkey user set-password alice --realm acme",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				return func(ctx context.Context, args []string) error {
					id, err := s.userID(ctx, args[0])
					if err != nil {
						return err
					}
					pw, err := s.io.readSecret("LATCHKEY_USER_PASSWORD", "New password for "+args[0])
					if err != nil {
						return err
					}
					if _, err := s.call(ctx, "set the password of user "+args[0], adminclient.Request{Method: http.MethodPut, Path: s.userPath(id, "/password"), Body: map[string]string{"password": pw}}); err != nil {
						return err
					}
					fmt.Fprintf(s.io.stdout, "The password of %s is set.\n", args[0])
					return nil
				}
			}},
		{name: "user set-memberships", args: userArg, nargs: 1,
			summary: "Replace a user's memberships with those given (--none removes every one).",
			example: "latchkey user set-memberships alice --member eng=admin --member ops=viewer\nlatchkey user set-memberships alice --none",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				var ms memberships
				fs.Var(&ms, "member", "node=role (viewer, editor or admin); repeatable")
				none := fs.Bool("none", false, "remove every membership")
				return func(ctx context.Context, args []string) error {
					if (len(ms) == 0) == !*none {
						return usageError(errors.New("user set-memberships: give --member node=role (repeatable) or --none"))
					}
					id, err := s.userID(ctx, args[0])
					if err != nil {
						return err
					}
					resp, err := s.call(ctx, "set the memberships of user "+args[0], adminclient.Request{Method: http.MethodPut, Path: s.userPath(id, "/memberships"),
						Body: map[string]any{"memberships": nonNilMemberships(ms)}})
					if err != nil {
						return err
					}
					return s.showUser(resp)
				}
			}},
		{name: "user set-realm-roles", args: userArg, nargs: 1,
			summary: "Replace a user's realm roles with those given (--none takes every one away): " + strings.Join(domain.RealmRoles, ", ") + ".",
			example: "latchkey user set-realm-roles alice --role client-manager --role auditor\nlatchkey user set-realm-roles alice --none",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				var roles realmRoles
				fs.Var(&roles, "role", "a realm role ("+strings.Join(domain.RealmRoles, ", ")+"); repeatable")
				none := fs.Bool("none", false, "take every realm role away")
				return func(ctx context.Context, args []string) error {
					if (len(roles) == 0) == !*none {
						return usageError(errors.New("user set-realm-roles: give --role ROLE (repeatable) or --none"))
					}
					id, err := s.userID(ctx, args[0])
					if err != nil {
						return err
					}
					if roles == nil {
						roles = realmRoles{}
					}
					resp, err := s.call(ctx, "set the realm roles of user "+args[0], adminclient.Request{Method: http.MethodPut, Path: s.userPath(id, "/realm-roles"),
						Body: map[string]any{"realm_roles": []string(roles)}})
					if err != nil {
						return err
					}
					return s.showUser(resp)
				}
			}},
		{name: "user delete", args: userArg, nargs: 1,
			summary: "Delete a user for good: their tokens are revoked and their password removed.",
			example: "latchkey user delete alice --realm acme",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				return func(ctx context.Context, args []string) error {
					id, err := s.userID(ctx, args[0])
					if err != nil {
						return err
					}
					if _, err := s.call(ctx, "delete user "+args[0], adminclient.Request{Method: http.MethodDelete, Path: s.userPath(id, "")}); err != nil {
						return err
					}
					fmt.Fprintf(s.io.stdout, "Deleted user %s of realm %s.\n", args[0], s.realm)
					return nil
				}
			}},
	}})
}

// userAction is a request on one user that answers with the user.
func userAction(name, summary, method, suffix string) verb {
	return verb{name: "user " + name, args: "USER", nargs: 1, summary: summary,
		example: "latchkey user " + name + " alice --realm acme",
		define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
			return func(ctx context.Context, args []string) error {
				id, err := s.userID(ctx, args[0])
				if err != nil {
					return err
				}
				resp, err := s.call(ctx, name+" user "+args[0], adminclient.Request{Method: method, Path: s.userPath(id, suffix)})
				if err != nil {
					return err
				}
				return s.showUser(resp)
			}
		}}
}

var uuidLike = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// userID reads USER: an id as it is, a username looked up (usernames are
// unique in a realm, in any case).
func (s *session) userID(ctx context.Context, user string) (string, error) {
	if uuidLike.MatchString(user) {
		return user, nil
	}
	items, err := s.allPages(ctx, "find user "+user, s.realmPath("/users"), url.Values{"q": {user}}, "users", "next_cursor")
	if err != nil {
		return "", err
	}
	for _, raw := range items {
		var u apiUser
		if json.Unmarshal(raw, &u) == nil && strings.EqualFold(u.Username, user) {
			return u.ID, nil
		}
	}
	return "", fmt.Errorf("realm %s has no user %s", s.realm, user)
}

func (s *session) userPath(id, suffix string) string {
	return s.realmPath("/users/" + url.PathEscape(id) + suffix)
}

func (s *session) showUser(resp *adminclient.Response) error {
	if s.json {
		return printJSON(s.io.stdout, resp.Body)
	}
	var u apiUser
	if err := resp.Decode(&u); err != nil {
		return err
	}
	return fields(s.io.stdout, "id", u.ID, "username", u.Username, "email", u.Email, "display_name", u.DisplayName,
		"status", u.Status, "memberships", membershipList(u.Memberships), "realm_roles", list(u.RealmRoles),
		"has_password", strconv.FormatBool(u.HasPassword),
		"version", strconv.FormatUint(u.Version, 10))
}

func membershipList(ms []domain.Membership) string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.Node+"="+m.Role)
	}
	return list(out)
}

func nonNilMemberships(ms []domain.Membership) []domain.Membership {
	if ms == nil {
		return []domain.Membership{}
	}
	return ms
}
