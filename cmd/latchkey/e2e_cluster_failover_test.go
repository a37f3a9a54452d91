package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// ---- 4 and 5: losing the stream leader, restarting a replica ----

// testLeaderKill: under token load on both replicas, the node leading the
// realm's stream is killed (SIGKILL). Every token acknowledged (200) is in
// the stream afterwards, once; no token event is stored twice. It
// measures how long each replica gave no 200, and what the cluster took
// to elect a new leader. Then a replica restarts under load, and its start
// reads only the history since its last snapshot.
func testLeaderKill(t *testing.T, c *localCluster, admin string) {
	var clients [][2]string
	for i := range 4 {
		id, secret := newClient(t, c.replicas[0], admin, "acme", fmt.Sprintf(`{"name":"failover-%d","scopes":["read"]}`, i))
		clients = append(clients, [2]string{id, secret})
	}
	nc := c.connect(t, c.natsURLs...)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	leader := streamLeader(t, js, "LK_ACME")
	var survivors []string
	for i, u := range c.natsURLs {
		if fmt.Sprint("nats-", i+1) != leader {
			survivors = append(survivors, u)
		}
	}

	l := startLoad(c, "acme", 16, clients)
	time.Sleep(3 * time.Second)
	killed := time.Now()
	c.stopProcess(t, leader, syscall.SIGKILL)
	// The cluster's part: how long until the stream has a new leader.
	jsSurv, err := jetstream.New(c.connect(t, survivors...))
	if err != nil {
		t.Fatal(err)
	}
	var elected time.Duration
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		s, err := jsSurv.Stream(ctx, "LK_ACME")
		cancel()
		if err == nil && s.CachedInfo().Cluster != nil && s.CachedInfo().Cluster.Leader != "" && s.CachedInfo().Cluster.Leader != leader {
			elected = time.Since(killed)
			break
		}
	}
	time.Sleep(8 * time.Second)
	results := l.finish()
	if elected == 0 {
		t.Fatalf("no new leader of LK_ACME within 30 s of killing %s", leader)
	}

	// Per replica: the longest stretch without a 200 around the kill, and
	// what the requests in flight at the kill got.
	var acked []tokenResult
	for r := range c.replicas {
		var oks []time.Time
		statuses := map[int]int{}
		for _, res := range results {
			if res.replica != r || res.end.Before(killed.Add(-time.Second)) {
				continue
			}
			statuses[res.status]++
			if res.status == http.StatusOK {
				oks = append(oks, res.end)
			}
		}
		gap, from := longestGap(oks, killed)
		t.Logf("%s: no 200 for %s, from %s after the kill; answers from 1 s before the kill on: %v",
			c.replicas[r].name, gap.Round(time.Millisecond), from.Round(time.Millisecond), statuses)
	}
	for _, res := range results {
		if res.status == http.StatusOK {
			acked = append(acked, res)
		}
	}
	t.Logf("killed %s, the leader of LK_ACME; stream info named a new leader %s later; %d tokens acknowledged in %d requests",
		leader, elected.Round(time.Millisecond), len(acked), len(results))
	t.Logf("the surviving nodes' logs: %s", c.leaderChanges(t, killed))
	t.Logf("answers by 500 ms from the kill (replica: 200s/others): %s", timeline(results, killed, 500*time.Millisecond))

	// Every acknowledged token is in the stream, once; nothing twice.
	stored := storedTokenEvents(t, c, survivors, "acme")
	missing, twice := 0, 0
	for jti, n := range stored {
		if n > 1 {
			twice++
			if twice <= 5 {
				t.Errorf("token %s stored %d times", jti, n)
			}
		}
	}
	for _, a := range acked {
		if stored[a.jti] == 0 {
			missing++
			if missing <= 5 {
				t.Errorf("token %s acknowledged by %s at %s (%s after the kill) is not in the stream",
					a.jti, c.replicas[a.replica].name, a.end.Format(time.StampMicro), a.end.Sub(killed).Round(time.Millisecond))
			}
		}
	}
	t.Logf("%d token events stored; %d acknowledged tokens missing, %d stored twice", len(stored), missing, twice)

	testRestartUnderLoad(t, c, jsSurv, clients)
	testLeaderStop(t, c, clients)
}

