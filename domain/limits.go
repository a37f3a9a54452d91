package domain

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Abuse limits: failed sign-ins and failed client authentications are
// counted per key (a username, a source address, a client id, the whole
// realm) in fixed windows; a key that reaches its limit is blocked for a
// window. The decisions are here; the counters live in a store every
// replica shares (realms/limits.go).

// Limit allows at most Max failures per key within Window seconds, counted
// from the key's first failure; the Max-th blocks the key for Window
// seconds from that failure. Max 0 turns the limit off.
type Limit struct {
	Max    int
	Window int64
}

// ParseLimit reads "N/DURATION" (10/15m, 500/1m); "0" or "off" turns the
// limit off.
func ParseLimit(s string) (Limit, error) {
	if s == "0" || s == "off" {
		return Limit{}, nil
	}
	n, d, ok := strings.Cut(s, "/")
	max, err1 := strconv.Atoi(n)
	window, err2 := time.ParseDuration(d)
	if !ok || err1 != nil || err2 != nil || max < 1 || window < time.Second {
		return Limit{}, fmt.Errorf("limit %q: want failures/window, such as 10/15m (at least 1 failure and 1s), or off", s)
	}
	return Limit{Max: max, Window: int64(window / time.Second)}, nil
}

// String is the limit as ParseLimit reads it.
func (l Limit) String() string {
	if l.Max == 0 {
		return "off"
	}
	w := strconv.FormatInt(l.Window, 10) + "s"
	switch {
	case l.Window%3600 == 0:
		w = strconv.FormatInt(l.Window/3600, 10) + "h"
	case l.Window%60 == 0:
		w = strconv.FormatInt(l.Window/60, 10) + "m"
	}
	return strconv.Itoa(l.Max) + "/" + w
}

// Counter is one key's failures: how many since the first of its window,
// and until when the key is blocked (Unix seconds; 0: not blocked). The
// JSON form is what the shared store holds.
type Counter struct {
	Failures int   `json:"n"`
	Since    int64 `json:"s"`
	Until    int64 `json:"u,omitempty"`
}

// BlockedUntil is when a blocked key opens again; 0 when it is not blocked
// at now.
func (l Limit) BlockedUntil(c Counter, now int64) int64 {
	if l.Max == 0 || c.Until <= now {
		return 0
	}
	return c.Until
}

// Failed counts one more failure at now. It returns the counter to store,
// how long the store must keep it (seconds; past then it is zero anyway),
// and whether this failure blocked the key. A failure while the key is
// blocked changes nothing (ttl 0: nothing to store).
func (l Limit) Failed(c Counter, now int64) (next Counter, ttl int64, blocked bool) {
	if l.Max == 0 || c.Until > now {
		return c, 0, false
	}
	if c.Until != 0 || c.Since == 0 || now-c.Since >= l.Window {
		c = Counter{Since: now} // a new window: the last one ended, or its block did
	}
	c.Failures++
	end := c.Since + l.Window
	if c.Failures >= l.Max {
		c.Until = now + l.Window
		end, blocked = c.Until, true
	}
	return c, max(end-now, 1), blocked
}

// Live is the counter as it stands at now: zero once its window (or its
// block) is over.
func (l Limit) Live(c Counter, now int64) Counter {
	if c.Until > now || (c.Until == 0 && c.Since != 0 && now-c.Since < l.Window) {
		return c
	}
	return Counter{}
}

// Progressive delays: past SlowAfter of a key's failures, each attempt
// waits SlowStep more, up to five steps.
const (
	SlowStep     = 200 * time.Millisecond
	maxSlowSteps = 5
)

// Delay is how long an attempt on a key with c's failures waits before
// its answer: nothing for the first ones (three, or three tenths of Max
// when that is more), then SlowStep per failure beyond, at most five.
func (l Limit) Delay(c Counter, now int64) time.Duration {
	n := l.Live(c, now).Failures
	slowAfter := max(3, l.Max*3/10)
	if l.Max == 0 || n < slowAfter {
		return 0
	}
	return time.Duration(min(n-slowAfter+1, maxSlowSteps)) * SlowStep
}

// SourceKey is the part of a client address that limits count by: the
// address itself for IPv4, its /64 for IPv6 (one host usually holds a
// whole /64). An address that cannot be read counts as itself.
func SourceKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.WithZone("").Prefix(64)
	return p.String()
}

// LimitError is a request refused for a while: too many failures (429), or
// no capacity for the work it needs right now (Busy: 503). RetryAfter is
// in seconds; Code is the OAuth error code of the answer (empty: the
// server's temporarily_unavailable).
type LimitError struct {
	Busy       bool
	RetryAfter int64
	Code       string
	Message    string
}

func (e *LimitError) Error() string { return e.Message }

// TooManyFailures is the LimitError of a key blocked until then, answered
// with code.
func TooManyFailures(what, code string, until, now int64) *LimitError {
	wait := max(until-now, 1)
	return &LimitError{RetryAfter: wait, Code: code, Message: what + "; retry after " + strconv.FormatInt(wait, 10) + " seconds"}
}
