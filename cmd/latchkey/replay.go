package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/projections"
	"github.com/latchkeyhq/latchkey/realms"
)

// `latchkey replay` reads a realm's history straight from its JetStream
// stream: the embedded store of a stopped server (--data) or a running
// cluster (--nats-url). By default it prints the events as JSON lines;
// --rebuild folds them through every read model and checks that the
// models are deterministic; --verify checks the history against its signed
// checkpoints.

const replayUsage = `usage: latchkey replay --realm NAME [flags]

Reads realm NAME's events from NATS JetStream and prints them, one JSON
object per line (the stored envelope plus "seq"), or --format table.
Hash fields ("hash", "*_hash") are left out, as in every view.

  --rebuild   fold the whole history through every read model, twice
              (and from the latest snapshot, if any), compare digests;
              exit 1 on any difference
  --verify    check the history against its audit.checkpoint chain;
              exit 1 if anything was altered, removed or reordered

`

type replayConfig struct {
	realm   string
	dataDir string
	natsURL string
	fromSeq uint64
	since   time.Time
	until   time.Time
	// filter is what the audit API would select from the flags below.
	filter    projections.AuditFilter
	clientID  string
	actor     string
	eventType string
	target    string
	format    string
	rebuild   bool
	verify    bool
	jwks      string
	progress  string

	// natsPassword and natsCA reach a server's --nats-listen as user latchkey.
	natsPassword, natsCA string
}

func parseReplayFlags(args []string, stderr io.Writer) (replayConfig, error) {
	var cfg replayConfig
	var since, until string
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, replayUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.realm, "realm", "", "realm to read (required)")
	fs.StringVar(&cfg.dataDir, "data", envOr("LATCHKEY_DATA", "./data"), "data directory of a stopped server: its embedded JetStream store is opened, without a listener (LATCHKEY_DATA)")
	fs.StringVar(&cfg.natsURL, "nats-url", envOr("LATCHKEY_NATS_URL", ""), "NATS server or cluster to read from instead of --data, e.g. a running server's --nats-listen (LATCHKEY_NATS_URL)")
	natsClientFlags(fs, &cfg.natsPassword, &cfg.natsCA)
	fs.Uint64Var(&cfg.fromSeq, "from-seq", 0, "first stream sequence to read")
	fs.StringVar(&since, "since", "", "only events at or after this time (RFC 3339), by the event's own time")
	fs.StringVar(&until, "until", "", "only events at or before this time (RFC 3339)")
	fs.StringVar(&cfg.clientID, "client-id", "", "only events done through this OAuth client")
	fs.StringVar(&cfg.actor, "actor", "", `only events of this actor ("system", "client:<id>", "user:<id>")`)
	fs.StringVar(&cfg.eventType, "type", "", `only this event type, or every type with this prefix when it ends in "." or "*" ("token.")`)
	fs.StringVar(&cfg.target, "target", "", `only events of this aggregate ("client/<id>"), or of every aggregate with this prefix when it ends in "/" or "*" ("node/")`)
	fs.StringVar(&cfg.format, "format", "", "json (JSON lines; the default) or table; with --verify or --rebuild, json prints the report as JSON instead of text")
	fs.BoolVar(&cfg.rebuild, "rebuild", false, "rebuild every read model from the history and compare digests")
	fs.BoolVar(&cfg.verify, "verify", false, "verify the history against its signed checkpoints")
	fs.StringVar(&cfg.jwks, "jwks", "", "with --verify: trust only the ES256 keys of this JWKS file (e.g. an archived copy of the realm's certs), not the keys the stream itself publishes")
	fs.StringVar(&cfg.progress, "progress", "auto", "progress bar on stderr: auto (when stderr is a terminal), always or never")
	if err := parseFlags(fs, args, map[string]error{}); err != nil {
		return cfg, err
	}
	if !domain.IsValidName(cfg.realm) {
		return cfg, fmt.Errorf("replay: --realm must name a realm (got %q)", cfg.realm)
	}
	var err error
	if since != "" {
		if cfg.since, err = time.Parse(time.RFC3339Nano, since); err != nil {
			return cfg, fmt.Errorf("replay: --since: %w", err)
		}
	}
	if until != "" {
		if cfg.until, err = time.Parse(time.RFC3339Nano, until); err != nil {
			return cfg, fmt.Errorf("replay: --until: %w", err)
		}
	}
	if !cfg.since.IsZero() && !cfg.until.IsZero() && cfg.until.Before(cfg.since) {
		return cfg, errors.New("replay: --until is before --since")
	}
	cfg.filter = projections.AuditFilter{ClientID: cfg.clientID, Actor: cfg.actor, Since: cfg.since, Until: cfg.until}
	cfg.filter.Type, cfg.filter.TypePrefix = projections.AuditPattern(cfg.eventType, ".")
	cfg.filter.Target, cfg.filter.TargetPrefix = projections.AuditPattern(cfg.target, "/")
	if cfg.fromSeq > 0 && !cfg.since.IsZero() {
		return cfg, errors.New("replay: --from-seq and --since are exclusive")
	}
	if cfg.format != "" && cfg.format != "json" && cfg.format != "table" {
		return cfg, fmt.Errorf("replay: --format %q: want json or table", cfg.format)
	}
	if cfg.progress != "auto" && cfg.progress != "always" && cfg.progress != "never" {
		return cfg, fmt.Errorf("replay: --progress %q: want auto, always or never", cfg.progress)
	}
	if cfg.rebuild && cfg.verify {
		return cfg, errors.New("replay: --rebuild and --verify are separate runs")
	}
	if (cfg.rebuild || cfg.verify) && (cfg.filtered() || cfg.fromSeq > 0) {
		return cfg, errors.New("replay: --rebuild and --verify read the whole history; drop the filters")
	}
	if cfg.jwks != "" && !cfg.verify {
		return cfg, errors.New("replay: --jwks goes with --verify")
	}
	return cfg, nil
}

