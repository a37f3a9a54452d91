package handlers

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
)

// The console's pages: html/template, each page a file that defines
// "content" inside layout.html; one stylesheet and one script of our own,
// embedded. Nothing is built: `go run ./cmd/latchkey serve` serves them.

//go:embed templates/console
var consoleFS embed.FS

var consolePages = parseConsolePages()

var consoleFuncs = template.FuncMap{
	"time":     formatUnix,
	"lifetime": formatLifetime,
	"join":     func(s []string) string { return strings.Join(s, ", ") },
	"has":      func(s []string, v string) bool { return slices.Contains(s, v) },
	"short": func(s string) string {
		if len(s) > 8 {
			return s[:8]
		}
		return s
	},
	"string": func(v []byte) string { return string(v) },
	// shortref shortens the id of "user:<id>" or "client/<id>" to its
	// first 8 characters when it is long (the whole one goes in a title).
	"shortref": func(s string) string {
		i := strings.LastIndexAny(s, ":/")
		if i < 0 || len(s)-i-1 <= 12 {
			return s
		}
		return s[:i+9] + "…"
	},
	// level names a warning's severity in words: colour alone says
	// nothing to a screen reader.
	"level": func(l string) string {
		return map[string]string{"info": "Note: ", "warning": "Warning: ", "high": "High risk: "}[l]
	},
}

// parseConsolePages parses every page with the layout.
func parseConsolePages() map[string]*template.Template {
	base := template.Must(template.New("layout.html").Funcs(consoleFuncs).ParseFS(consoleFS,
		"templates/console/layout.html", "templates/console/partials/*.html"))
	names, err := fs.Glob(consoleFS, "templates/console/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, name := range names {
		if path.Base(name) == "layout.html" {
			continue
		}
		out[path.Base(name)] = template.Must(template.Must(base.Clone()).ParseFS(consoleFS, name))
	}
	return out
}

// consoleView is what every console page gets.
type consoleView struct {
	Title string
	// Home is the realm the console is signed in to; empty before sign-in.
	Home string
	// Realm is the realm a realm page manages.
	Realm   string
	User    string
	CSRF    string
	Section string
	Nav     []navLink
	Admin   bool // the user administers some realm
	Flash   string
	Error   string
	Details []string
	Data    any
}

// navLink is a section of a realm's pages.
type navLink struct{ Section, Label, Href string }

// realmSections are a realm's pages, in the navigation's order, with the
// area each needs.
var realmSections = []struct {
	section, label, page string
	area                 domain.AdminArea
}{
	{"overview", "Realm", "/", domain.AreaRealm},
	{"clients", "OAuth clients", "/clients", domain.AreaClients},
	{"sessions", "Active sessions", "/sessions", domain.AreaSessions},
	{"users", "Users", "/users", domain.AreaUsers},
	{"structure", "Structure", "/structure", domain.AreaStructure},
	{"scopes", "Scopes", "/scopes", domain.AreaStructure},
	{"audit", "Audit log", "/audit", domain.AreaAudit},
}

// view starts the view of a signed-in page; section names the realm page
// shown ("" for pages outside a realm).
func (a *api) view(c echo.Context, title, section string) *consoleView {
	cc := consoleOf(c)
	name := cc.user.DisplayName
	if name == "" {
		name = cc.user.Username
	}
	v := &consoleView{Title: title, Home: cc.home.Name, User: name, CSRF: cc.csrf, Section: section}
	for _, rl := range a.reg.List() {
		if cc.p.may(rl.Name) {
			v.Admin = true
			break
		}
	}
	if cc.realm != nil {
		v.Realm = cc.realm.Name
		for _, s := range realmSections {
			if cc.p.can(cc.realm.Name, s.area) {
				v.Nav = append(v.Nav, navLink{Section: s.section, Label: s.label, Href: cc.realmPath(s.page)})
			}
		}
	}
	if done := c.QueryParam("done"); done != "" {
		v.Flash = flashes[done]
		n, err := strconv.Atoi(c.QueryParam("n"))
		if err != nil || n < 0 {
			v.Flash = strings.ReplaceAll(v.Flash, "%n clients were", "The clients were")
			v.Flash = strings.ReplaceAll(v.Flash, "%n browser sessions were", "The browser sessions were")
		}
		v.Flash = strings.ReplaceAll(v.Flash, "%n", strconv.Itoa(n))
	}
	return v
}

