package main

// End-to-end: the audit log (GET /admin/realms/{realm}/audit, its NDJSON
// form and the SSE tail), against the real binary.

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ---- helpers (prefixed au to stay clear of other test files) ----

type auChange struct {
	Field     string          `json:"field"`
	Privilege bool            `json:"privilege"`
	Before    json.RawMessage `json:"before"`
	After     json.RawMessage `json:"after"`
	Added     []any           `json:"added"`
	Removed   []any           `json:"removed"`
}

type auEntry struct {
	Seq        uint64     `json:"seq"`
	ID         string     `json:"id"`
	Time       time.Time  `json:"time"`
	Type       string     `json:"type"`
	Actor      string     `json:"actor"`
	OnBehalfOf string     `json:"on_behalf_of"`
	ClientID   string     `json:"client_id"`
	Target     string     `json:"target"`
	IP         string     `json:"ip"`
	RequestID  string     `json:"request_id"`
	Summary    string     `json:"summary"`
	Changes    []auChange `json:"changes"`
}

func (e auEntry) change(field string) (auChange, bool) {
	for _, c := range e.Changes {
		if c.Field == field {
			return c, true
		}
	}
	return auChange{}, false
}

type auPage struct {
	Entries    []auEntry `json:"entries"`
	NextCursor string    `json:"next_cursor"`
}

// auEnv is a server with realm acme, an admin token, and every secret,
// token and token hash that must never show in the audit log.
type auEnv struct {
	lk    *latchkey
	admin string
	realm string // "" is acme

	mu     sync.Mutex
	secret []string // client secrets: also checked as SHA-256 hex
	banned []string // raw tokens and token hashes
}

func (e *auEnv) addSecret(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.secret = append(e.secret, s)
}

// addToken bans an access token and the hash the server records for it.
func (e *auEnv) addToken(tok string) {
	sum := sha256.Sum256([]byte(tok))
	e.mu.Lock()
	defer e.mu.Unlock()
	e.banned = append(e.banned, tok, base64.RawURLEncoding.EncodeToString(sum[:16]))
}

// requireClean fails if body shows a secret, its SHA-256, a token or a
// token hash.
func (e *auEnv) requireClean(t *testing.T, what string, body []byte) {
	t.Helper()
	e.mu.Lock()
	secrets, banned := slices.Clone(e.secret), slices.Clone(e.banned)
	e.mu.Unlock()
	requireNoSecrets(t, what, body, secrets...)
	for _, b := range banned {
		if strings.Contains(string(body), b) {
			t.Errorf("%s contains a token or token hash %q", what, b)
		}
	}
	if strings.Contains(string(body), `"hash"`) {
		t.Errorf("%s contains a hash field", what)
	}
}

func (e *auEnv) auditPath(query url.Values) string {
	return "/admin/realms/" + e.realmName() + "/audit?" + query.Encode()
}

func (e *auEnv) realmName() string {
	if e.realm == "" {
		return "acme"
	}
	return e.realm
}

// page reads one page of the audit log and checks it.
func (e *auEnv) page(t *testing.T, query url.Values) auPage {
	t.Helper()
	r := e.lk.get(t, e.auditPath(query), withBearer(e.admin))
	r.requireStatus(t, http.StatusOK)
	e.requireClean(t, "audit page "+query.Encode(), r.body)
	var p auPage
	r.decode(t, &p)
	if p.Entries == nil {
		t.Fatalf("audit page without an entries list:\n%s", r)
	}
	return p
}

// all follows next_cursor to the end, checking that no entry repeats.
func (e *auEnv) all(t *testing.T, query url.Values) ([]auEntry, int) {
	t.Helper()
	var out []auEntry
	seen := map[string]bool{}
	pages := 0
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	for {
		p := e.page(t, q)
		pages++
		if lim, err := strconv.Atoi(q.Get("limit")); err == nil && len(p.Entries) > lim {
			t.Errorf("page of %d entries exceeds limit %d", len(p.Entries), lim)
		}
		for _, en := range p.Entries {
			if seen[en.ID] {
				t.Errorf("entry %s (seq %d %s) appears twice across pages", en.ID, en.Seq, en.Type)
			}
			seen[en.ID] = true
			out = append(out, en)
		}
		if p.NextCursor == "" {
			return out, pages
		}
		if pages > 10000 {
			t.Fatal("pagination does not end")
		}
		q.Set("cursor", p.NextCursor)
	}
}