func (c *replayConfig) filtered() bool {
	return c.filter != projections.AuditFilter{}
}

// selective reports whether a filter on what events say is set: an
// undecodable message matches none. A time window alone still shows it
// (its event time is unknown, and it may be what an auditor looks for).
func (c *replayConfig) selective() bool {
	f := c.filter
	f.Since, f.Until = time.Time{}, time.Time{}
	return f != projections.AuditFilter{}
}

func replay(args []string) error {
	cfg, err := parseReplayFlags(args, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return usageError(err)
	}
	defer debug.SetGCPercent(replayGC(cfg))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	src, err := openReplaySource(ctx, cfg)
	if err != nil {
		return err
	}
	defer src.close()
	out := bufio.NewWriterSize(os.Stdout, 256<<10)
	defer out.Flush()
	bar := newProgressBar(os.Stderr, cfg.progress)
	defer bar.finish()
	switch {
	case cfg.rebuild:
		return runRebuild(ctx, src.store, cfg, out, bar)
	case cfg.verify:
		return runVerify(ctx, src.store, cfg, out, bar)
	}
	_, err = runReplay(ctx, src.store, cfg, out, bar)
	if err != nil {
		return err
	}
	return out.Flush()
}

// replayGC sets the garbage collector for a run and returns the previous
// setting. Printing and verifying keep almost nothing alive but allocate
// for every message (the NATS client does): collecting less often is about
// a tenth faster. A rebuild keeps every model alive and stays at the
// default.
func replayGC(cfg replayConfig) int {
	if cfg.rebuild {
		return debug.SetGCPercent(100)
	}
	return debug.SetGCPercent(400)
}

// replaySource is the store replay reads, and what to close after.
type replaySource struct {
	store  *eventstore.Store
	nc     *nats.Conn
	ns     *server.Server
	unlock func() // of --data
}

func (s *replaySource) close() {
	s.store.Close()
	s.nc.Close()
	if s.ns != nil {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
	}
	if s.unlock != nil {
		s.unlock()
	}
}

// openReplaySource connects to --nats-url, or starts the embedded server
// on --data (no listener: nothing else can reach it).
func openReplaySource(ctx context.Context, cfg replayConfig) (*replaySource, error) {
	src := &replaySource{}
	var err error
	if cfg.natsURL != "" {
		opts := append(eventstore.ClientOptions(cfg.natsPassword, cfg.natsCA), nats.Name("latchkey-replay"))
		src.nc, err = nats.Connect(cfg.natsURL, opts...)
		if err != nil {
			return nil, err
		}
	} else {
		if st, err := os.Stat(filepath.Join(cfg.dataDir, "nats")); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("replay: %s holds no JetStream store (nats/); give the data directory of a stopped server, or --nats-url", cfg.dataDir)
		}
		if src.unlock, err = eventstore.LockDataDir(cfg.dataDir); err != nil {
			return nil, fmt.Errorf("replay: %w; stop the server first, or read it over NATS with --nats-url (a server started with --nats-listen)", err)
		}
		src.ns, err = eventstore.StartEmbedded(eventstore.EmbeddedConfig{DataDir: cfg.dataDir})
		if err != nil {
			src.unlock()
			return nil, err
		}
		if src.nc, err = eventstore.ConnectInProcess(src.ns); err != nil {
			src.ns.Shutdown()
			src.unlock()
			return nil, err
		}
	}
	if src.store, err = eventstore.New(src.nc, eventstore.Options{}); err != nil {
		src.close()
		return nil, err
	}
	ok, err := src.store.HasRealmStream(ctx, cfg.realm)
	if err == nil && !ok {
		err = fmt.Errorf("replay: realm %s has no stream (%s)", cfg.realm, eventstore.StreamName(cfg.realm))
	}
	if err != nil {
		src.close()
		return nil, err
	}
	return src, nil
}

