package handlers

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

// The audit log of a realm: entries with their summary and changes,
// filtered; a live tail (Server-Sent Events, resumable); the filtered
// range exported as NDJSON; and the history verified against its
// checkpoint chain. Read from the audit queries (rl.History()), never
// from a read model of its own.

// auditPage is the body of audit.html.
type auditPage struct {
	Filter  auditForm
	Entries []realms.AuditEntry
	// Next is the query of the next page; Export and Stream the URLs of
	// the export and the live tail with the same filters.
	Next, Export, Stream, Verify, Action string
	// ActorNames are the usernames of the users the entries name as
	// actors (of the realm, or of the console's realm).
	ActorNames map[string]string
}

// auditForm is the filter form's values as sent.
type auditForm struct{ ClientID, Actor, Type, Target, Since, Until string }

// consoleTimeLayouts are the times a datetime-local input sends, read as
// UTC, besides RFC 3339.
var consoleTimeLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05"}

const auditConsolePage = 50

func (a *api) consoleAuditRoutes(g *echo.Group) {
	r := g.Group("/realms/:realm/audit", a.consoleArea(domain.AreaAudit))
	r.GET("", a.consoleAudit)
	r.GET("/export", a.consoleAuditExport)
	r.GET("/stream", a.consoleAuditStream)
	r.GET("/verify", a.consoleAuditVerify)
}

// filterQuery keeps the filter parameters of a query.
func filterQuery(q url.Values) url.Values {
	out := url.Values{}
	for _, k := range []string{"client_id", "actor", "type", "target", "since", "until"} {
		if v := q.Get(k); v != "" {
			out.Set(k, v)
		}
	}
	return out
}

// consoleAudit is GET .../audit?client_id=&actor=&type=&target=&since=&until=&cursor=.
func (a *api) consoleAudit(c echo.Context) error {
	cc := consoleOf(c)
	rl := cc.realm
	ctx := c.Request().Context()
	q := c.QueryParams()
	f, bad := parseAuditFilter(q, consoleTimeLayouts...)
	if bad != "" {
		return badRequest(bad)
	}
	var from realms.AuditPos
	var err error
	if s := q.Get("cursor"); s != "" {
		var ok bool
		if from, ok = realms.ParseAuditCursor(s); !ok {
			return badRequest("cursor is not one this page made")
		}
	} else if from, err = rl.History().AuditTop(ctx, f); err != nil {
		return err
	}
	page := auditPage{
		Filter: auditForm{ClientID: q.Get("client_id"), Actor: q.Get("actor"), Type: q.Get("type"), Target: q.Get("target"), Since: q.Get("since"), Until: q.Get("until")},
		Action: cc.realmPath("/audit"), Verify: cc.realmPath("/audit/verify"),
	}
	var last realms.AuditPos
	end, more, err := rl.History().ScanAudit(ctx, f, from, auditPageBudget, func(e realms.AuditEntry, at realms.AuditPos) bool {
		if len(page.Entries) == auditConsolePage {
			return false
		}
		page.Entries = append(page.Entries, e)
		last = at
		return true
	}, nil)
	if err != nil {
		return err
	}
	page.ActorNames = actorNames(page.Entries, rl, cc.home)
	keep := filterQuery(q)
	page.Export = cc.realmPath("/audit/export?" + keep.Encode())
	stream := filterQuery(q)
	lastSeq, err := rl.History().LastSeq(ctx)
	if err != nil {
		return err
	}
	stream.Set("last_event_id", strconv.FormatUint(lastSeq, 10))
	page.Stream = cc.realmPath("/audit/stream?" + stream.Encode())
	if more {
		if len(page.Entries) < auditConsolePage {
			last = end
		}
		keep.Set("cursor", last.Cursor())
		page.Next = "?" + keep.Encode()
	}
	v := a.view(c, "Audit log", "audit")
	v.Data = page
	return renderConsole(c, http.StatusOK, "audit.html", v)
}

// actorNames finds the usernames of the users entries name as actors, in
// the realms given, first match wins.
func actorNames(entries []realms.AuditEntry, in ...*realms.Realm) map[string]string {
	out := map[string]string{}
	for _, e := range entries {
		id, ok := strings.CutPrefix(e.Actor, "user:")
		if _, done := out[e.Actor]; !ok || done {
			continue
		}
		for _, rl := range in {
			if u, err := rl.Users().Get(id); err == nil {
				out[e.Actor] = u.Username + " (" + rl.Name + ")"
				break
			}
		}
	}
	return out
}

// consoleAuditExport is GET .../audit/export: the filtered entries, newest
// first, as an NDJSON download.
func (a *api) consoleAuditExport(c echo.Context) error {
	cc := consoleOf(c)
	f, bad := parseAuditFilter(c.QueryParams(), consoleTimeLayouts...)
	if bad != "" {
		return badRequest(bad)
	}
	from, err := cc.realm.History().AuditTop(c.Request().Context(), f)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Content-Disposition", `attachment; filename="audit-`+cc.realm.Name+`.ndjson"`)
	return a.streamAuditNDJSON(c, cc.realm, f, from)
}

// consoleAuditStream is GET .../audit/stream: the live tail, for as long
// as the console session lives and its user may read the audit log.
func (a *api) consoleAuditStream(c echo.Context) error {
	cc := consoleOf(c)
	rl := cc.realm
	cookie := cookieValue(c, consoleCookie)
	return a.tailAuditSSE(c, rl, consoleTimeLayouts, func() bool {
		s, err := cc.home.Console().Session(c.Request().Context(), cookie, a.browserMeta(c, cc.user.ID))
		if err != nil {
			return false
		}
		p, scope, ok := a.verifyAdminToken(c, s.Access)
		return ok && domain.HasScope(scope, domain.ScopeManagement) && p.can(rl.Name, domain.AreaAudit)
	})
}

// verifyPage is the body of audit_verify.html.
type verifyPage struct {
	Report   *realms.VerifyReport
	Tampered bool
	First    domain.Finding
	Back     string
}

// consoleAuditVerify is GET .../audit/verify: the checkpoint chain checked
// over the whole history, and what it found.
func (a *api) consoleAuditVerify(c echo.Context) error {
	cc := consoleOf(c)
	rep, err := cc.realm.History().Verify(c.Request().Context())
	if err != nil {
		return err
	}
	first, tampered := rep.Tampered()
	v := a.view(c, "History verification", "audit")
	v.Data = verifyPage{Report: rep, Tampered: tampered, First: first, Back: cc.realmPath("/audit")}
	return renderConsole(c, http.StatusOK, "audit_verify.html", v)
}