// auCheckpoint is the type of the tamper-evidence checkpoints the server
// appends on its own (after a minute, normally beyond this test); the
// comparisons below ignore them.
const auCheckpoint = "audit.checkpoint"

// ids lists the entries' ids, checkpoints left out.
func ids(es []auEntry) []string {
	out := make([]string, 0, len(es))
	for _, e := range es {
		if e.Type != auCheckpoint {
			out = append(out, e.ID)
		}
	}
	return out
}

// requireNewestFirst checks entries are in descending stream order.
func requireNewestFirst(t *testing.T, what string, es []auEntry) {
	t.Helper()
	for i := 1; i < len(es); i++ {
		if es[i].Seq > es[i-1].Seq {
			t.Errorf("%s: entry %d (seq %d) comes after seq %d: not newest first", what, i, es[i].Seq, es[i-1].Seq)
			return
		}
	}
}

func filterEntries(es []auEntry, keep func(auEntry) bool) []auEntry {
	var out []auEntry
	for _, e := range es {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

// ndjson reads the whole selection as JSON lines.
func (e *auEnv) ndjson(t *testing.T, query url.Values) []auEntry {
	t.Helper()
	r := e.lk.get(t, e.auditPath(query), withBearer(e.admin), withHeader("Accept", "application/x-ndjson"))
	r.requireStatus(t, http.StatusOK)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-ndjson") {
		t.Fatalf("NDJSON: Content-Type %q:\n%s", ct, r)
	}
	e.requireClean(t, "audit NDJSON", r.body)
	var out []auEntry
	sc := bufio.NewScanner(strings.NewReader(string(r.body)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var en auEntry
		if err := json.Unmarshal(sc.Bytes(), &en); err != nil {
			t.Fatalf("NDJSON line %q: %v", sc.Text(), err)
		}
		out = append(out, en)
	}
	return out
}

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	id    string
	entry auEntry
	at    time.Time
}

// sseStream is an open audit stream.
type sseStream struct {
	resp   *http.Response
	cancel context.CancelFunc
	events chan sseEvent
	done   chan struct{}

	mu  sync.Mutex
	raw strings.Builder // everything received, for the secret check
}

// openStream opens the SSE tail; lastID, when set, is sent as Last-Event-ID.
func (e *auEnv) openStream(t *testing.T, query url.Values, lastID string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.lk.base+"/admin/realms/"+e.realmName()+"/audit/stream?"+query.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.admin)
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := (&http.Client{Transport: e.lk.transport}).Do(req)
	if err != nil {
		cancel()
		t.Fatalf("opening the audit stream: %v", err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body.Close()
		cancel()
		t.Fatalf("audit stream: HTTP %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &sseStream{resp: resp, cancel: cancel, events: make(chan sseEvent, 1024), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var id, data string
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.raw.WriteString(line + "\n")
			s.mu.Unlock()
			switch {
			case line == "":
				if data != "" {
					ev := sseEvent{id: id, at: time.Now()}
					if err := json.Unmarshal([]byte(data), &ev.entry); err != nil {
						ev.id = "undecodable: " + data
					}
					s.events <- ev
				}
				id, data = "", ""
			case strings.HasPrefix(line, "id: "):
				id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				data += strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *sseStream) close() {
	s.cancel()
	s.resp.Body.Close()
	<-s.done
}

func (s *sseStream) rawText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.raw.String()
}

// next waits for the next event.
func (s *sseStream) next(t *testing.T, within time.Duration) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			t.Fatalf("audit stream ended; received:\n%s", s.rawText())
		}
		if strings.HasPrefix(ev.id, "undecodable") {
			t.Fatalf("audit stream sent %s", ev.id)
		}
		if ev.entry.Type == auCheckpoint {
			return s.next(t, within)
		}
		return ev
	case <-time.After(within):
		t.Fatalf("no audit event within %s; received:\n%s", within, s.rawText())
	}
	return sseEvent{}
}

// ---- the test ----