// ---- events as JSON lines or a table ----

// replayStats says what a replay printed.
type replayStats struct {
	Messages, Events, Printed uint64
}

// runReplay prints the realm's events that pass the filters.
func runReplay(ctx context.Context, store *eventstore.Store, cfg replayConfig, out *bufio.Writer, bar *progressBar) (replayStats, error) {
	var st replayStats
	p := newPrinter(cfg, out)
	// The time filters are on each event's own time; a message is stored
	// a little after its events happened (on another replica's clock, or
	// coalesced), so the stored times bound the scan with the same margin
	// the audit API allows.
	opts := eventstore.ScanOptions{FromSeq: cfg.fromSeq, OnStart: bar.start}
	if !cfg.since.IsZero() {
		opts.Since = cfg.since.Add(-projections.AuditClockSkew)
	}
	_, err := store.Scan(ctx, cfg.realm, opts, func(m *eventstore.RawMsg) error {
		st.Messages++
		if !cfg.until.IsZero() && m.Time.After(cfg.until.Add(projections.AuditClockSkew)) {
			return eventstore.ErrStopScan
		}
		if m.IsRule() {
			bar.add(0)
			return nil
		}
		n, printed, err := p.message(m)
		st.Events += uint64(n)
		st.Printed += uint64(printed)
		bar.add(n)
		return err
	})
	if err != nil {
		return st, err
	}
	return st, out.Flush()
}

// printer writes the events of one message.
type printer struct {
	cfg   replayConfig
	out   *bufio.Writer
	buf   []byte
	table bool
}

func newPrinter(cfg replayConfig, out *bufio.Writer) *printer {
	p := &printer{cfg: cfg, out: out, table: cfg.format == "table"}
	if p.table {
		fmt.Fprintf(out, "%-8s  %-20s  %-24s  %-44s  %-36s  %s\n", "SEQ", "TIME", "TYPE", "ACTOR", "CLIENT_ID", "TARGET")
	}
	return p
}

// filterView is the part of an envelope the filters and the table need.
type filterView struct {
	Type      string    `json:"type"`
	Aggregate string    `json:"aggregate"`
	Time      time.Time `json:"time"`
	Actor     string    `json:"actor"`
	ClientID  string    `json:"client_id"`
}

// message prints the message's events that pass the filters and returns
// how many events it held and how many were printed.
func (p *printer) message(m *eventstore.RawMsg) (events, printed int, err error) {
	data := m.Data
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		events++
		ok, err := p.event(m, line)
		if err != nil {
			return events, printed, err
		}
		if ok {
			printed++
		}
	}
	return events, printed, nil
}

func (p *printer) event(m *eventstore.RawMsg, line []byte) (bool, error) {
	var v filterView
	if p.cfg.filtered() || p.table {
		// A value absent from the raw bytes cannot match: skip without
		// decoding.
		f := &p.cfg.filter
		for _, want := range []string{f.ClientID, f.Actor, f.Target, f.Type} {
			if want != "" && !bytes.Contains(line, []byte(want)) {
				return false, nil
			}
		}
		if err := json.Unmarshal(line, &v); err != nil {
			return p.undecodable(m, line)
		}
		env := eventstore.Envelope{Type: v.Type, Aggregate: v.Aggregate, Time: v.Time, Actor: v.Actor, ClientID: v.ClientID}
		if !f.Match(&env) {
			return false, nil
		}
	}
	if p.table {
		_, err := fmt.Fprintf(p.out, "%-8d  %-20s  %-24s  %-44s  %-36s  %s\n", m.Seq,
			v.Time.UTC().Format(time.DateTime), v.Type, v.Actor, v.ClientID, v.Aggregate)
		return true, err
	}
	// The stored envelope, hash fields left out, with its seq: the same
	// bytes json.Marshal gives for the envelope with Seq set.
	if len(line) < 2 || line[0] != '{' || line[len(line)-1] != '}' {
		return p.undecodable(m, line)
	}
	p.buf = appendRedacted(p.buf[:0], line[:len(line)-1])
	p.buf = append(p.buf, `,"seq":`...)
	p.buf = strconv.AppendUint(p.buf, m.Seq, 10)
	p.buf = append(p.buf, '}', '\n')
	_, err := p.out.Write(p.buf)
	return true, err
}

