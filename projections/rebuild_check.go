package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// RebuildReport says whether folding a realm's history gives the same
// models every time (`latchkey replay --rebuild`).
type RebuildReport struct {
	Realm           string        `json:"realm"`
	Messages        uint64        `json:"messages"`
	Events          uint64        `json:"events"`
	LastSeq         uint64        `json:"last_seq"`
	Took            time.Duration `json:"-"`
	Seconds         float64       `json:"seconds"`
	EventsPerSecond float64       `json:"events_per_second"`
	// Runs name the sets of models compared, the first two folded from
	// scratch.
	Runs  []string `json:"runs"`
	Notes []string `json:"notes,omitempty"`
	// Models has each model's digest in every run.
	Models []ModelResult `json:"models"`
	// Differences shows, for each model whose runs differ, how their
	// canonical lines differ (secret fields never shown).
	Differences string `json:"differences,omitempty"`
}

// ModelResult is one model's digest in every run.
type ModelResult struct {
	Name    string            `json:"name"`
	Digests map[string]string `json:"digests"`
	Equal   bool              `json:"equal"`
}

// Different names the models whose runs differ.
func (r *RebuildReport) Different() []string {
	var out []string
	for _, m := range r.Models {
		if !m.Equal {
			out = append(out, m.Name)
		}
	}
	return out
}

// RebuildRun is one set of models to compare, by name.
type RebuildRun struct {
	Name   string
	Models *Models
}

// CheckRebuild folds the realm's whole history from scratch into every
// model twice, each from its own decoding of every message (any dependence
// of a fold on map order or other state outside the events shows as a
// difference), and, given the realm's snapshot, once more from it and the
// events after it (what a restarting server holds); then it compares the
// models' digests. progress reports on the first two folds (its Copies,
// Into, After and ToSeq are not used).
func CheckRebuild(ctx context.Context, store *eventstore.Store, realm string, snapshot []byte, progress RebuildOptions) (*RebuildReport, error) {
	started := time.Now()
	both, res, err := Rebuild(ctx, store, realm, RebuildOptions{Copies: 2, OnStart: progress.OnStart, OnBatch: progress.OnBatch})
	if err != nil {
		return nil, err
	}
	took := time.Since(started)
	rep := &RebuildReport{Realm: realm, Messages: res.Messages, Events: res.Events, LastSeq: res.LastSeq,
		Took: took.Round(time.Millisecond), Seconds: took.Seconds(), EventsPerSecond: float64(res.Events) / took.Seconds()}
	runs := []RebuildRun{{"rebuild", both[0]}, {"again", both[1]}}
	if snapshot != nil {
		fromSnap := NewModels()
		switch seq, err := fromSnap.Restore(snapshot); {
		case err != nil:
			rep.Notes = append(rep.Notes, fmt.Sprintf("snapshot: not compared (%v)", err))
		case seq > res.LastSeq:
			rep.Notes = append(rep.Notes, fmt.Sprintf("snapshot: at seq %d, after what was read; not compared", seq))
		default:
			if seq < res.LastSeq {
				opts := RebuildOptions{Into: []*Models{fromSnap}, After: seq, ToSeq: res.LastSeq}
				if _, _, err := Rebuild(ctx, store, realm, opts); err != nil {
					return nil, fmt.Errorf("rebuild from the snapshot: %w", err)
				}
			}
			runs = append(runs, RebuildRun{fmt.Sprintf("snapshot@%d", seq), fromSnap})
		}
	}
	CompareRuns(rep, runs)
	return rep, nil
}

// maxDiffLines bounds the lines a difference shows.
const maxDiffLines = 20

// CompareRuns fills the report's runs, models and differences: each
// model's digest in every run, and how a run's model differs from the
// first run's.
func CompareRuns(rep *RebuildReport, runs []RebuildRun) {
	rep.Runs = rep.Runs[:0]
	for _, r := range runs {
		rep.Runs = append(rep.Runs, r.Name)
	}
	var diffs strings.Builder
	for i, nm := range runs[0].Models.Named() {
		r := ModelResult{Name: nm.Name, Digests: map[string]string{}, Equal: true}
		d := DigestOf(nm.Model)
		r.Digests[runs[0].Name] = d.String()
		for _, run := range runs[1:] {
			other := run.Models.Named()[i]
			od := DigestOf(other.Model)
			r.Digests[run.Name] = od.String()
			if od != d {
				r.Equal = false
				fmt.Fprintf(&diffs, "%s: %s %s, %s %s\n", nm.Name, runs[0].Name, d.String()[:16], run.Name, od.String()[:16])
				lines, more := DiffCanonical(runs[0].Name, nm.Model, run.Name, other.Model, maxDiffLines)
				for _, l := range lines {
					fmt.Fprintf(&diffs, "  %s\n", l)
				}
				if more > 0 {
					fmt.Fprintf(&diffs, "  … %d more differences\n", more)
				}
			}
		}
		rep.Models = append(rep.Models, r)
	}
	rep.Differences = diffs.String()
}

// DiffCanonical lists how two models' canonical lines differ, at most
// limit lines, and how many more there are: entries only one side has
// ("- name line", "+ name line"), and for an entry both have, the fields
// that differ ("~ key: field: before → after"). Secret fields are never
// shown (domain.IsSecretField).
func DiffCanonical(an string, a Canonical, bn string, b Canonical, limit int) (lines []string, more int) {
	la, lb := canonicalLines(a), canonicalLines(b)
	ka, kb := keyedLines(la), keyedLines(lb)
	show := func(format string, args ...any) {
		if len(lines) < limit {
			lines = append(lines, fmt.Sprintf(format, args...))
		} else {
			more++
		}
	}
	seen := map[string]bool{}
	for _, side := range [][]string{la, lb} {
		for _, l := range side {
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
	return lines, more
}

func canonicalLines(m Canonical) []string {
	var buf bytes.Buffer
	_ = m.WriteCanonical(&buf)
	return strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
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
	domain.RedactSecrets(ma)
	domain.RedactSecrets(mb)
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
		out = append(out, "(only secret fields differ)")
	}
	return out
}

// redactLine drops the secret members from a canonical line's JSON value:
// the read models keep secret hashes under Go names (SecretHash,
// RefreshHash).
func redactLine(l string) string {
	i := strings.IndexAny(l, "{[")
	if i < 0 {
		return l
	}
	var v any
	if json.Unmarshal([]byte(l[i:]), &v) != nil {
		return l[:i] + "(not shown)"
	}
	raw, _ := json.Marshal(domain.RedactSecrets(v))
	return l[:i] + string(raw)
}
