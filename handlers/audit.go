package handlers

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/projections"
)

// The audit log is read straight from the realm's stream, backwards, a
// window of messages at a time: nothing holds the whole history in memory.

const (
	// auditPageBudget bounds the messages one JSON page may scan: a selective
	// filter over a long history answers with fewer entries (even none) and
	// a next_cursor rather than scanning it all in one request.
	auditPageBudget = 100_000
	// auditMinWindow and auditWindowEnvelopes size the windows: they grow
	// towards eventstore.MaxPage messages, and shrink where messages hold
	// many group-committed token events.
	auditMinWindow       = 32
	auditWindowEnvelopes = 4096
	// auditClockSkew is how far out of order, by their time, events may be
	// in the stream (several replicas, each with its own clock). A scan for
	// since=T stops at the first event older than T minus this margin.
	auditClockSkew = 5 * time.Minute
	// auditHeartbeat is the interval of the SSE keep-alive comment, at which
	// the caller's token is checked again.
	auditHeartbeat = 15 * time.Second
	// auditReadyPoll: a stream ends within this when the server shuts down.
	auditReadyPoll = 500 * time.Millisecond

	mimeNDJSON      = "application/x-ndjson"
	mimeEventStream = "text/event-stream"
)

// auditQuery is the filter of an audit request. Empty fields match all.
type auditQuery struct {
	clientID, actor string
	typ             string
	typPrefix       bool
	target          string
	targetPrefix    bool
	since, until    time.Time
}

// prefixed reads a filter value: one ending in "*" (or in sep) is a prefix.
func prefixed(v, sep string) (string, bool) {
	if s, ok := strings.CutSuffix(v, "*"); ok {
		return s, true
	}
	return v, v != "" && strings.HasSuffix(v, sep)
}

func parseAuditQuery(c echo.Context) (auditQuery, string) {
	q := auditQuery{clientID: c.QueryParam("client_id"), actor: c.QueryParam("actor")}
	q.typ, q.typPrefix = prefixed(c.QueryParam("type"), ".")
	q.target, q.targetPrefix = prefixed(c.QueryParam("target"), "/")
	for _, p := range []struct {
		name string
		to   *time.Time
	}{{"since", &q.since}, {"until", &q.until}} {
		s := c.QueryParam(p.name)
		if s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return q, p.name + " must be an RFC 3339 time, like 2026-01-31T12:00:00Z"
		}
		*p.to = t
	}
	if !q.since.IsZero() && !q.until.IsZero() && q.until.Before(q.since) {
		return q, "until is before since"
	}
	return q, ""
}

func (q auditQuery) match(env *eventstore.Envelope) bool {
	switch {
	case q.clientID != "" && env.ClientID != q.clientID,
		q.actor != "" && env.Actor != q.actor,
		q.typ != "" && !matchValue(env.Type, q.typ, q.typPrefix),
		q.target != "" && !matchValue(env.Aggregate, q.target, q.targetPrefix),
		!q.since.IsZero() && env.Time.Before(q.since),
		!q.until.IsZero() && env.Time.After(q.until):
		return false
	}
	return true
}

func matchValue(v, want string, prefix bool) bool {
	if prefix {
		return strings.HasPrefix(v, want)
	}
	return v == want
}

// beforeSince reports whether a backwards scan may stop at env: it is older
// than since by more than the clock skew allowed between writers.
func (q auditQuery) beforeSince(env *eventstore.Envelope) bool {
	return !q.since.IsZero() && env.Time.Before(q.since.Add(-auditClockSkew))
}

// auditPos is a place in a realm's history, between entries: a scan from
// it returns the entries strictly before it, newest first. An entry's
// position is its message's sequence and its index within the message (a
// message may hold several group-committed token events); idx 0 means
// "before message seq".
type auditPos struct {
	seq uint64
	idx int
}

func (p auditPos) atStart() bool { return p.seq <= 1 && p.idx == 0 }

const cursorVersion = "a1"