// undecodable reports a stored body that is not an envelope, in the
// output's own format, unless a filter on the events' content is set (it
// matches none).
func (p *printer) undecodable(m *eventstore.RawMsg, line []byte) (bool, error) {
	if p.cfg.selective() {
		return false, nil
	}
	if p.table {
		_, err := fmt.Fprintf(p.out, "%-8d  (undecodable message on %s)\n", m.Seq, m.Subject)
		return true, err
	}
	raw, _ := json.Marshal(string(line))
	_, err := fmt.Fprintf(p.out, `{"seq":%d,"subject":%q,"undecodable":%s}`+"\n", m.Seq, m.Subject, raw)
	return true, err
}

// appendRedacted appends a compact JSON text without its hash fields
// ("hash" and "*_hash" string members, at any depth), as every view shows
// events. In compact JSON a quote that starts a member name follows '{'
// or ',' and is never inside a string (quotes there are escaped), so the
// bytes can be edited without decoding.
func appendRedacted(dst, src []byte) []byte {
	for {
		i := bytes.Index(src, []byte(`hash":"`))
		if i < 0 {
			return append(dst, src...)
		}
		// The member name's opening quote, and the byte before it (already
		// copied to dst when the name starts src).
		start := bytes.LastIndexByte(src[:i], '"')
		var before byte
		switch {
		case start >= 1:
			before = src[start-1]
		case start == 0 && len(dst) > 0:
			before = dst[len(dst)-1]
		}
		nameOK := start >= 0 && (before == '{' || before == ',')
		name := src[start+1 : i+4]
		if !nameOK || !(string(name) == "hash" || bytes.HasSuffix(name, []byte("_hash")) && isPlainName(name)) {
			dst = append(dst, src[:i+7]...)
			src = src[i+7:]
			continue
		}
		// The value: a string without escapes (hex or base64).
		end := bytes.IndexByte(src[i+7:], '"')
		if end < 0 || bytes.IndexByte(src[i+7:i+7+end], '\\') >= 0 {
			dst = append(dst, src[:i+7]...)
			src = src[i+7:]
			continue
		}
		end += i + 7 + 1 // past the closing quote
		if before == ',' {
			if start >= 1 {
				dst = append(dst, src[:start-1]...) // drop ,"name":"value"
			} else {
				dst = dst[:len(dst)-1]
			}
			src = src[end:]
			continue
		}
		// First member: drop "name":"value" and the comma after it.
		dst = append(dst, src[:start]...)
		src = src[end:]
		if len(src) > 0 && src[0] == ',' {
			src = src[1:]
		}
	}
}