// testLeaderStop: with the killed node back, the stream leader's node is
// stopped cleanly (SIGTERM, as a rolling restart does) under load: it
// hands its leaderships over, and the gap is what Latchkey and the
// handover take, with no election timeout to wait out.
func testLeaderStop(t *testing.T, c *localCluster, clients [][2]string) {
	c.start(t) // the node killed before starts again
	js, err := jetstream.New(c.connect(t, c.natsURLs...))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		s, err := js.Stream(ctx, "LK_ACME")
		cancel()
		current := 0
		if err == nil && s.CachedInfo().Cluster != nil {
			for _, p := range s.CachedInfo().Cluster.Replicas {
				if p.Current {
					current++
				}
			}
		}
		if current == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("LK_ACME has %d current followers 60 s after the node came back", current)
		}
		time.Sleep(200 * time.Millisecond)
	}
	leader := streamLeader(t, js, "LK_ACME")
	l := startLoad(c, "acme", 16, clients)
	time.Sleep(2 * time.Second)
	stopped := time.Now()
	c.stopProcess(t, leader, syscall.SIGTERM)
	time.Sleep(5 * time.Second)
	results := l.finish()
	for r := range c.replicas {
		var oks []time.Time
		statuses := map[int]int{}
		for _, res := range results {
			if res.replica == r && !res.end.Before(stopped.Add(-time.Second)) {
				statuses[res.status]++
				if res.status == http.StatusOK {
					oks = append(oks, res.end)
				}
			}
		}
		gap, from := longestGap(oks, stopped)
		t.Logf("%s: stream leader %s stopped with SIGTERM: no 200 for %s, from %s after the stop; answers from 1 s before on: %v",
			c.replicas[r].name, leader, gap.Round(time.Millisecond), from.Round(time.Millisecond), statuses)
	}
	t.Logf("the nodes' logs after the stop: %s", c.leaderChanges(t, stopped))
}

// timeline counts the answers of each replica, 200s and others, in steps
// from the kill.
func timeline(results []tokenResult, killed time.Time, step time.Duration) string {
	type cell struct{ ok, other int }
	cells := map[[2]int]*cell{}
	last := 0
	for _, r := range results {
		if r.end.Before(killed) {
			continue
		}
		k := [2]int{int(r.end.Sub(killed) / step), r.replica}
		if cells[k] == nil {
			cells[k] = &cell{}
		}
		if r.status == http.StatusOK {
			cells[k].ok++
		} else {
			cells[k].other++
		}
		last = max(last, k[0])
	}
	var b strings.Builder
	for i := 0; i <= last; i++ {
		fmt.Fprintf(&b, "\n  +%5s", (time.Duration(i) * step).String())
		for rep := range 2 {
			c := cells[[2]int{i, rep}]
			if c == nil {
				c = &cell{}
			}
			fmt.Fprintf(&b, "  r%d %4d/%-3d", rep+1, c.ok, c.other)
		}
	}
	return b.String()
}

// leaderChanges lists what the nodes still running logged about new
// leaders after the kill, with times relative to it.
func (c *localCluster) leaderChanges(t *testing.T, killed time.Time) string {
	var b strings.Builder
	for _, name := range []string{"nats-1", "nats-2", "nats-3"} {
		raw, _ := os.ReadFile(filepath.Join(c.dir, "logs", name+".log"))
		for line := range strings.SplitSeq(string(raw), "\n") {
			if !strings.Contains(line, "leader") || !strings.Contains(line, "[INF]") {
				continue
			}
			// [pid] 2006/01/02 15:04:05.000000 [INF] ...
			fields := strings.SplitN(line, " ", 4)
			if len(fields) < 4 {
				continue
			}
			at, err := time.ParseInLocation("2006/01/02 15:04:05.000000", fields[1]+" "+fields[2], time.Local)
			if err != nil || at.Before(killed.Add(-time.Second)) {
				continue
			}
			fmt.Fprintf(&b, "\n  %s +%s %s", name, at.Sub(killed).Round(time.Millisecond), strings.TrimPrefix(fields[3], "[INF] "))
		}
	}
	return b.String()
}

