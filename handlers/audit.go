package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

// The audit log is read straight from the realm's stream, backwards and a
// window at a time (Realm.ScanAudit), or tailed live (Realm.TailAudit): no
// request holds the whole history in memory.

const (
	// auditPageBudget bounds the messages one JSON page may scan: a selective
	// filter over a long history answers with fewer entries (even none) and
	// a next_cursor, rather than scanning everything in one request.
	auditPageBudget = 100_000
	// auditHeartbeat is the interval of the SSE keep-alive comment; the
	// caller's token is checked again at each.
	auditHeartbeat = 15 * time.Second
	// auditReadyPoll: an open stream ends within this once the server
	// starts shutting down.
	auditReadyPoll = 500 * time.Millisecond
	// auditWriteTimeout bounds each write of a long-lived audit answer,
	// which the server's own timeouts (made for short requests) would cut.
	auditWriteTimeout = 30 * time.Second

	mimeNDJSON      = "application/x-ndjson"
	mimeEventStream = "text/event-stream"
)

// parseAuditFilter reads client_id, actor, on_behalf_of, type, target,
// since and until (RFC 3339; also the other layouts given, read as UTC);
// it returns a description of what is wrong, if anything.
func parseAuditFilter(q url.Values, layouts ...string) (*realms.AuditFilter, string) {
	f := &realms.AuditFilter{ClientID: q.Get("client_id"), Actor: q.Get("actor"), OnBehalfOf: q.Get("on_behalf_of")}
	f.Type, f.TypePrefix = realms.AuditPattern(q.Get("type"), ".")
	f.Target, f.TargetPrefix = realms.AuditPattern(q.Get("target"), "/")
	for _, p := range []struct {
		name string
		to   *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		s := q.Get(p.name)
		if s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		for _, layout := range layouts {
			if err != nil {
				t, err = time.Parse(layout, s)
			}
		}
		if err != nil {
			return nil, p.name + " must be an RFC 3339 time, like 2026-01-31T12:00:00Z"
		}
		*p.to = t
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		return nil, "until is before since"
	}
	return f, ""
}

// wantsNDJSON reports whether the Accept header asks for JSON lines.
func wantsNDJSON(c echo.Context) bool {
	for part := range strings.SplitSeq(c.Request().Header.Get(echo.HeaderAccept), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && mt == mimeNDJSON && params["q"] != "0" {
			return true
		}
	}
	return false
}

// listAudit is GET /admin/realms/{realm}/audit: the audit log, newest
// first, filtered, a page at a time; with Accept: application/x-ndjson,
// the whole selection as JSON lines.
func (a *api) listAudit(c echo.Context) error {
	ctx := c.Request().Context()
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	f, bad := parseAuditFilter(c.QueryParams())
	if bad != "" {
		return badRequest(bad)
	}
	limit, ok := pageSize(c, defaultPageSize, maxPageSize)
	if !ok {
		return badRequest("limit must be 1 to " + strconv.Itoa(maxPageSize))
	}
	var from realms.AuditPos
	if s := c.QueryParam("cursor"); s != "" {
		if from, ok = realms.ParseAuditCursor(s); !ok {
			return badRequest("cursor is not one this API returned")
		}
	} else if from, err = rl.History().AuditTop(ctx, f); err != nil {
		return err
	}
	if wantsNDJSON(c) {
		return a.streamAuditNDJSON(c, rl, f, from)
	}

	entries := make([]realms.AuditEntry, 0, min(limit, 64))
	var last realms.AuditPos
	end, more, err := rl.History().ScanAudit(ctx, f, from, auditPageBudget, func(e realms.AuditEntry, at realms.AuditPos) bool {
		if len(entries) == limit {
			return false // one more exists: the page ends before it
		}
		entries = append(entries, e)
		last = at
		return true
	}, nil)
	if err != nil {
		return err
	}
	out := struct {
		Entries    []realms.AuditEntry `json:"entries"`
		NextCursor string              `json:"next_cursor,omitempty"`
	}{Entries: entries}
	if more {
		if len(entries) < limit {
			last = end // the scan budget ran out first
		}
		out.NextCursor = last.Cursor()
	}
	noStore(c)
	return c.JSON(http.StatusOK, out)
}