func isPlainName(b []byte) bool {
	for _, c := range b {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// ---- --rebuild ----

// runRebuild folds the history from scratch into every model twice, each
// from its own decoding of every message (any dependence of a fold on map
// order or other state outside the events shows as a difference), and,
// when the realm has a snapshot, once more from the snapshot and the events
// after it (what a restarting server holds), and compares the models'
// digests.
func runRebuild(ctx context.Context, store *eventstore.Store, cfg replayConfig, out *bufio.Writer, bar *progressBar) error {
	started := time.Now()
	// Two folds from scratch, each of its own decoding of every message.
	both, res, err := rebuildModels(ctx, store, cfg.realm, rebuildOptions{copies: 2, onStart: bar.start, onBatch: bar.addBatch})
	if err != nil {
		return err
	}
	bar.finish()
	took := time.Since(started)
	header := rebuildReport{Realm: cfg.realm, Messages: res.Messages, Events: res.Events, LastSeq: res.LastSeq,
		Took: took.Round(time.Millisecond), Seconds: took.Seconds(), EventsPerSecond: float64(res.Events) / took.Seconds()}
	runs := []namedRun{{"rebuild", both[0]}, {"again", both[1]}}
	// What a restarting server holds: its snapshot, then the events after
	// it, decoded as the server's runner does.
	switch fromSnap, seq, err := loadSnapshot(ctx, store, cfg.realm); {
	case err != nil:
		header.Notes = append(header.Notes, fmt.Sprintf("snapshot: not compared (%v)", err))
	case fromSnap != nil && seq <= res.LastSeq:
		if seq < res.LastSeq {
			into := []*projections.Models{fromSnap}
			if _, _, err := rebuildModels(ctx, store, cfg.realm, rebuildOptions{into: into, after: seq, toSeq: res.LastSeq}); err != nil {
				return fmt.Errorf("rebuild from the snapshot: %w", err)
			}
		}
		runs = append(runs, namedRun{fmt.Sprintf("snapshot@%d", seq), fromSnap})
	case fromSnap != nil:
		header.Notes = append(header.Notes, fmt.Sprintf("snapshot: at seq %d, after what was read; not compared", seq))
	}
	for _, r := range runs {
		header.Runs = append(header.Runs, r.name)
	}
	return compareRuns(out, cfg.format == "json", header, runs)
}

type namedRun struct {
	name   string
	models *projections.Models
}

// modelResult is one model's digest in every run.
type modelResult struct {
	Name    string            `json:"name"`
	Digests map[string]string `json:"digests"`
	Equal   bool              `json:"equal"`
}

// compareRuns prints each model's digest in every run and the lines that
// differ; an error (exit 1) if any does.
func compareRuns(out *bufio.Writer, asJSON bool, header rebuildReport, runs []namedRun) error {
	var results []modelResult
	var differ []string
	var diffs bytes.Buffer
	for i, nm := range runs[0].models.Named() {
		r := modelResult{Name: nm.Name, Digests: map[string]string{}, Equal: true}
		d := projections.DigestOf(nm.Model)
		r.Digests[runs[0].name] = d.String()
		for _, run := range runs[1:] {
			other := run.models.Named()[i]
			od := projections.DigestOf(other.Model)
			r.Digests[run.name] = od.String()
			if od != d {
				r.Equal = false
				fmt.Fprintf(&diffs, "%s: %s %s, %s %s\n", nm.Name, runs[0].name, d.String()[:16], run.name, od.String()[:16])
				printDiff(&diffs, runs[0].name, nm.Model, run.name, other.Model)
			}
		}
		if !r.Equal {
			differ = append(differ, nm.Name)
		}
		results = append(results, r)
	}
	if asJSON {
		header.Models = results
		header.Differences = diffs.String()
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(header); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(out, "realm %s: %d messages, %d events up to seq %d, folded twice from scratch in %s (%.0f events/s)\n",
			header.Realm, header.Messages, header.Events, header.LastSeq, header.Took, header.EventsPerSecond)
		for _, n := range header.Notes {
			fmt.Fprintln(out, n)
		}
		names := make([]string, len(runs))
		for i, r := range runs {
			names[i] = r.name
		}
		fmt.Fprintf(out, "%-8s  %-16s  %s\n", "MODEL", "DIGEST", "compared: "+strings.Join(names, ", "))
		for _, r := range results {
			status := "equal"
			if !r.Equal {
				status = "DIFFERENT"
			}
			fmt.Fprintf(out, "%-8s  %-16s  %s\n", r.Name, r.Digests[runs[0].name][:16], status)
		}
		out.Write(diffs.Bytes())
	}
	if err := out.Flush(); err != nil {
		return err
	}
	if len(differ) > 0 {
		return fmt.Errorf("read models differ between rebuilds: %s (not deterministic)", strings.Join(differ, ", "))
	}
	return nil
}

// rebuildReport is --rebuild's report (--format json).
type rebuildReport struct {
	Realm           string        `json:"realm"`
	Messages        uint64        `json:"messages"`
	Events          uint64        `json:"events"`
	LastSeq         uint64        `json:"last_seq"`
	Took            time.Duration `json:"-"`
	Seconds         float64       `json:"seconds"`
	EventsPerSecond float64       `json:"events_per_second"`
	Runs            []string      `json:"runs"`
	Notes           []string      `json:"notes,omitempty"`
	Models          []modelResult `json:"models"`
	Differences     string        `json:"differences,omitempty"`
}

// maxDiffLines bounds what a difference prints.
const maxDiffLines = 20

// printDiff prints how two models' canonical lines differ: entries only
// one side has, and for an entry both have, the fields that differ. Hash
// fields are never shown.
func printDiff(out io.Writer, an string, a projections.Canonical, bn string, b projections.Canonical) {
	la, lb := canonicalLines(a), canonicalLines(b)
	ka, kb := keyedLines(la), keyedLines(lb)
	shown := 0
	show := func(format string, args ...any) {
		if shown < maxDiffLines {
			fmt.Fprintf(out, "  "+format+"\n", args...)
		}
		shown++
	}
	seen := map[string]bool{}
	for _, lines := range [][]string{la, lb} {
		for _, l := range lines {
			key, _ := splitLine(l)
			if seen[key] {
				continue
			}
			seen[key] = true
			va, inA := ka[key]
			vb, inB := kb[key]
			switch {
			case !inB:
				show("- %-10s %s", an, redactLine(l))
			case !inA:
				show("+ %-10s %s", bn, redactLine(l))
			case va != vb:
				for _, f := range fieldDiff(va, vb) {
					show("~ %s: %s", key, f)
				}
			}
		}
	}
	if shown > maxDiffLines {
		fmt.Fprintf(out, "  … %d more differences\n", shown-maxDiffLines)
	}
}

// splitLine cuts a canonical line into its "kind key" and its value.
func splitLine(l string) (key, value string) {
	kind, rest, _ := strings.Cut(l, " ")
	if rest == "" || rest[0] == '{' || rest[0] == '[' {
		return kind, rest
	}
	k, v, _ := strings.Cut(rest, " ")
	return kind + " " + k, v
}

func keyedLines(lines []string) map[string]string {
	out := make(map[string]string, len(lines))
	for _, l := range lines {
		k, v := splitLine(l)
		out[k] = v
	}
	return out
}

// fieldDiff lists the top-level fields of two JSON objects that differ
// ("name: \"one\" → \"two\""), or the two values when they are not objects.
func fieldDiff(a, b string) []string {
	var ma, mb map[string]any
	if json.Unmarshal([]byte(a), &ma) != nil || json.Unmarshal([]byte(b), &mb) != nil {
		return []string{redactLine(a) + " → " + redactLine(b)}
	}
	ma, mb = dropHashes(ma).(map[string]any), dropHashes(mb).(map[string]any)
	names := map[string]bool{}
	for k := range ma {
		names[k] = true
	}
	for k := range mb {
		names[k] = true
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(names)) {
		ra, _ := json.Marshal(ma[k])
		rb, _ := json.Marshal(mb[k])
		if !bytes.Equal(ra, rb) {
			out = append(out, fmt.Sprintf("%s: %s → %s", k, ra, rb))
		}
	}
	if len(out) == 0 {
		out = append(out, "(only hash fields differ)")
	}
	return out
}

// redactLine drops hash members from a canonical line's JSON value: the
// read models keep secret hashes under Go names (SecretHash, RefreshHash).
func redactLine(l string) string {
	i := strings.IndexAny(l, "{[")
	if i < 0 {
		return l
	}
	var v any
	if json.Unmarshal([]byte(l[i:]), &v) != nil {
		return l[:i] + "(not shown)"
	}
	raw, _ := json.Marshal(dropHashes(v))
	return l[:i] + string(raw)
}

func dropHashes(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if n := strings.ToLower(k); strings.HasSuffix(n, "hash") || strings.Contains(n, "secret") {
				delete(x, k)
				continue
			}
			x[k] = dropHashes(val)
		}
	case []any:
		for i := range x {
			x[i] = dropHashes(x[i])
		}
	}
	return v
}