func TestAuditLog(t *testing.T) {
	t.Parallel()
	bootstrap := "e2e-audit-bootstrap-secret-0000000000001"
	lk := startLatchkey(t, serverOpts{name: "audit", data: t.TempDir(), bootstrapSecret: bootstrap})
	adminTok := lk.adminToken(t, bootstrap).AccessToken
	e := &auEnv{lk: lk, admin: adminTok}
	e.addSecret(bootstrap)
	e.addToken(adminTok)
	adminActor := "client:latchkey-admin"

	lk.postJSON(t, "/admin/realms", `{"name":"acme"}`, withBearer(adminTok)).requireStatus(t, http.StatusCreated)
	backend := lk.createClient(t, adminTok, "acme", `{"name":"backend","grant_types":["client_credentials"],"scopes":["read","write"]}`)
	frontend := lk.createClient(t, adminTok, "acme", `{"name":"frontend","scopes":["read"]}`)
	e.addSecret(backend.ClientSecret)
	e.addSecret(frontend.ClientSecret)

	// Tokens through backend, many at once so that some share a message.
	var wg sync.WaitGroup
	for range 24 {
		wg.Go(func() {
			tok := lk.clientToken(t, "acme", backend.ClientID, backend.ClientSecret, "")
			e.addToken(tok.AccessToken)
		})
	}
	wg.Wait()

	// The request id is the server's: one the caller sends is not taken
	// (it could repeat another request's id in the audit log).
	const forgedID = "forged-request-id"
	patch := lk.do(t, http.MethodPatch, "/admin/realms/acme/clients/"+backend.ClientID,
		strings.NewReader(`{"scopes":["read"],"access_token_lifetime":600}`), withBearer(adminTok), withContentType("application/merge-patch+json"),
		withHeader("X-Request-Id", forgedID))
	patch.requireStatus(t, http.StatusOK)
	patchRequestID := patch.header.Get("X-Request-Id")
	if patchRequestID == forgedID || len(patchRequestID) != 32 {
		t.Errorf("X-Request-Id %q: want the server's own 32-character id, not the caller's", patchRequestID)
	}

	rot := lk.postJSON(t, "/admin/realms/acme/clients/"+backend.ClientID+"/rotate-secret", `{"previous_secret_expires_in":3600}`, withBearer(adminTok))
	rot.requireStatus(t, http.StatusOK)
	var rotated clientCreated
	rot.decode(t, &rotated)
	if rotated.ClientSecret == "" {
		t.Fatalf("rotate-secret returned no secret:\n%s", rot)
	}
	e.addSecret(rotated.ClientSecret)
	lk.postJSON(t, "/admin/realms/acme/clients/"+frontend.ClientID+"/disable", ``, withBearer(adminTok)).requireStatus(t, http.StatusOK)

	full, _ := e.all(t, url.Values{"limit": {"1000"}})
	actions := filterEntries(full, func(en auEntry) bool { return en.Type != auCheckpoint })

	t.Run("newest first, with actor, client, target and summary", func(t *testing.T) {
		requireNewestFirst(t, "full log", full)
		if len(full) < 24+8 {
			t.Fatalf("audit log has %d entries, want at least 32: %v", len(full), full)
		}
		var types []string
		for _, en := range actions {
			// The references a client's creation writes beside it
			// (scope.referenced) are not what this looks at.
			if en.Type != "token.issued" && en.Type != "scope.referenced" {
				types = append(types, en.Type)
			}
		}
		if len(types) < 5 || !slices.Equal(types[:5], []string{"client.disabled", "client.secret_rotated", "client.updated", "client.created", "client.created"}) {
			t.Errorf("newest non-token entries = %v", types)
		}
		if last := actions[len(actions)-1]; last.Type != "realm.created" || last.Target != "realm/acme" || last.Summary != `realm "acme" created` {
			t.Errorf("oldest entry = %+v, want realm.created of acme", last)
		}
		dis := actions[0]
		if dis.Type != "client.disabled" || dis.Target != "client/"+frontend.ClientID || dis.Actor != adminActor ||
			dis.ClientID != "latchkey-admin" || dis.IP != "127.0.0.1" || dis.RequestID == "" || dis.Time.IsZero() ||
			!strings.HasPrefix(dis.Summary, "client disabled; every token issued before ") {
			t.Errorf("client.disabled entry = %+v", dis)
		}
		if rot := actions[1]; !strings.HasPrefix(rot.Summary, "secret rotated (previous valid until ") || rot.Target != "client/"+backend.ClientID {
			t.Errorf("client.secret_rotated entry = %+v", rot)
		}
		var created []auEntry
		for _, en := range full {
			if en.Type == "client.created" {
				created = append(created, en)
			}
		}
		// The realm's console client came with it; then the two created here.
		if len(created) != 3 || created[1].Summary != `client "backend" created (service, scopes read write)` ||
			created[2].Target != "client/latchkey-console" {
			t.Errorf("client.created entries = %+v", created)
		}
		tokens := filterEntries(full, func(en auEntry) bool { return en.Type == "token.issued" })
		if len(tokens) != 24 {
			t.Errorf("%d token.issued entries, want 24", len(tokens))
		}
		for _, en := range tokens {
			if en.Actor != "client:"+backend.ClientID || en.ClientID != backend.ClientID || en.Target != "client/"+backend.ClientID ||
				!strings.HasPrefix(en.Summary, "token issued to "+backend.ClientID+" (scope read write, expires ") {
				t.Errorf("token.issued entry = %+v", en)
				break
			}
		}
		shared := map[uint64]int{}
		for _, en := range tokens {
			shared[en.Seq]++
		}
		t.Logf("%d token events in %d messages", len(tokens), len(shared))
	})

	t.Run("client.updated shows before and after", func(t *testing.T) {
		up := filterEntries(full, func(en auEntry) bool { return en.Type == "client.updated" })
		if len(up) != 1 {
			t.Fatalf("client.updated entries = %+v", up)
		}
		u := up[0]
		if u.RequestID != patchRequestID || u.Target != "client/"+backend.ClientID || u.Actor != adminActor {
			t.Errorf("client.updated metadata = %+v (PATCH X-Request-Id %q)", u, patchRequestID)
		}
		if u.Summary != `client "backend" updated: scopes, access_token_lifetime` {
			t.Errorf("client.updated summary %q", u.Summary)
		}
		sc, ok := u.change("scopes")
		if !ok || string(sc.Before) != `["read","write"]` || string(sc.After) != `["read"]` || !sc.Privilege ||
			fmt.Sprint(sc.Removed) != "[write]" || len(sc.Added) != 0 {
			t.Errorf("scopes change = %+v", sc)
		}
		lt, ok := u.change("access_token_lifetime")
		if !ok || string(lt.Before) != "3600" || string(lt.After) != "600" {
			t.Errorf("access_token_lifetime change = %+v", lt)
		}
		if len(u.Changes) != 2 {
			t.Errorf("client.updated lists %d changes, want 2: %+v", len(u.Changes), u.Changes)
		}
	})

	t.Run("filters", func(t *testing.T) {
		check := func(name string, q url.Values, keep func(auEntry) bool) []auEntry {
			t.Helper()
			q.Set("limit", "1000")
			got, _ := e.all(t, q)
			want := filterEntries(full, keep)
			if !slices.Equal(ids(got), ids(want)) {
				t.Errorf("%s (%s): got %d entries, want %d", name, q.Encode(), len(got), len(want))
			}
			if len(want) == 0 {
				t.Errorf("%s: the filter selects nothing; the test proves nothing", name)
			}
			return got
		}
		check("client_id", url.Values{"client_id": {backend.ClientID}}, func(en auEntry) bool { return en.ClientID == backend.ClientID })
		check("actor", url.Values{"actor": {adminActor}}, func(en auEntry) bool { return en.Actor == adminActor })
		check("exact type", url.Values{"type": {"client.updated"}}, func(en auEntry) bool { return en.Type == "client.updated" })
		isClient := func(en auEntry) bool { return strings.HasPrefix(en.Type, "client.") }
		check("type prefix with a dot", url.Values{"type": {"client."}}, isClient)
		check("type prefix with a star", url.Values{"type": {"client.*"}}, isClient)
		check("target", url.Values{"target": {"client/" + backend.ClientID}}, func(en auEntry) bool { return en.Target == "client/"+backend.ClientID })
		check("combined", url.Values{"target": {"client/" + backend.ClientID}, "type": {"client.*"}, "actor": {adminActor}},
			func(en auEntry) bool {
				return en.Target == "client/"+backend.ClientID && isClient(en) && en.Actor == adminActor
			})

		mid := filterEntries(full, func(en auEntry) bool { return en.Type == "client.updated" })[0].Time
		since, until := mid.Format(time.RFC3339Nano), mid.Format(time.RFC3339Nano)
		check("since", url.Values{"since": {since}}, func(en auEntry) bool { return !en.Time.Before(mid) })
		check("until", url.Values{"until": {until}}, func(en auEntry) bool { return !en.Time.After(mid) })
		check("since and until", url.Values{"since": {since}, "until": {until}}, func(en auEntry) bool { return en.Time.Equal(mid) })

		if p := e.page(t, url.Values{"type": {"nothing.such"}}); len(p.Entries) != 0 || p.NextCursor != "" {
			t.Errorf("filter matching nothing: %+v", p)
		}
		for _, bad := range []url.Values{
			{"since": {"yesterday"}}, {"until": {"2026-13-01T00:00:00Z"}}, {"limit": {"0"}}, {"limit": {"1001"}},
			{"cursor": {"not-a-cursor"}}, {"since": {"2026-02-01T00:00:00Z"}, "until": {"2026-01-01T00:00:00Z"}},
		} {
			lk.get(t, e.auditPath(bad), withBearer(adminTok)).checkError(t, http.StatusBadRequest, "invalid_request")
		}
		lk.get(t, "/admin/realms/nope/audit", withBearer(adminTok)).checkError(t, http.StatusNotFound, "not_found")
		lk.get(t, "/admin/realms/acme/audit").checkError(t, http.StatusUnauthorized, "invalid_token")
		lk.get(t, "/admin/realms/acme/audit/stream").checkError(t, http.StatusUnauthorized, "invalid_token")
		lk.get(t, "/admin/realms/acme/audit", withBearer("not-a-token")).checkError(t, http.StatusUnauthorized, "invalid_token")
	})

	t.Run("pagination has no gaps or duplicates", func(t *testing.T) {
		if p := e.page(t, url.Values{}); len(p.Entries) != min(100, len(full)) {
			t.Errorf("default page holds %d entries, want %d", len(p.Entries), min(100, len(full)))
		}
		for _, tc := range []struct {
			q    url.Values
			keep func(auEntry) bool
		}{
			{url.Values{"limit": {"1"}}, nil},
			{url.Values{"limit": {"2"}}, nil},
			{url.Values{"limit": {"3"}, "type": {"token.issued"}}, func(en auEntry) bool { return en.Type == "token.issued" }},
			{url.Values{"limit": {"2"}, "type": {"client.*"}}, func(en auEntry) bool { return strings.HasPrefix(en.Type, "client.") }},
		} {
			want := full
			if tc.keep != nil {
				want = filterEntries(full, tc.keep)
			}
			got, pages := e.all(t, tc.q)
			if !slices.Equal(ids(got), ids(want)) {
				t.Errorf("%s: %d entries over %d pages, want the %d of one big page", tc.q.Encode(), len(got), pages, len(want))
			}
			requireNewestFirst(t, tc.q.Encode(), got)
		}
		// A page is a snapshot: entries appended meanwhile do not shift it.
		p1 := e.page(t, url.Values{"limit": {"5"}})
		lk.clientToken(t, "acme", backend.ClientID, rotated.ClientSecret, "")
		p2 := e.page(t, url.Values{"limit": {"5"}, "cursor": {p1.NextCursor}})
		if !slices.Equal(ids(append(p1.Entries, p2.Entries...)), ids(full[:10])) {
			t.Errorf("pages around a new event: %v + %v, want %v", ids(p1.Entries), ids(p2.Entries), ids(full[:10]))
		}
	})

	t.Run("NDJSON streams the whole selection", func(t *testing.T) {
		now, _ := e.all(t, url.Values{"limit": {"1000"}})
		got := e.ndjson(t, url.Values{})
		if !slices.Equal(ids(got), ids(now)) {
			t.Errorf("NDJSON has %d entries, the pages %d", len(got), len(now))
		}
		// limit does not cut the stream; filters apply.
		got = e.ndjson(t, url.Values{"limit": {"2"}, "type": {"client."}})
		want := filterEntries(now, func(en auEntry) bool { return strings.HasPrefix(en.Type, "client.") })
		if !slices.Equal(ids(got), ids(want)) {
			t.Errorf("filtered NDJSON has %d entries, want %d", len(got), len(want))
		}
	})

	t.Run("SSE tails new entries and resumes", func(t *testing.T) {
		s := e.openStream(t, url.Values{}, "")
		filtered := e.openStream(t, url.Values{"type": {"client.updated"}}, "")

		sent := time.Now()
		r := lk.do(t, http.MethodPatch, "/admin/realms/acme/clients/"+frontend.ClientID,
			strings.NewReader(`{"name":"frontend v2"}`), withBearer(adminTok), withContentType("application/json"))
		r.requireStatus(t, http.StatusOK)
		ev := s.next(t, 5*time.Second)
		if lag := ev.at.Sub(sent); lag > time.Second {
			t.Errorf("SSE delivered the entry %s after the action, want within 1s", lag)
		}
		if ev.entry.Type != "client.updated" || ev.entry.Target != "client/"+frontend.ClientID || ev.id != fmt.Sprint(ev.entry.Seq) {
			t.Errorf("SSE event id %q entry %+v", ev.id, ev.entry)
		}
		if c, ok := ev.entry.change("name"); !ok || string(c.Before) != `"frontend"` || string(c.After) != `"frontend v2"` {
			t.Errorf("SSE client.updated changes = %+v", ev.entry.Changes)
		}
		lastID := ev.id

		// The filtered stream skips the token event and shows the update.
		tok := lk.clientToken(t, "acme", backend.ClientID, rotated.ClientSecret, "")
		e.addToken(tok.AccessToken)
		if ev := s.next(t, 5*time.Second); ev.entry.Type != "token.issued" {
			t.Errorf("after a token request, SSE sent %+v", ev.entry)
		}
		if fev := filtered.next(t, 5*time.Second); fev.id != lastID || fev.entry.Type != "client.updated" {
			t.Errorf("filtered stream: id %q entry %+v, want the update %s", fev.id, fev.entry, lastID)
		}
		s.close()
		filtered.close()
		e.requireClean(t, "SSE stream", []byte(s.rawText()))

		// Missed while disconnected: resumed from Last-Event-ID, in order.
		lk.postJSON(t, "/admin/realms/acme/clients/"+frontend.ClientID+"/enable", ``, withBearer(adminTok)).requireStatus(t, http.StatusOK)
		resumed := e.openStream(t, url.Values{"type": {"client.*"}}, lastID)
		ev = resumed.next(t, 5*time.Second)
		if ev.entry.Type != "client.enabled" || ev.entry.Summary != "client enabled" || ev.entry.Seq <= mustSeq(t, lastID) {
			t.Errorf("resumed stream starts with %+v, want the client.enabled missed after %s", ev.entry, lastID)
		}
		// And goes on live.
		lk.postJSON(t, "/admin/realms/acme/clients/"+frontend.ClientID+"/disable", ``, withBearer(adminTok)).requireStatus(t, http.StatusOK)
		if ev := resumed.next(t, 5*time.Second); ev.entry.Type != "client.disabled" {
			t.Errorf("resumed stream then sent %+v", ev.entry)
		}
		// last_event_id in the query works for clients that cannot set headers.
		q := e.openStream(t, url.Values{"type": {"client.*"}, "last_event_id": {lastID}}, "")
		if ev := q.next(t, 5*time.Second); ev.entry.Type != "client.enabled" {
			t.Errorf("last_event_id query: first event %+v", ev.entry)
		}
		bad, err := http.NewRequest(http.MethodGet, lk.base+"/admin/realms/acme/audit/stream", nil)
		if err != nil {
			t.Fatal(err)
		}
		bad.Header.Set("Authorization", "Bearer "+adminTok)
		for _, id := range []string{"garbage", "18446744073709551615"} { // no message follows the largest sequence
			bad.Header.Set("Last-Event-ID", id)
			if resp, err := lk.client.Do(bad); err != nil || resp.StatusCode != http.StatusBadRequest {
				t.Errorf("Last-Event-ID %s: %v %v", id, resp, err)
			} else {
				resp.Body.Close()
			}
		}
		e.requireClean(t, "resumed SSE stream", []byte(resumed.rawText()))
	})

	t.Run("SSE ids resume inside a message of several token events", func(t *testing.T) {
		// Concurrent token requests of one client share a message (group
		// commit); bursts are sent until one has, which is itself required.
		s := e.openStream(t, url.Values{"type": {"token.issued"}}, "")
		var evs []sseEvent
		mid := -1
		for burst := 0; burst < 10 && mid < 0; burst++ {
			var wg sync.WaitGroup
			for range 24 {
				wg.Go(func() {
					e.addToken(lk.clientToken(t, "acme", backend.ClientID, rotated.ClientSecret, "").AccessToken)
				})
			}
			wg.Wait()
			for range 24 {
				evs = append(evs, s.next(t, 5*time.Second))
			}
			mid = sharedMessageIndex(evs)
		}
		s.close()
		e.requireClean(t, "SSE token events", []byte(s.rawText()))
		if mid < 0 {
			t.Fatalf("10 bursts of 24 concurrent token requests of one client: no two token events shared a message (group commit)")
		}
		seen := map[string]bool{}
		for i, ev := range evs {
			if ev.entry.Type != "token.issued" || seen[ev.entry.ID] {
				t.Fatalf("event %d: %+v (duplicate: %v)", i, ev.entry, seen[ev.entry.ID])
			}
			seen[ev.entry.ID] = true
			lastOfMessage := i == len(evs)-1 || evs[i+1].entry.Seq != ev.entry.Seq
			want := fmt.Sprint(ev.entry.Seq)
			if !lastOfMessage {
				want = fmt.Sprintf("%d.%d", ev.entry.Seq, i-slices.IndexFunc(evs, func(x sseEvent) bool { return x.entry.Seq == ev.entry.Seq }))
			}
			if ev.id != want {
				t.Errorf("event %d (seq %d): id %q, want %q", i, ev.entry.Seq, ev.id, want)
			}
		}
		r := e.openStream(t, url.Values{"type": {"token.issued"}}, evs[mid].id)
		for i := mid + 1; i < len(evs); i++ {
			if ev := r.next(t, 5*time.Second); ev.entry.ID != evs[i].entry.ID || ev.id != evs[i].id {
				t.Fatalf("resumed after %s: got %s (%s), want %s (%s)", evs[mid].id, ev.id, ev.entry.ID, evs[i].id, evs[i].entry.ID)
			}
		}
	})

	t.Run("a cursor beyond the log starts at its end", func(t *testing.T) {
		forged := base64.RawURLEncoding.EncodeToString([]byte("a1.999999999999.0"))
		p := e.page(t, url.Values{"cursor": {forged}, "limit": {"3"}})
		top := e.page(t, url.Values{"limit": {"3"}})
		if !slices.Equal(ids(p.Entries), ids(top.Entries)) {
			t.Errorf("forged cursor page %v, want the newest %v", ids(p.Entries), ids(top.Entries))
		}
	})

	t.Run("no secret in any audit response", func(t *testing.T) {
		for _, q := range []url.Values{{"limit": {"1000"}}, {"type": {"client."}}, {"type": {"token.issued"}}} {
			e.page(t, q) // page checks every body
		}
		e.ndjson(t, url.Values{})
	})

	// A server with an open stream still stops cleanly on SIGTERM.
	e.openStream(t, url.Values{}, "")
	lk.stop(t)
}