// streamAuditNDJSON writes every selected entry, newest first, one JSON
// object a line, flushing after each window read. A failure once the
// answer has started aborts the connection, so that a reader never takes
// a cut-short answer for a complete one.
func (a *api) streamAuditNDJSON(c echo.Context, rl *realms.Realm, f *realms.AuditFilter, from realms.AuditPos) error {
	res := c.Response()
	noStore(c)
	res.Header().Set(echo.HeaderContentType, mimeNDJSON)
	res.Header().Set("X-Content-Type-Options", "nosniff")
	res.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(res)
	extendDeadlines(rc)
	enc := json.NewEncoder(res)
	var werr error
	_, _, err := rl.History().ScanAudit(c.Request().Context(), f, from, 0, func(e realms.AuditEntry, _ realms.AuditPos) bool {
		werr = enc.Encode(e)
		return werr == nil
	}, func() error { defer extendDeadlines(rc); return rc.Flush() })
	if err == nil {
		err = werr
	}
	if err != nil {
		if c.Request().Context().Err() == nil {
			a.log.Error("audit NDJSON stream failed", "request_id", requestID(c), "err", err)
		}
		panic(http.ErrAbortHandler)
	}
	return rc.Flush()
}

// extendDeadlines lifts the server's read deadline, whose expiry would
// cancel a long-lived answer, and gives its next write auditWriteTimeout.
func extendDeadlines(rc *http.ResponseController) {
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Now().Add(auditWriteTimeout))
}

// parseEventID reads an SSE event id and returns where to resume: "<seq>"
// resumes after message seq, "<seq>.<idx>" after entry idx of message seq.
func parseEventID(s string) (realms.AuditPos, bool) {
	seqS, idxS, hasIdx := strings.Cut(s, ".")
	seq, err := strconv.ParseUint(seqS, 10, 64)
	if err != nil || seq == math.MaxUint64 { // no message can follow the last sequence
		return realms.AuditPos{}, false
	}
	if !hasIdx {
		return realms.AuditPos{Seq: seq + 1}, true
	}
	idx, err := strconv.Atoi(idxS)
	if err != nil || idx < 0 {
		return realms.AuditPos{}, false
	}
	return realms.AuditPos{Seq: seq, Idx: idx + 1}, true
}

// auditBatch is one message's events, as the tail delivers them.
type auditBatch struct {
	seq  uint64
	envs []realms.Envelope
}

// streamAudit is GET /admin/realms/{realm}/audit/stream: Server-Sent Events
// tailing the audit log live, with the list's filters. An event's id is
// its message's sequence ("<seq>.<idx>" for all but the last of several
// token events stored in one message); Last-Event-ID (or last_event_id in
// the query) resumes right after it. A comment every 15 s keeps the
// connection open; the stream ends when the caller disconnects, when the
// caller's token stops being valid (checked before every entry sent and at
// every heartbeat), or when the server shuts down.
func (a *api) streamAudit(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	_, rawToken, _ := strings.Cut(c.Request().Header.Get(echo.HeaderAuthorization), " ")
	return a.tailAuditSSE(c, rl, nil, func() bool { return a.stillAuthorized(c, strings.TrimSpace(rawToken), rl.Name) })
}