func canonicalLines(m projections.Canonical) []string {
	var buf bytes.Buffer
	_ = m.WriteCanonical(&buf)
	return strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
}

// rebuildResult says what a rebuild folded.
type rebuildResult struct {
	Messages, Events, LastSeq uint64
}

// rebuildModels folds the realm's whole history into new models: one
// goroutine reads, decoding runs on every core, one goroutine folds in
// stream order.
// rebuildOptions vary a rebuild.
type rebuildOptions struct {
	// copies is how many independent sets of models to fold (default 1):
	// each from its own decoding of every message, so no two share a
	// payload.
	copies int
	// into are the models to fold into (default: new, empty ones); after
	// is the sequence they already reflect (a restored snapshot).
	into  []*projections.Models
	after uint64
	// toSeq bounds the read (0: the stream's last sequence at the start).
	toSeq   uint64
	onStart func(expected uint64)
	onBatch func(msgs, events int)
}

// rebuildModels folds the realm's history into models: one goroutine
// reads, decoding runs on every core, one goroutine per set of models
// folds in stream order.
func rebuildModels(ctx context.Context, store *eventstore.Store, realm string, opts rebuildOptions) ([]*projections.Models, rebuildResult, error) {
	models := opts.into
	for len(models) < max(opts.copies, 1) {
		models = append(models, projections.NewModels())
	}
	copies := len(models)
	var res rebuildResult
	const batchSize = 512
	type batch struct {
		msgs   []eventstore.RawMsg
		events [][]projections.Event // per copy
		done   chan struct{}
	}
	workers := max(runtime.GOMAXPROCS(0), 1)
	todo := make(chan *batch, workers*2)
	ordered := make([]chan *batch, copies)
	for c := range ordered {
		ordered[c] = make(chan *batch, workers*4)
	}
	var decoders, folders sync.WaitGroup
	for range workers {
		decoders.Go(func() {
			for b := range todo {
				for c := range b.events {
					b.events[c] = decodeBatch(b.msgs)
				}
				close(b.done)
			}
		})
	}
	events := make([]uint64, copies)
	for c := range copies {
		folds := models[c].Folds()
		folders.Go(func() {
			for b := range ordered[c] {
				<-b.done
				for _, ev := range b.events[c] {
					for _, f := range folds {
						f.Apply(ev)
					}
				}
				events[c] += uint64(len(b.events[c]))
				if c == 0 && opts.onBatch != nil {
					opts.onBatch(len(b.msgs), len(b.events[c]))
				}
			}
		})
	}
	cur := &batch{events: make([][]projections.Event, copies), done: make(chan struct{})}
	flush := func() {
		todo <- cur
		for c := range ordered {
			ordered[c] <- cur
		}
		cur = &batch{msgs: make([]eventstore.RawMsg, 0, batchSize), events: make([][]projections.Event, copies), done: make(chan struct{})}
	}
	scan := eventstore.ScanOptions{FromSeq: opts.after + 1, ToSeq: opts.toSeq, OnStart: opts.onStart}
	stats, err := store.Scan(ctx, realm, scan, func(m *eventstore.RawMsg) error {
		cur.msgs = append(cur.msgs, *m) // m.Data is the message's own
		if len(cur.msgs) == batchSize {
			flush()
		}
		return nil
	})
	if len(cur.msgs) > 0 {
		flush()
	}
	close(todo)
	for c := range ordered {
		close(ordered[c])
	}
	decoders.Wait()
	folders.Wait()
	if err != nil {
		return nil, res, err
	}
	res.Messages, res.LastSeq, res.Events = stats.Messages, stats.LastSeq, events[0]
	return models, res, nil
}

