package realms

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCatchUpsAreSharedAndSpaced: however many callers need the models to
// reflect the stream as of their call (refused credentials, a flood of
// unknown client ids), catch-ups run one at a time, at least
// catchUpSpacing apart, and each caller returns only after one that
// started after its call has completed.
func TestCatchUpsAreSharedAndSpaced(t *testing.T) {
	var runs atomic.Int64
	var mu sync.Mutex
	var starts []time.Time
	f := &freshness{catchUp: func(ctx context.Context) error {
		runs.Add(1)
		mu.Lock()
		starts = append(starts, time.Now())
		mu.Unlock()
		time.Sleep(2 * time.Millisecond) // a round trip to the stream's leader
		return nil
	}}
	const callers = 400
	began := time.Now()
	var wg sync.WaitGroup
	var late atomic.Int64
	for i := range callers {
		wg.Go(func() {
			time.Sleep(time.Duration(i%50) * time.Millisecond) // arrivals spread over 50 ms
			called := time.Now()
			if err := f.since(context.Background(), called); err != nil {
				t.Error(err)
			}
			if f.asOf.Load() < called.UnixNano() {
				late.Add(1)
			}
		})
	}
	wg.Wait()
	took := time.Since(began)
	if late.Load() > 0 {
		t.Errorf("%d callers returned before a catch-up that started after their call", late.Load())
	}
	most := int64(took/catchUpSpacing) + 2
	if n := runs.Load(); n > most {
		t.Errorf("%d catch-ups for %d callers in %s, want at most %d (one per %s)", n, callers, took, most, catchUpSpacing)
	}
	for i := 1; i < len(starts); i++ {
		if gap := starts[i].Sub(starts[i-1]); gap < catchUpSpacing-time.Millisecond {
			t.Errorf("catch-ups %d and %d started %s apart, want at least %s", i-1, i, gap, catchUpSpacing)
		}
	}
	t.Logf("%d callers over %s: %d catch-ups", callers, took.Round(time.Millisecond), runs.Load())
}

// TestFreshModelsAreReadWithoutWaiting: a reader within the bound of the
// last catch-up does not wait for one; past half the bound it starts one
// in the background; past the bound it waits for it.
func TestFreshModelsAreReadWithoutWaiting(t *testing.T) {
	release := make(chan struct{})
	var runs atomic.Int64
	f := &freshness{catchUp: func(ctx context.Context) error {
		runs.Add(1)
		<-release
		return nil
	}}
	const bound = 200 * time.Millisecond
	f.asOf.Store(time.Now().UnixNano())
	if err := f.within(context.Background(), bound); err != nil || runs.Load() != 0 {
		t.Fatalf("fresh models: err %v, %d catch-ups", err, runs.Load())
	}
	f.asOf.Store(time.Now().Add(-bound * 3 / 4).UnixNano())
	if err := f.within(context.Background(), bound); err != nil {
		t.Fatalf("models within the bound: %v", err)
	}
	time.Sleep(20 * time.Millisecond)
	if runs.Load() != 1 {
		t.Fatalf("models past half the bound: %d catch-ups started, want 1 in the background", runs.Load())
	}
	f.asOf.Store(time.Now().Add(-2 * bound).UnixNano())
	done := make(chan error, 1)
	go func() { done <- f.within(context.Background(), bound) }()
	select {
	case err := <-done:
		t.Fatalf("models past the bound were read without a catch-up (err %v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