// cursor encodes a position as an opaque token.
func (p auditPos) cursor() string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%s.%d.%d", cursorVersion, p.seq, p.idx))
}

func parseCursor(s string) (auditPos, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return auditPos{}, false
	}
	parts := strings.Split(string(raw), ".")
	if len(parts) != 3 || parts[0] != cursorVersion {
		return auditPos{}, false
	}
	seq, err1 := strconv.ParseUint(parts[1], 10, 64)
	idx, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || seq == 0 || idx < 0 {
		return auditPos{}, false
	}
	return auditPos{seq, idx}, true
}

// auditScan walks a realm's history backwards from pos and calls visit with
// each entry that q matches, newest first, and the position just before it
// (to continue from). It stops when visit returns false, at the start of the
// history (or of the since range), or once budget messages were read (0:
// no bound); window runs after each window read, to flush. It returns where
// to continue and whether anything may be left.
func (a *api) auditScan(ctx context.Context, realm string, q auditQuery, pos auditPos, budget uint64,
	visit func(projections.AuditEntry, auditPos) bool, window func() error) (auditPos, bool, error) {
	store := a.reg.Store()
	size := uint64(auditMinWindow)
	var scanned uint64
	for !pos.atStart() {
		if budget > 0 && scanned >= budget {
			return pos, true, nil
		}
		hi := pos.seq - 1 // last message of the window
		if pos.idx > 0 {
			hi = pos.seq
		}
		lo := uint64(1)
		if hi > size {
			lo = hi - size + 1
		}
		count := hi - lo + 1
		envs, err := store.ReadRealm(ctx, realm, lo-1, int(count))
		if err != nil {
			return pos, true, err
		}
		scanned += count
		// A message's envelopes share its sequence; number them.
		idxs := make([]int, len(envs))
		for i := range envs {
			if i > 0 && envs[i].Seq == envs[i-1].Seq {
				idxs[i] = idxs[i-1] + 1
			}
		}
		for i := len(envs) - 1; i >= 0; i-- {
			env := &envs[i]
			at := auditPos{env.Seq, idxs[i]}
			if env.Seq > hi || (env.Seq == pos.seq && at.idx >= pos.idx) {
				continue // beyond the window (messages were missing) or already seen
			}
			if q.beforeSince(env) {
				return auditPos{}, false, nil
			}
			if q.match(env) && !visit(projections.AuditEntryOf(*env), at) {
				return at, true, nil
			}
		}
		pos = auditPos{lo, 0}
		if window != nil {
			if err := window(); err != nil {
				return pos, true, err
			}
		}
		// Grow towards full windows; shrink where messages are dense.
		size = min(size*4, eventstore.MaxPage)
		if n := uint64(len(envs)); n > auditWindowEnvelopes {
			size = max(auditMinWindow, count*auditWindowEnvelopes/n)
		}
	}
	return pos, false, nil
}