// decodeBatch decodes messages into events, as the runner does: rules are
// skipped, a message that does not decode is skipped whole, an event whose
// payload does not decode is not folded.
func decodeBatch(msgs []eventstore.RawMsg) []projections.Event {
	out := make([]projections.Event, 0, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		if m.IsRule() {
			continue
		}
		envs, err := eventstore.DecodeMessage(m.Data, m.Seq)
		if err != nil {
			continue
		}
		for _, env := range envs {
			p, err := env.Payload()
			if err != nil {
				continue
			}
			out = append(out, projections.Event{Envelope: env, Payload: p})
		}
	}
	return out
}

// loadSnapshot restores the realm's latest snapshot, read without
// creating the bucket, into new models; nil when there is none.
func loadSnapshot(ctx context.Context, store *eventstore.Store, realm string) (*projections.Models, uint64, error) {
	snapshots, ok := realms.FindSnapshotStore(ctx, store.JetStream())
	if !ok {
		return nil, 0, nil // no bucket: no snapshot
	}
	data, err := snapshots.Load(ctx, realm)
	if err != nil || data == nil {
		return nil, 0, nil
	}
	models := projections.NewModels()
	seq, err := models.Restore(data)
	if err != nil {
		return nil, 0, err
	}
	return models, seq, nil
}

// ---- --verify ----

func runVerify(ctx context.Context, store *eventstore.Store, cfg replayConfig, out *bufio.Writer, bar *progressBar) error {
	opts := realms.VerifyOptions{OnStart: bar.start, OnMessage: func(uint64) { bar.add(1) }}
	if cfg.jwks != "" {
		raw, err := os.ReadFile(cfg.jwks)
		if err != nil {
			return err
		}
		if opts.TrustedKeys, err = realms.TrustedKeys(raw); err != nil {
			return fmt.Errorf("--jwks %s: %w", cfg.jwks, err)
		}
	}
	rep, err := realms.VerifyChain(ctx, store, cfg.realm, opts)
	if err != nil {
		return err
	}
	bar.finish()
	if cfg.format == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printVerifyReport(out, rep)
	}
	if err := out.Flush(); err != nil {
		return err
	}
	if f, bad := rep.Tampered(); bad {
		return fmt.Errorf("realm %s: history %s at seq %d%s", cfg.realm, describeKind(f.Kind), f.Seq, detailSuffix(f))
	}
	return nil
}

func describeKind(kind string) string {
	switch kind {
	case domain.FindingRemoved:
		return "removed"
	case domain.FindingAltered:
		return "altered"
	case domain.FindingReordered:
		return "reordered"
	case domain.FindingInserted:
		return "inserted"
	case domain.FindingUnattested:
		return "missing (unattested)"
	}
	return "not verifiable (" + kind + ")"
}

func detailSuffix(f domain.Finding) string {
	if f.Detail == "" {
		return ""
	}
	return ": " + f.Detail
}

