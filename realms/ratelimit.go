package realms

import (
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

// Open registration is limited per address: a burst of registrationBurst,
// then one every registrationEvery. The addresses tracked are bounded; a
// forgotten one starts afresh.
const (
	registrationBurst   = 5
	registrationEvery   = 5 * time.Minute
	maxTrackedAddresses = 10_000
)

// addressLimiter limits an action per client address, in this process.
type addressLimiter struct {
	once  sync.Once
	mu    sync.Mutex
	byIP  *lru.Cache[string, *rate.Limiter]
	every time.Duration
	burst int
}

// allow reports how long the address must wait before acting again (0:
// it may act now, and the action is counted).
func (l *addressLimiter) allow(ip string, now time.Time) time.Duration {
	l.once.Do(func() {
		l.byIP, _ = lru.New[string, *rate.Limiter](maxTrackedAddresses)
		if l.every == 0 {
			l.every, l.burst = registrationEvery, registrationBurst
		}
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.byIP.Get(ip)
	if !ok {
		lim = rate.NewLimiter(rate.Every(l.every), l.burst)
		l.byIP.Add(ip, lim)
	}
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}
