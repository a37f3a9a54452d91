package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"

	"github.com/latchkeyhq/latchkey/cmd/latchkey/adminclient"
)

// apiTokenSession is one access token in the connected-apps view.
type apiTokenSession struct {
	ClientID   string `json:"client_id"`
	ClientName string `json:"client_name"`
	JTI        string `json:"jti"`
	Status     string `json:"status"`
	Subject    string `json:"sub"`
	Scope      string `json:"scope"`
	IssuedAt   int64  `json:"issued_at"`
	LastUsed   int64  `json:"last_used"`
	ExpiresAt  int64  `json:"expires_at"`
}

// apiBrowserSession is one browser session.
type apiBrowserSession struct {
	ID         string `json:"id"`
	UserID     string `json:"user_id"`
	Username   string `json:"username"`
	Device     string `json:"device"`
	Browser    string `json:"browser"`
	IP         string `json:"ip"`
	LastActive int64  `json:"last_active"`
	ExpiresAt  int64  `json:"expires_at"`
}

func init() {
	registerGroup(verbGroup{name: "sessions", summary: "Access tokens a realm handed out, and its users' browser sessions.", verbs: []verb{
		{name: "sessions list",
			summary: "List access tokens (every page), or with --browser the browser sessions still valid.",
			example: "latchkey sessions list --realm acme --client-id 3f9c… --status active\nlatchkey sessions list --browser --user alice",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				clientID := fs.String("client-id", "", "tokens of this client")
				subject := fs.String("subject", "", "tokens of this subject (a user's id, or a client's)")
				status := fs.String("status", "", "active, expired or revoked")
				browser := fs.Bool("browser", false, "list browser sessions instead of tokens")
				user := fs.String("user", "", "with --browser: one user's sessions (id or username)")
				return func(ctx context.Context, _ []string) error {
					if *browser {
						if *clientID != "" || *subject != "" || *status != "" {
							return usageError(errors.New("sessions list --browser takes --user only"))
						}
						return s.listBrowserSessions(ctx, *user)
					}
					if *user != "" {
						return usageError(errors.New("--user goes with --browser; tokens are filtered by --subject"))
					}
					q := url.Values{}
					for k, v := range map[string]string{"client_id": *clientID, "subject": *subject, "status": *status} {
						if v != "" {
							q.Set(k, v)
						}
					}
					items, err := s.allPages(ctx, "list sessions", s.realmPath("/sessions"), q, "sessions", "next_cursor")
					if err != nil {
						return err
					}
					return printList(s, items, []string{"JTI", "CLIENT", "SUBJECT", "STATUS", "SCOPE", "ISSUED", "EXPIRES", "LAST USED"}, func(ts apiTokenSession) []string {
						return []string{ts.JTI, ts.ClientName, ts.Subject, ts.Status, ts.Scope, unixTime(ts.IssuedAt), unixTime(ts.ExpiresAt), unixTime(ts.LastUsed)}
					})
				}
			}},
		{name: "sessions revoke", args: "[JTI]", nargs: 1, optional: true,
			summary: "Revoke one token (JTI), every token of a client (--client), or end browser sessions (--browser ID, --user, --all-browser).",
			example: "latchkey sessions revoke 0190f3c4-…          # one access token\n" +
				"latchkey sessions revoke --client 3f9c…     # every token of a client\n" +
				"latchkey sessions revoke --browser 7d1e…    # one browser session\n" +
				"latchkey sessions revoke --user alice       # every browser session of alice",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				client := fs.String("client", "", "revoke every token this client holds")
				browser := fs.String("browser", "", "end this browser session")
				user := fs.String("user", "", "end every browser session of this user (id or username)")
				allBrowser := fs.Bool("all-browser", false, "end every browser session of the realm")
				return func(ctx context.Context, args []string) error {
					targets := 0
					for _, given := range []bool{len(args) > 0, *client != "", *browser != "", *user != "", *allBrowser} {
						if given {
							targets++
						}
					}
					if targets != 1 {
						return usageError(errors.New("sessions revoke: give exactly one of JTI, --client, --browser, --user, --all-browser"))
					}
					var r adminclient.Request
					var what, done string
					switch {
					case len(args) > 0:
						r = adminclient.Request{Method: http.MethodDelete, Path: s.realmPath("/tokens/" + url.PathEscape(args[0]))}
						what, done = "revoke token "+args[0], "Revoked token "+args[0]+"."
					case *client != "":
						r = adminclient.Request{Method: http.MethodPost, Path: s.clientPath(*client, "/revoke-tokens")}
						what, done = "revoke the tokens of client "+*client, "Revoked every token of client "+*client+"."
					case *browser != "":
						r = adminclient.Request{Method: http.MethodDelete, Path: s.realmPath("/ui-sessions/" + url.PathEscape(*browser))}
						what, done = "end browser session "+*browser, "Ended browser session "+*browser+"."
					default:
						q := ""
						what = "end the browser sessions of realm " + s.realm
						if *user != "" {
							id, err := s.userID(ctx, *user)
							if err != nil {
								return err
							}
							q, what = "?user_id="+url.QueryEscape(id), "end the browser sessions of "+*user
						}
						r = adminclient.Request{Method: http.MethodDelete, Path: s.realmPath("/ui-sessions" + q)}
					}
					resp, err := s.call(ctx, what, r)
					if err != nil {
						return err
					}
					if done == "" {
						var n struct {
							Ended int `json:"ended"`
						}
						if err := resp.Decode(&n); err != nil {
							return err
						}
						done = fmt.Sprintf("Ended %d browser sessions.", n.Ended)
					}
					fmt.Fprintln(s.io.stdout, done)
					return nil
				}
			}},
	}})
}

func (s *session) listBrowserSessions(ctx context.Context, user string) error {
	q := ""
	if user != "" {
		id, err := s.userID(ctx, user)
		if err != nil {
			return err
		}
		q = "?user_id=" + url.QueryEscape(id)
	}
	items, err := s.onePage(ctx, "list browser sessions", s.realmPath("/ui-sessions"+q), "sessions")
	if err != nil {
		return err
	}
	return printList(s, items, []string{"ID", "USERNAME", "DEVICE", "BROWSER", "IP", "LAST ACTIVE", "EXPIRES"}, func(b apiBrowserSession) []string {
		return []string{b.ID, b.Username, b.Device, b.Browser, b.IP, unixTime(b.LastActive), unixTime(b.ExpiresAt)}
	})
}