// flashes are the messages a redirect after an action may ask a page to
// show (?done=...): fixed texts, never the caller's.
var flashes = map[string]string{
	"realm-created":    "The realm was created.",
	"settings":         "The settings were saved.",
	"keys-rotated":     "New signing keys were added; the old ones verify tokens until they expire.",
	"client-saved":     "The client was saved.",
	"client-enabled":   "The client is enabled: it gets tokens again.",
	"client-disabled":  "The client is disabled: its tokens are revoked and it gets no new ones.",
	"client-deleted":   "The client was deleted and its tokens revoked.",
	"clients-deleted":  "%n clients were deleted and their tokens revoked.",
	"token-revoked":    "The token was revoked.",
	"tokens-revoked":   "Every token of that app was revoked.",
	"session-ended":    "The browser session was ended.",
	"sessions-ended":   "%n browser sessions were ended.",
	"user-created":     "The user was created.",
	"user-saved":       "The user was saved.",
	"password-set":     "The password was set; the user's browser sessions ended.",
	"user-unlocked":    "The user's sign-in lock was lifted, and their failed sign-ins forgotten.",
	"node-created":     "The node was added.",
	"node-renamed":     "The node was renamed.",
	"node-deleted":     "The node was removed.",
	"scope-saved":      "The scope was saved.",
	"scope-deleted":    "The scope was removed.",
	"console-disabled": "The console of this realm is disabled.",
	"console-enabled":  "The console of this realm is enabled.",
}

// renderConsole writes a console page. Pages show data: never stored.
func renderConsole(c echo.Context, status int, name string, v *consoleView) error {
	t, ok := consolePages[name]
	if !ok {
		return echo.NewHTTPError(http.StatusInternalServerError, "no console page "+name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", v); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	return c.HTMLBlob(status, buf.Bytes())
}

// renderConsoleError answers a console request that failed with an error
// page, in the signed-in layout when there is a session.
func renderConsoleError(c echo.Context, status int, body apiError) {
	v := &consoleView{}
	if cc, ok := c.Get(consoleCtxKey).(*consoleCtx); ok {
		v = &consoleView{Home: cc.home.Name, User: cc.user.Username, CSRF: cc.csrf}
		if cc.realm != nil {
			v.Realm = cc.realm.Name
		}
	}
	v.Title = http.StatusText(status)
	v.Error = body.Description
	if v.Error == "" {
		v.Error = http.StatusText(status)
	}
	v.Details = body.Details
	if len(body.MissingIDs) > 0 {
		v.Details = append(v.Details, "No client has these ids: "+strings.Join(body.MissingIDs, ", "))
	}
	v.Data = status
	_ = renderConsole(c, status, "error.html", v)
}

// formatUnix shows Unix seconds as UTC; 0 is "—".
func formatUnix(sec int64) string {
	if sec == 0 {
		return "—"
	}
	return time.Unix(sec, 0).UTC().Format("2006-01-02 15:04:05 UTC")
}

// formatLifetime shows seconds in the largest whole unit.
func formatLifetime(sec int64) string {
	unit := func(n int64, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return strconv.FormatInt(n, 10) + " " + one + "s"
	}
	switch {
	case sec > 0 && sec%86400 == 0:
		return unit(sec/86400, "day")
	case sec > 0 && sec%3600 == 0:
		return unit(sec/3600, "hour")
	case sec > 0 && sec%60 == 0:
		return unit(sec/60, "minute")
	}
	return unit(sec, "second")
}

// consoleAsset serves the console's stylesheet and script.
func consoleAsset(c echo.Context) error {
	name := c.Param("file")
	var mime string
	switch path.Ext(name) {
	case ".css":
		mime = "text/css; charset=utf-8"
	case ".js":
		mime = "text/javascript; charset=utf-8"
	default:
		return echo.ErrNotFound
	}
	raw, err := consoleFS.ReadFile("templates/console/assets/" + path.Base(name))
	if err != nil {
		return echo.ErrNotFound
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.Blob(http.StatusOK, mime, raw)
}