// longestGap is the longest time between two 200s (or between the kill
// and the first 200 after it) that spans the kill, and where it starts
// relative to the kill.
func longestGap(oks []time.Time, killed time.Time) (gap, from time.Duration) {
	slices.SortFunc(oks, func(a, b time.Time) int { return a.Compare(b) })
	prev := killed
	for _, ok := range oks {
		if ok.Before(killed) {
			prev = ok
			continue
		}
		if d := ok.Sub(prev); d > gap {
			gap, from = d, prev.Sub(killed)
		}
		prev = ok
	}
	return gap, from
}

func streamLeader(t *testing.T, js jetstream.JetStream, stream string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info := s.CachedInfo()
	if info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("%s is not an R3 stream with a leader: %+v", stream, info.Cluster)
	}
	return info.Cluster.Leader
}

// storedTokenEvents counts the realm's token.issued events by jti, read
// from the surviving servers.
func storedTokenEvents(t *testing.T, c *localCluster, urls []string, realm string) map[string]int {
	t.Helper()
	st, err := eventstore.New(c.connect(t, urls...), eventstore.Options{Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	counts := map[string]int{}
	_, err = st.Scan(ctx, realm, eventstore.ScanOptions{}, func(m *eventstore.RawMsg) error {
		envs, err := m.Envelopes()
		if err != nil {
			return err
		}
		for _, env := range envs {
			if env.Type != domain.TypeTokenIssued {
				continue
			}
			p, err := env.Payload()
			if err != nil {
				return err
			}
			counts[p.(domain.TokenIssued).JTI]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return counts
}

// testRestartUnderLoad restarts replica 2 while both take load and reports
// how long it took to be ready, against how much history the realm holds:
// with snapshots taken on time as well as on count, a start reads a few
// seconds of it, not all of it.
func testRestartUnderLoad(t *testing.T, c *localCluster, js jetstream.JetStream, clients [][2]string) {
	l := startLoad(c, "acme", 8, clients)
	time.Sleep(6 * time.Second) // past a snapshot period of history
	c.stopProcess(t, c.replicas[1].name, syscall.SIGKILL)
	logPath := filepath.Join(c.dir, "logs", "latchkey-2.log")
	before, _ := os.ReadFile(logPath)
	// This start logs at info: its steps and the snapshot it restored.
	env := c.env
	c.env = append(slices.Clone(env), "LK_LOG_LEVEL=info")
	took := c.start(t)
	c.env = env
	res := l.finish()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, "LK_ACME")
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(logPath)
	var steps []string
	for line := range strings.SplitSeq(string(after[min(len(before), len(after)):]), "\n") {
		var entry struct {
			Msg   string `json:"msg"`
			Step  string `json:"step"`
			MS    int64  `json:"ms"`
			Realm string `json:"realm"`
			Seq   uint64 `json:"seq"`
		}
		if json.Unmarshal([]byte(line), &entry) != nil {
			continue
		}
		switch entry.Msg {
		case "start-up step done":
			steps = append(steps, fmt.Sprintf("%s %d ms", entry.Step, entry.MS))
		case "read models restored from snapshot":
			steps = append(steps, fmt.Sprintf("realm %s restored from its snapshot at seq %d", entry.Realm, entry.Seq))
		}
	}
	t.Logf("replica 2 killed and started again under load (%d token requests meanwhile): ready in %s (script included); "+
		"the realm's stream holds %d messages, last seq %d; %s", len(res), took.Round(time.Millisecond),
		s.CachedInfo().State.Msgs, s.CachedInfo().State.LastSeq, strings.Join(steps, "; "))
}