func printVerifyReport(out io.Writer, rep *realms.VerifyReport) {
	fmt.Fprintf(out, "realm %s: %d messages up to seq %d, %d checkpoints (keys %s), covered to seq %d, %d after the last checkpoint\n",
		rep.Realm, rep.Messages, rep.LastSeq, rep.Checkpoints, strings.Join(rep.Kids, ", "), rep.CoveredTo, rep.Uncovered)
	if rep.Retention > 0 {
		fmt.Fprintf(out, "retention: %d messages expired by their TTL, as recorded\n", rep.Retention)
	}
	shown := 0
	for _, f := range rep.Findings {
		if f.Kind == domain.FindingRetention {
			continue
		}
		if shown == 100 {
			fmt.Fprintln(out, "…")
			break
		}
		shown++
		seq := strconv.FormatUint(f.Seq, 10)
		if f.LastSeq > f.Seq {
			seq += ".." + strconv.FormatUint(f.LastSeq, 10)
		}
		fmt.Fprintf(out, "seq %s: %s%s\n", seq, f.Kind, detailSuffix(f))
	}
	if f, bad := rep.Tampered(); bad {
		fmt.Fprintf(out, "TAMPERED: first at seq %d (%s)\n", f.Seq, f.Kind)
	} else {
		fmt.Fprintln(out, "OK: every checkpointed message is stored unchanged, or expired by its retention")
	}
}

// ---- serve: checkpoints and token retention ----

// auditFlags adds serve's tamper-evidence settings: each has an
// environment variable, and the flag wins.
func auditFlags(fs *flag.FlagSet, cfg *realms.AuditConfig, envErrs map[string]error) {
	every := envInt(envErrs, "checkpoint-every", "LATCHKEY_CHECKPOINT_EVERY", realms.DefaultCheckpointEvery)
	interval := envDuration(envErrs, "checkpoint-interval", "LATCHKEY_CHECKPOINT_INTERVAL", realms.DefaultCheckpointInterval)
	retention := envDuration(envErrs, "token-retention", "LATCHKEY_TOKEN_RETENTION", 0)
	fs.IntVar(&cfg.CheckpointEvery, "checkpoint-every", every, "append a signed audit.checkpoint at least every N stream messages; negative: none (LATCHKEY_CHECKPOINT_EVERY)")
	fs.DurationVar(&cfg.CheckpointInterval, "checkpoint-interval", interval, "and at most this long after the first message it covers (LATCHKEY_CHECKPOINT_INTERVAL)")
	fs.DurationVar(&cfg.TokenRetention, "token-retention", retention, "token events expire from the stream after this long (Nats-TTL; at least 25h); 0 keeps them (LATCHKEY_TOKEN_RETENTION)")
}

// ---- progress ----

// progressBar draws "events/s, ETA" on stderr when it is a terminal; it
// is a no-op otherwise (nil-safe).
type progressBar struct {
	w        io.Writer
	total    atomic.Uint64 // messages expected
	msgs     atomic.Uint64
	events   atomic.Uint64
	started  time.Time
	stop     chan struct{}
	stopped  sync.WaitGroup
	finished sync.Once
}

func newProgressBar(f *os.File, mode string) *progressBar {
	on := mode == "always" || mode == "auto" && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
	if !on {
		return nil
	}
	return &progressBar{w: f, stop: make(chan struct{})}
}

func (b *progressBar) start(expected uint64) {
	if b == nil {
		return
	}
	b.total.Store(expected)
	b.started = time.Now()
	b.draw()
	b.stopped.Add(1)
	go func() {
		defer b.stopped.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				fmt.Fprint(b.w, "\r\033[K")
				return
			case <-t.C:
				b.draw()
			}
		}
	}()
}

// add counts one message holding n events.
func (b *progressBar) add(n int) { b.addBatch(1, n) }

// addBatch counts messages holding events.
func (b *progressBar) addBatch(msgs, events int) {
	if b == nil {
		return
	}
	b.msgs.Add(uint64(msgs))
	b.events.Add(uint64(events))
}

func (b *progressBar) draw() {
	total, done := b.total.Load(), b.msgs.Load()
	el := time.Since(b.started).Seconds()
	rate := float64(b.events.Load()) / max(el, 1e-9)
	frac := 0.0
	if total > 0 {
		frac = min(float64(done)/float64(total), 1)
	}
	eta := "--:--"
	if done > 0 && total > done {
		left := time.Duration(el / float64(done) * float64(total-done) * float64(time.Second))
		eta = fmt.Sprintf("%d:%02d", int(left.Minutes()), int(left.Seconds())%60)
	}
	const width = 30
	fill := int(frac * width)
	fmt.Fprintf(b.w, "\r\033[K[%s%s] %3.0f%% %d/%d messages  %.0f events/s  ETA %s",
		strings.Repeat("=", fill), strings.Repeat(" ", width-fill), frac*100, done, total, rate, eta)
}

func (b *progressBar) finish() {
	if b == nil {
		return
	}
	b.finished.Do(func() {
		close(b.stop)
		b.stopped.Wait()
	})
}