// auditTop is where a scan of the newest entries starts: after the stream's
// last message or, with until, after the last message that may hold an
// entry not newer than until (found by binary search on the event times).
func (a *api) auditTop(ctx context.Context, realm string, q auditQuery) (auditPos, error) {
	store := a.reg.Store()
	last, err := store.LastSeq(ctx, realm)
	if err != nil {
		return auditPos{}, err
	}
	top := last + 1
	if q.until.IsZero() {
		return auditPos{top, 0}, nil
	}
	limit := q.until.Add(auditClockSkew)
	// Find the first message whose events are all newer than until (plus
	// skew); a probe that finds no event counts as not newer, which only
	// makes the scan start later.
	lo, hi := uint64(1), top
	for lo < hi {
		mid := lo + (hi-lo)/2
		envs, err := store.ReadRealm(ctx, realm, mid-1, 4)
		if err != nil {
			return auditPos{}, err
		}
		if len(envs) > 0 && envs[0].Time.After(limit) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return auditPos{lo, 0}, nil
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
// first, filtered, one page at a time; with Accept: application/x-ndjson,
// the whole selection as JSON lines.
func (a *api) listAudit(c echo.Context) error {
	ctx := c.Request().Context()
	rl, err := a.reg.Get(ctx, c.Param("realm"))
	if err != nil {
		return realmError(c, a, err)
	}
	q, bad := parseAuditQuery(c)
	if bad != "" {
		return writeError(c, http.StatusBadRequest, domain.ErrInvalidRequest, bad)
	}
	limit, ok := pageSize(c, defaultPageSize, maxPageSize)
	if !ok {
		return writeError(c, http.StatusBadRequest, domain.ErrInvalidRequest, "limit must be 1 to "+strconv.Itoa(maxPageSize))
	}
	top, err := a.auditTop(ctx, rl.Name, q)
	if err != nil {
		return domainError(c, a.log, err)
	}
	from := top
	if s := c.QueryParam("cursor"); s != "" {
		cur, ok := parseCursor(s)
		if !ok {
			return writeError(c, http.StatusBadRequest, domain.ErrInvalidRequest, "cursor is not one this API returned")
		}
		if cur.seq < top.seq || (cur.seq == top.seq && cur.idx < top.idx) {
			from = cur
		}
	}
	if wantsNDJSON(c) {
		return a.streamAuditNDJSON(c, rl.Name, q, from)
	}

	entries := make([]projections.AuditEntry, 0, min(limit, 64))
	var next auditPos
	end, more, err := a.auditScan(ctx, rl.Name, q, from, auditPageBudget, func(e projections.AuditEntry, at auditPos) bool {
		if len(entries) == limit {
			return false // one more exists: the page ends before it
		}
		entries = append(entries, e)
		next = at
		return true
	}, nil)
	if err != nil {
		return domainError(c, a.log, err)
	}
	out := struct {
		Entries    []projections.AuditEntry `json:"entries"`
		NextCursor string                   `json:"next_cursor,omitempty"`
	}{Entries: entries}
	if more {
		if len(entries) < limit {
			next = end // the scan budget ran out first
		}
		out.NextCursor = next.cursor()
	}
	noStore(c)
	return c.JSON(http.StatusOK, out)
}

// streamAuditNDJSON writes every selected entry, newest first, one JSON
// object a line, flushing after each window. A failure once the answer has
// started aborts the connection, so a reader never mistakes a cut-short
// answer for a complete one.
func (a *api) streamAuditNDJSON(c echo.Context, realm string, q auditQuery, from auditPos) error {
	res := c.Response()
	noStore(c)
	res.Header().Set(echo.HeaderContentType, mimeNDJSON)
	res.Header().Set("X-Content-Type-Options", "nosniff")
	res.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(res)
	enc := json.NewEncoder(res)
	var werr error
	_, _, err := a.auditScan(c.Request().Context(), realm, q, from, 0, func(e projections.AuditEntry, _ auditPos) bool {
		werr = enc.Encode(e)
		return werr == nil
	}, rc.Flush)
	if err == nil {
		err = werr
	}
	if err != nil {
		if c.Request().Context().Err() == nil {
			a.log.Error("audit stream failed", "request_id", requestID(c), "err", err)
		}
		panic(http.ErrAbortHandler)
	}
	return rc.Flush()
}

// parseEventID reads an SSE event id: "<seq>" (resume after message seq)
// or "<seq>.<idx>" (resume after entry idx of message seq).
func parseEventID(s string) (auditPos, bool) {
	seqS, idxS, hasIdx := strings.Cut(s, ".")
	seq, err := strconv.ParseUint(seqS, 10, 64)
	if err != nil {
		return auditPos{}, false
	}
	if !hasIdx {
		return auditPos{seq + 1, 0}, true
	}
	idx, err := strconv.Atoi(idxS)
	if err != nil || idx < 0 {
		return auditPos{}, false
	}
	return auditPos{seq, idx + 1}, true
}

// auditBatch is one message's events, as the subscription delivers them.
type auditBatch struct {
	seq  uint64
	envs []eventstore.Envelope
}

// streamAudit is GET /admin/realms/{realm}/audit/stream: Server-Sent Events
// tailing the audit log live, with the list's filters. An entry's id is its
// message's sequence ("<seq>.<idx>" for all but the last of several token
// events in one message); Last-Event-ID (header, or last_event_id in the
// query) resumes after it. A comment every 15 s keeps the connection open;
// the stream ends when the caller's token stops being valid.
func (a *api) streamAudit(c echo.Context) error {
	if !a.ready() {
		return writeError(c, http.StatusServiceUnavailable, errServer, "the server is not ready")
	}
	req := c.Request()
	rl, err := a.reg.Get(req.Context(), c.Param("realm"))
	if err != nil {
		return realmError(c, a, err)
	}
	q, bad := parseAuditQuery(c)
	if bad != "" {
		return writeError(c, http.StatusBadRequest, domain.ErrInvalidRequest, bad)
	}
	var from auditPos // entries from here on: message seq, index ≥ idx
	lastID := req.Header.Get("Last-Event-ID")
	if lastID == "" {
		lastID = c.QueryParam("last_event_id")
	}
	if lastID != "" {
		p, ok := parseEventID(strings.TrimSpace(lastID))
		if !ok {
			return writeError(c, http.StatusBadRequest, domain.ErrInvalidRequest, "Last-Event-ID must be an id this stream sent")
		}
		from = p
	} else {
		last, err := a.reg.Store().LastSeq(req.Context(), rl.Name)
		if err != nil {
			return domainError(c, a.log, err)
		}
		from = auditPos{last + 1, 0}
	}

	ctx, cancel := context.WithCancel(req.Context())
	batches := make(chan auditBatch, 64)
	sub, err := a.reg.Store().Subscribe(ctx, rl.Name, from.seq, func(seq uint64, envs []eventstore.Envelope) {
		select {
		case batches <- auditBatch{seq, envs}:
		case <-ctx.Done():
		}
	}, func(err error) {
		a.log.Error("audit stream: undecodable event", "realm", rl.Name, "err", err)
	})
	if err != nil {
		cancel()
		return domainError(c, a.log, err)
	}
	defer func() {
		cancel()
		sub.Stop()
	}()

	res := c.Response()
	noStore(c)
	res.Header().Set(echo.HeaderContentType, mimeEventStream)
	res.Header().Set("X-Accel-Buffering", "no")
	res.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(res)
	send := func(s string) bool {
		if _, err := res.Write([]byte(s)); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send(": audit stream of realm " + rl.Name + "\n\n") {
		return nil
	}
	_, rawToken, _ := strings.Cut(req.Header.Get(echo.HeaderAuthorization), " ")
	heartbeat := time.NewTicker(auditHeartbeat)
	defer heartbeat.Stop()
	readyPoll := time.NewTicker(auditReadyPoll)
	defer readyPoll.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-readyPoll.C:
			if !a.ready() {
				return nil // shutting down
			}
		case <-heartbeat.C:
			if !a.stillAuthorized(c, strings.TrimSpace(rawToken), rl.Name) {
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
				if (b.seq == from.seq && i < from.idx) || !q.match(env) {
					continue
				}
				id := strconv.FormatUint(b.seq, 10)
				if i < len(b.envs)-1 {
					id += "." + strconv.Itoa(i)
				}
				data, err := json.Marshal(projections.AuditEntryOf(*env))
				if err != nil {
					continue
				}
				fmt.Fprintf(&out, "id: %s\ndata: %s\n\n", id, data)
			}
			if out.Len() > 0 && !send(out.String()) {
				return nil
			}
		}
	}
}

// stillAuthorized checks a streaming caller's token again: still active,
// still with the management scope, still covering the realm.
func (a *api) stillAuthorized(c echo.Context, raw, realm string) bool {
	p, scope, ok := a.verifyAdminToken(c, raw)
	return ok && domain.HasScope(scope, domain.ScopeManagement) && p.may(realm)
}
