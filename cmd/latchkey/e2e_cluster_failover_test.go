package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
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
	t.Logf("killed %s, the leader of LK_ACME; a new leader was elected %s later; %d tokens acknowledged in %d requests",
		leader, elected.Round(time.Millisecond), len(acked), len(results))

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
	took := c.start(t)
	res := l.finish()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, "LK_ACME")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("replica 2 killed and started again under load (%d token requests meanwhile): ready in %s; the realm's stream holds %d messages",
		len(res), took.Round(time.Millisecond), s.CachedInfo().State.Msgs)
}