// tailAuditSSE serves a live tail of rl's audit log as Server-Sent Events
// (see streamAudit), with the query's filters (read with layouts, see
// parseAuditFilter); allowed is asked again before every entry sent and at
// every heartbeat.
func (a *api) tailAuditSSE(c echo.Context, rl *realms.Realm, layouts []string, allowed func() bool) error {
	if a.waiting() != "" {
		return &statusError{status: http.StatusServiceUnavailable, code: errServer, desc: "the server is not ready"}
	}
	req := c.Request()
	f, bad := parseAuditFilter(c.QueryParams(), layouts...)
	if bad != "" {
		return badRequest(bad)
	}
	// Entries from here on: message Seq from index Idx, then every later
	// one; with no id, from the next message stored.
	var from realms.AuditPos
	lastID := req.Header.Get("Last-Event-ID")
	if lastID == "" {
		lastID = c.QueryParam("last_event_id")
	}
	if lastID != "" {
		p, ok := parseEventID(strings.TrimSpace(lastID))
		if !ok {
			return badRequest("Last-Event-ID must be an id this stream sent")
		}
		from = p
	}

	ctx, cancel := context.WithCancel(req.Context())
	defer cancel()
	batches := make(chan auditBatch, 64)
	tail, err := rl.History().TailAudit(ctx, from.Seq, func(seq uint64, envs []realms.Envelope) {
		select {
		case batches <- auditBatch{seq, envs}:
		case <-ctx.Done():
		}
	})
	if err != nil {
		return err
	}
	defer func() {
		cancel() // unblocks a delivery in progress before the tail stops
		tail.Stop()
	}()

	res := c.Response()
	noStore(c)
	res.Header().Set(echo.HeaderContentType, mimeEventStream)
	res.Header().Set("X-Accel-Buffering", "no")
	res.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(res)
	send := func(s string) bool {
		extendDeadlines(rc)
		if _, err := res.Write([]byte(s)); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send(": audit log of realm " + rl.Name + "\n\n") {
		return nil
	}
	heartbeat := time.NewTicker(auditHeartbeat)
	defer heartbeat.Stop()
	readyPoll := time.NewTicker(auditReadyPoll)
	defer readyPoll.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-readyPoll.C:
			if a.waiting() != "" {
				return nil // shutting down
			}
		case <-heartbeat.C:
			if !allowed() {
				send(": the access token is no longer valid\n\n")
				return nil
			}
			if !send(": heartbeat\n\n") {
				return nil
			}
		case b := <-batches:
			var out strings.Builder
			for i := range b.envs {
				env := &b.envs[i]
				if (b.seq == from.Seq && i < from.Idx) || !f.Match(env) {
					continue
				}
				id := strconv.FormatUint(b.seq, 10)
				if i < len(b.envs)-1 {
					id += "." + strconv.Itoa(i)
				}
				data, err := json.Marshal(realms.AuditEntryOf(*env))
				if err != nil {
					continue
				}
				fmt.Fprintf(&out, "id: %s\ndata: %s\n\n", id, data)
			}
			if out.Len() == 0 {
				continue
			}
			// Nothing goes out on a token revoked since the last look. The
			// tail and the read models follow the stream apart: the models
			// first catch up with this batch, which may itself revoke the
			// token (at most a second; a model that lags more is checked as
			// it is).
			waitCtx, stopWaiting := context.WithTimeout(ctx, time.Second)
			_ = rl.WaitFor(waitCtx, b.seq)
			stopWaiting()
			if !allowed() {
				send(": the access token is no longer valid\n\n")
				return nil
			}
			if !send(out.String()) {
				return nil
			}
		}
	}
}

// stillAuthorized checks a streaming caller's token again: still active,
// still with the management scope, still covering the realm's audit log
// (a user's realm roles are read again).
func (a *api) stillAuthorized(c echo.Context, raw, realm string) bool {
	p, scope, ok := a.verifyAdminToken(c, raw)
	return ok && domain.HasScope(scope, domain.ScopeManagement) && p.can(realm, domain.AreaAudit)
}

// verifyHistory is GET /admin/realms/{realm}/audit/verify: the checkpoint
// chain verified over the realm's whole stream, as `latchkey replay
// --verify` does: what it covers, and every finding.
func (a *api) verifyHistory(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	rep, err := rl.History().Verify(c.Request().Context())
	if err != nil {
		return err
	}
	f, tampered := rep.Tampered()
	out := struct {
		*realms.VerifyReport
		Tampered     bool            `json:"tampered"`
		FirstFinding *domain.Finding `json:"first_tampering,omitempty"`
	}{VerifyReport: rep, Tampered: tampered}
	if tampered {
		out.FirstFinding = &f
	}
	noStore(c)
	return c.JSON(http.StatusOK, out)
}