// sharedMessageIndex is the index of the first event that is not the last
// of its stream message, or -1 when every event had a message of its own.
func sharedMessageIndex(evs []sseEvent) int {
	for i := 0; i+1 < len(evs); i++ {
		if evs[i+1].entry.Seq == evs[i].entry.Seq {
			return i
		}
	}
	return -1
}

// requireEndedUnsent requires a revoked token's stream to end within 5 s,
// saying why, without having sent the entry that mentions unsent.
func requireEndedUnsent(t *testing.T, what string, s *sseStream, unsent string) {
	t.Helper()
	select {
	case <-s.done:
		if text := s.rawText(); strings.Contains(text, unsent) || !strings.Contains(text, "no longer valid") {
			t.Errorf("stream of %s ended with:\n%s", what, text)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("stream of %s still open 5 s later:\n%s", what, s.rawText())
	}
}

func mustSeq(t *testing.T, id string) uint64 {
	t.Helper()
	var seq uint64
	if _, err := fmt.Sscan(strings.SplitN(id, ".", 2)[0], &seq); err != nil {
		t.Fatalf("event id %q: %v", id, err)
	}
	return seq
}

// The SSE tail sends a comment every 15 s, and ends at the first one after
// the caller's token stopped being valid.
func TestAuditStreamHeartbeatAndRevokedToken(t *testing.T) {
	t.Parallel()
	bootstrap := "e2e-audit-heartbeat-secret-000000000001"
	lk := startLatchkey(t, serverOpts{name: "audit-heartbeat", data: t.TempDir(), bootstrapSecret: bootstrap})
	keep := lk.adminToken(t, bootstrap).AccessToken
	revoked := lk.adminToken(t, bootstrap).AccessToken
	lk.postJSON(t, "/admin/realms", `{"name":"acme"}`, withBearer(keep)).requireStatus(t, http.StatusCreated)

	live := (&auEnv{lk: lk, admin: keep}).openStream(t, url.Values{}, "")
	// The first revoked token's stream has nothing to send (its filter
	// matches nothing that happens): it ends at the next heartbeat. The
	// second's has an entry right after the revocation: it ends then,
	// without sending it.
	doomed := (&auEnv{lk: lk, admin: revoked}).openStream(t, url.Values{"type": {"user."}}, "")
	revokedToo := lk.adminToken(t, bootstrap).AccessToken
	busy := (&auEnv{lk: lk, admin: revokedToo}).openStream(t, url.Values{}, "")
	opened := time.Now()
	for _, tok := range []string{revoked, revokedToo} {
		lk.postForm(t, revokePath("master"), url.Values{"token": {tok}}.Encode(), withBasic("latchkey-admin", bootstrap)).
			requireStatus(t, http.StatusOK)
	}
	lk.createClient(t, keep, "acme", `{"name":"after the revocation"}`)
	// A realm's own management token, revoked in that realm: the entry
	// of its own revocation is not sent to it.
	own := lk.createClient(t, keep, "acme", `{"name":"acme admin","scopes":["management"]}`)
	ownTok := lk.clientToken(t, "acme", own.ClientID, own.ClientSecret, "management").AccessToken
	self := (&auEnv{lk: lk, admin: ownTok}).openStream(t, url.Values{}, "")
	lk.postForm(t, revokePath("acme"), url.Values{"token": {ownTok}}.Encode(), withBasic(own.ClientID, own.ClientSecret)).
		requireStatus(t, http.StatusOK)
	requireEndedUnsent(t, "a token revoked in its own realm", self, "token.revoked")
	requireEndedUnsent(t, "a revoked token with an entry to send", busy, "after the revocation")

	select {
	case <-doomed.done:
		if took := time.Since(opened); took < 10*time.Second || !strings.Contains(doomed.rawText(), "no longer valid") {
			t.Errorf("stream of a revoked token ended after %s with:\n%s", took, doomed.rawText())
		}
	case <-time.After(25 * time.Second):
		t.Errorf("stream of a revoked token still open after 25 s:\n%s", doomed.rawText())
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(live.rawText(), ": heartbeat") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(live.rawText(), ": heartbeat") {
		t.Errorf("no heartbeat comment %s after opening:\n%s", time.Since(opened), live.rawText())
	}
	select {
	case <-live.done:
		t.Errorf("the stream of a valid token ended:\n%s", live.rawText())
	default:
	}
}

// TestRealmSettings: checkpoint frequency and token retention are realm
// settings; a realm checkpointing every 2 messages gets checkpoints at once.
func TestRealmSettings(t *testing.T) {
	t.Parallel()
	opts := serverOpts{name: "settings", data: t.TempDir(), bootstrapSecret: "bootstrap-secret-for-realm-settings"}
	lk := startLatchkey(t, opts)
	admin := lk.adminToken(t, opts.bootstrapSecret).AccessToken
	lk.postJSON(t, "/admin/realms", `{"name":"acme"}`, withBearer(admin)).requireStatus(t, http.StatusCreated)
	put := func(body string) *response {
		return lk.do(t, http.MethodPut, "/admin/realms/acme/settings", strings.NewReader(body), withBearer(admin), withContentType("application/json"))
	}
	put(`{"token_retention":3600}`).checkError(t, http.StatusBadRequest, "invalid_request")
	put(`{"checkpoint_interval":-1}`).checkError(t, http.StatusBadRequest, "invalid_request")
	put(`{"bogus":1}`).checkError(t, http.StatusBadRequest, "invalid_request")
	r := put(`{"checkpoint_every":2,"checkpoint_interval":1,"token_retention":90000}`)
	r.requireStatus(t, http.StatusOK)
	var view struct {
		Settings struct {
			CheckpointEvery    int   `json:"checkpoint_every"`
			CheckpointInterval int64 `json:"checkpoint_interval"`
			TokenRetention     int64 `json:"token_retention"`
		} `json:"settings"`
	}
	r.decode(t, &view)
	if view.Settings.CheckpointEvery != 2 || view.Settings.TokenRetention != 90000 {
		t.Fatalf("settings after PUT: %s", r.body)
	}
	for range 3 {
		lk.createClient(t, admin, "acme", `{"name":"c"}`)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		page := lk.events(t, admin, "acme", "after_seq=0&limit=1000")
		types := countTypes(page.Events)
		if types["audit.checkpoint"] > 0 && types["realm.settings_changed"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint 10 s after the realm asked for one every 2 messages: %v", types)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
