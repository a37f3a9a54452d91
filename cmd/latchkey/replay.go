package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
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
Secret fields (hashes, secrets, tokens, codes, private keys) are left
out, as in every view. With the master key (LATCHKEY_MASTER_KEY, or
master.key in --data) every message's MAC is checked: a message without a
valid one was not written by Latchkey and is shown as foreign, never as
an event.

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
	opts := eventstore.Options{}
	if masterKey, err := existingMasterKey(cfg.dataDir); err == nil {
		if opts.EventKey, err = eventstore.DeriveKey(masterKey, eventstore.PurposeEventMAC); err != nil {
			src.close()
			return nil, err
		}
	} else {
		fmt.Fprintf(os.Stderr, "replay: event MACs are not checked (%v)\n", err)
	}
	if !cfg.verify { // --verify lists foreign messages in its report
		opts.OnForeign = newForeignNotes(os.Stderr).note
	}
	if src.store, err = eventstore.New(src.nc, opts); err != nil {
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

// runReplay prints the realm's events that pass the filters.
func runReplay(ctx context.Context, store *eventstore.Store, cfg replayConfig, out *bufio.Writer, bar *progressBar) (projections.HistoryStats, error) {
	table := cfg.format == "table"
	if table {
		fmt.Fprintf(out, "%-8s  %-20s  %-24s  %-44s  %-36s  %s\n", "SEQ", "TIME", "TYPE", "ACTOR", "CLIENT_ID", "TARGET")
	}
	scan := projections.HistoryScan{FromSeq: cfg.fromSeq, Filter: cfg.filter, Heads: table, JSON: !table,
		OnStart: bar.start, OnMessage: bar.add}
	st, err := projections.ScanHistory(ctx, store, cfg.realm, scan, func(ev *projections.StoredEvent) error {
		var err error
		switch {
		case ev.Foreign && table:
			_, err = fmt.Fprintf(out, "%-8d  (foreign message on %s: no valid MAC, not Latchkey's)\n", ev.Seq, ev.Subject)
		case ev.Foreign:
			_, err = fmt.Fprintf(out, `{"seq":%d,"subject":%q,"foreign":true}`+"\n", ev.Seq, ev.Subject)
		case ev.Undecodable && table:
			_, err = fmt.Fprintf(out, "%-8d  (undecodable message on %s)\n", ev.Seq, ev.Subject)
		case ev.Undecodable:
			raw, _ := json.Marshal(string(ev.Raw))
			_, err = fmt.Fprintf(out, `{"seq":%d,"subject":%q,"undecodable":%s}`+"\n", ev.Seq, ev.Subject, raw)
		case table:
			h := &ev.Head
			_, err = fmt.Fprintf(out, "%-8d  %-20s  %-24s  %-44s  %-36s  %s\n", ev.Seq,
				h.Time.UTC().Format(time.DateTime), h.Type, h.Actor, h.ClientID, h.Aggregate)
		default:
			if _, err = out.Write(ev.JSON); err == nil {
				err = out.WriteByte('\n')
			}
		}
		return err
	})
	if err != nil {
		return st, err
	}
	return st, out.Flush()
}

// ---- --rebuild ----

// runRebuild folds the history through every model twice and from the
// realm's snapshot (projections.CheckRebuild) and prints how the models
// compare; an error (exit 1) if any differs.
func runRebuild(ctx context.Context, store *eventstore.Store, cfg replayConfig, out *bufio.Writer, bar *progressBar) error {
	// What a restarting server holds: its snapshot (read without creating
	// the bucket; an unreadable one is as none).
	var snapshot []byte
	if snaps, ok := realms.FindSnapshotStore(ctx, store); ok {
		snapshot, _ = snaps.Load(ctx, cfg.realm)
	}
	rep, err := projections.CheckRebuild(ctx, store, cfg.realm, snapshot, projections.RebuildOptions{OnStart: bar.start, OnBatch: bar.addBatch})
	if err != nil {
		return err
	}
	bar.finish()
	return printRebuildReport(out, cfg.format == "json", rep)
}

// printRebuildReport prints each model's digest in every run and the lines
// that differ; an error if any does.
func printRebuildReport(out *bufio.Writer, asJSON bool, rep *projections.RebuildReport) error {
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(out, "realm %s: %d messages, %d events up to seq %d, folded twice from scratch in %s (%.0f events/s)\n",
			rep.Realm, rep.Messages, rep.Events, rep.LastSeq, rep.Took, rep.EventsPerSecond)
		for _, n := range rep.Notes {
			fmt.Fprintln(out, n)
		}
		fmt.Fprintf(out, "%-8s  %-16s  %s\n", "MODEL", "DIGEST", "compared: "+strings.Join(rep.Runs, ", "))
		for _, m := range rep.Models {
			status := "equal"
			if !m.Equal {
				status = "DIFFERENT"
			}
			fmt.Fprintf(out, "%-8s  %-16s  %s\n", m.Name, m.Digests[rep.Runs[0]][:16], status)
		}
		out.WriteString(rep.Differences)
	}
	if err := out.Flush(); err != nil {
		return err
	}
	if differ := rep.Different(); len(differ) > 0 {
		return fmt.Errorf("read models differ between rebuilds: %s (not deterministic)", strings.Join(differ, ", "))
	}
	return nil
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
	case domain.FindingForeign:
		return "holds a foreign message"
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
	switch {
	case !rep.MACsChecked:
		fmt.Fprintln(out, "event MACs: not checked (no master key: set LATCHKEY_MASTER_KEY, or give the --data directory that holds master.key)")
	case rep.MACBoundary == 0:
		fmt.Fprintf(out, "event MACs: checked; the stream records no MAC boundary yet (no server has opened it since MACs exist): %d legacy messages without one, %d foreign\n", rep.Legacy, rep.Foreign)
	default:
		fmt.Fprintf(out, "event MACs: checked, required from seq %d (%d legacy messages before it), %d foreign\n", rep.MACBoundary, rep.Legacy, rep.Foreign)
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

// ---- foreign messages ----

// foreignNotes tells, on stderr, of the foreign messages a replay met (the
// first ones; then how many more).
type foreignNotes struct {
	w    io.Writer
	mu   sync.Mutex
	seen int
}

const maxForeignNotes = 20

func newForeignNotes(w io.Writer) *foreignNotes { return &foreignNotes{w: w} }

func (f *foreignNotes) note(m eventstore.ForeignMessage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m.Seq == 0 { // the stream's MAC boundary, not a message
		fmt.Fprintf(f.w, "replay: realm %s: %s\n", m.Realm, m.Reason)
		return
	}
	f.seen++
	switch {
	case f.seen <= maxForeignNotes:
		fmt.Fprintf(f.w, "replay: foreign message at seq %d on %s (%s): not written by Latchkey, ignored\n", m.Seq, m.Subject, m.Reason)
	case f.seen == maxForeignNotes+1:
		fmt.Fprintln(f.w, "replay: more foreign messages; replay --verify lists them all")
	}
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
