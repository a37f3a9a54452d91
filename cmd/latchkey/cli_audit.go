package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/latchkeyhq/latchkey/cmd/latchkey/adminclient"
)

// apiAuditEntry is the part of an audit entry a table line shows.
type apiAuditEntry struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Type    string    `json:"type"`
	Actor   string    `json:"actor"`
	Target  string    `json:"target"`
	Summary string    `json:"summary"`
}

// auditFilters adds the audit log's filters to fs.
func auditFilters(fs *flag.FlagSet, q url.Values, withTimes bool) {
	names := []struct{ name, usage string }{
		{"client-id", "actions done through this OAuth client"},
		{"actor", "user:<id>, client:<id> or system"},
		{"on-behalf-of", "actions of user-delegated tokens of this user (id)"},
		{"type", "an event type, or a prefix ending in . or * (client.)"},
		{"target", "an aggregate (client/<id>), or a prefix ending in / or *"},
	}
	if withTimes {
		names = append(names, struct{ name, usage string }{"since", "RFC 3339 time, inclusive"},
			struct{ name, usage string }{"until", "RFC 3339 time, inclusive"})
	}
	for _, f := range names {
		fs.Func(f.name, f.usage, func(v string) error { q.Set(strings.ReplaceAll(f.name, "-", "_"), v); return nil })
	}
}

func init() {
	registerGroup(verbGroup{name: "audit", summary: "A realm's audit log: every event, who did it and what changed.", verbs: []verb{
		{name: "audit tail",
			summary: "Print the latest entries, then follow new ones as they happen (Ctrl-C stops).",
			example: "latchkey audit tail --realm acme --type client.\nlatchkey audit tail -o json --lines 0 | jq .summary",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				q := url.Values{}
				auditFilters(fs, q, false)
				lines := fs.Int("lines", 10, "entries to print before following (0 to 1000)")
				return func(ctx context.Context, _ []string) error {
					if *lines < 0 || *lines > 1000 {
						return usageError(errors.New("--lines must be 0 to 1000"))
					}
					return s.tailAudit(ctx, q, *lines)
				}
			}},
		{name: "audit export", noOutput: true,
			summary: "Write the whole selection as JSON lines, newest first, to stdout or --out (mode 0600).",
			example: "latchkey audit export --realm acme --since 2026-11-01T00:00:00Z --out acme-audit.jsonl",
			define: func(fs *flag.FlagSet, s *session) func(context.Context, []string) error {
				q := url.Values{}
				auditFilters(fs, q, true)
				out := fs.String("out", "", "file to write (default: stdout)")
				return func(ctx context.Context, _ []string) error {
					return s.exportAudit(ctx, q, *out)
				}
			}},
	}})
}

// exportAudit streams the JSON lines the server sends; a stream cut short
// is an error, never a complete-looking file.
func (s *session) exportAudit(ctx context.Context, q url.Values, out string) error {
	what := "export the audit log of realm " + s.realm
	resp, err := s.api.Open(ctx, adminclient.Request{Method: http.MethodGet, Path: s.realmPath("/audit?" + q.Encode()),
		Header: http.Header{"Accept": {"application/x-ndjson"}}})
	if err != nil {
		return s.explain(what, err)
	}
	defer resp.Body.Close()
	w := s.io.stdout
	if out != "" {
		f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return s.explain(what, fmt.Errorf("the stream broke off: %w", err))
	}
	return nil
}

// tailAudit prints the newest n entries, oldest first, then follows the
// live stream from the newest one shown. When the server ends the stream
// because the token stopped being valid (it expires hourly), it resumes
// with a new token from the last entry seen.
func (s *session) tailAudit(ctx context.Context, q url.Values, n int) error {
	lastID := ""
	if n > 0 {
		page := cloneValues(q)
		page.Set("limit", strconv.Itoa(n))
		resp, err := s.call(ctx, "read the audit log of realm "+s.realm, adminclient.Request{Method: http.MethodGet, Path: s.realmPath("/audit?" + page.Encode())})
		if err != nil {
			return err
		}
		var body struct {
			Entries []json.RawMessage `json:"entries"`
		}
		if err := resp.Decode(&body); err != nil {
			return err
		}
		slices.Reverse(body.Entries)
		for _, raw := range body.Entries {
			if err := s.printAuditEntry(raw); err != nil {
				return err
			}
		}
		if len(body.Entries) > 0 {
			var newest apiAuditEntry
			_ = json.Unmarshal(body.Entries[len(body.Entries)-1], &newest)
			lastID = strconv.FormatUint(newest.Seq, 10) // after every entry of its message
		}
	}
	for quiet := 0; quiet < 2; {
		got, err := s.followAudit(ctx, q, &lastID)
		if ctx.Err() != nil {
			return nil // Ctrl-C
		}
		if err != nil {
			return err
		}
		if got {
			quiet = 0
		} else {
			quiet++ // ended twice without an entry: the server means it
		}
	}
	return fmt.Errorf("the server ended the audit stream of realm %s", s.realm)
}

// followAudit reads one connection of the event stream, printing each
// entry and keeping its id; it reports whether any entry came.
func (s *session) followAudit(ctx context.Context, q url.Values, lastID *string) (bool, error) {
	h := http.Header{"Accept": {"text/event-stream"}}
	if *lastID != "" {
		h.Set("Last-Event-ID", *lastID)
	}
	resp, err := s.api.Open(ctx, adminclient.Request{Method: http.MethodGet, Path: s.realmPath("/audit/stream?" + q.Encode()), Header: h})
	if err != nil {
		return false, s.explain("follow the audit log of realm "+s.realm, err)
	}
	defer resp.Body.Close()
	got := false
	var id string
	var data []string
	lines := bufio.NewScanner(resp.Body)
	lines.Buffer(nil, 1<<20)
	for lines.Scan() {
		line := lines.Text()
		switch {
		case line == "": // an event ends
			if len(data) > 0 {
				if err := s.printAuditEntry([]byte(strings.Join(data, "\n"))); err != nil {
					return got, err
				}
				got = true
				if id != "" {
					*lastID = id
				}
			}
			id, data = "", nil
		case strings.HasPrefix(line, ":"): // a comment: heartbeat, or why it ends
		case strings.HasPrefix(line, "id:"):
			id = strings.TrimSpace(strings.TrimPrefix(line, "id:"))
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	return got, nil
}

// printAuditEntry prints one entry: a line for people, or the JSON line.
func (s *session) printAuditEntry(raw []byte) error {
	if s.json {
		_, err := fmt.Fprintf(s.io.stdout, "%s\n", raw)
		return err
	}
	var e apiAuditEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		return fmt.Errorf("an audit entry is not JSON: %w", err)
	}
	_, err := fmt.Fprintf(s.io.stdout, "%s  %-8d  %-24s  %-44s  %-44s  %s\n", e.Time.UTC().Format(time.RFC3339), e.Seq, e.Type, e.Actor, e.Target, oneLine(e.Summary))
	return err
}
