package domain

import (
	"testing"
	"time"
)

func TestParseLimit(t *testing.T) {
	for in, want := range map[string]Limit{
		"10/15m": {Max: 10, Window: 900},
		"500/1m": {Max: 500, Window: 60},
		"1/1s":   {Max: 1, Window: 1},
		"3/90s":  {Max: 3, Window: 90},
		"5/2h":   {Max: 5, Window: 7200},
		"off":    {},
		"0":      {},
	} {
		got, err := ParseLimit(in)
		if err != nil || got != want {
			t.Errorf("ParseLimit(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if in != "0" && got.String() != in {
			t.Errorf("ParseLimit(%q).String() = %q", in, got.String())
		}
		if back, _ := ParseLimit(got.String()); back != got {
			t.Errorf("ParseLimit(%q).String() = %q does not read back", in, got.String())
		}
	}
	for _, in := range []string{"", "10", "10/", "/15m", "0/15m", "-1/15m", "10/0s", "10/500ms", "ten/15m", "10/15"} {
		if got, err := ParseLimit(in); err == nil {
			t.Errorf("ParseLimit(%q) = %+v, want an error", in, got)
		}
	}
}

func TestLimitCountsFailuresInAWindowAndBlocks(t *testing.T) {
	l := Limit{Max: 3, Window: 60}
	const now = 1000
	for _, tc := range []struct {
		name        string
		c           Counter
		at          int64
		want        Counter
		wantTTL     int64
		wantBlocked bool
	}{
		{"the first failure opens a window", Counter{}, now, Counter{Failures: 1, Since: now}, 60, false},
		{"a failure within the window counts", Counter{Failures: 1, Since: now}, now + 10, Counter{Failures: 2, Since: now}, 50, false},
		{"the Max-th blocks for a window from then", Counter{Failures: 2, Since: now}, now + 10,
			Counter{Failures: 3, Since: now, Until: now + 70}, 60, true},
		{"a failure while blocked changes nothing", Counter{Failures: 3, Since: now, Until: now + 70}, now + 20,
			Counter{Failures: 3, Since: now, Until: now + 70}, 0, false},
		{"after the block a new window", Counter{Failures: 3, Since: now, Until: now + 70}, now + 70, Counter{Failures: 1, Since: now + 70}, 60, false},
		{"after the window a new one", Counter{Failures: 2, Since: now}, now + 60, Counter{Failures: 1, Since: now + 60}, 60, false},
		{"the last second of a window still counts", Counter{Failures: 1, Since: now}, now + 59, Counter{Failures: 2, Since: now}, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ttl, blocked := l.Failed(tc.c, tc.at)
			if got != tc.want || ttl != tc.wantTTL || blocked != tc.wantBlocked {
				t.Fatalf("Failed = %+v, ttl %d, blocked %v; want %+v, %d, %v", got, ttl, blocked, tc.want, tc.wantTTL, tc.wantBlocked)
			}
		})
	}
	blocked := Counter{Failures: 3, Since: now, Until: now + 70}
	if got := l.BlockedUntil(blocked, now+69); got != now+70 {
		t.Errorf("BlockedUntil in the block = %d", got)
	}
	if got := l.BlockedUntil(blocked, now+70); got != 0 {
		t.Errorf("BlockedUntil once the block is over = %d", got)
	}
	if got := (Limit{}).BlockedUntil(blocked, now); got != 0 {
		t.Errorf("a limit that is off blocked until %d", got)
	}
	if got, ttl, b := (Limit{}).Failed(Counter{}, now); got != (Counter{}) || ttl != 0 || b {
		t.Errorf("a limit that is off counted: %+v %d %v", got, ttl, b)
	}
}

func TestLimitDelayGrowsWithFailures(t *testing.T) {
	user := Limit{Max: 10, Window: 900}
	ip := Limit{Max: 50, Window: 900}
	const now = 1000
	for _, tc := range []struct {
		name string
		l    Limit
		c    Counter
		want time.Duration
	}{
		{"no failures", user, Counter{}, 0},
		{"two failures", user, Counter{Failures: 2, Since: now}, 0},
		{"three failures", user, Counter{Failures: 3, Since: now}, 200 * time.Millisecond},
		{"five failures", user, Counter{Failures: 5, Since: now}, 600 * time.Millisecond},
		{"at most five steps", user, Counter{Failures: 9, Since: now}, time.Second},
		{"failures of a window that is over", user, Counter{Failures: 9, Since: now - 900}, 0},
		{"a larger limit slows later", ip, Counter{Failures: 14, Since: now}, 0},
		{"a larger limit, three tenths of it", ip, Counter{Failures: 15, Since: now}, 200 * time.Millisecond},
		{"off", Limit{}, Counter{Failures: 9, Since: now}, 0},
	} {
		if got := tc.l.Delay(tc.c, now); got != tc.want {
			t.Errorf("%s: Delay = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestSourceKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":            "192.0.2.7",
		"::ffff:192.0.2.7":     "192.0.2.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
		"fe80::1%eth0":         "fe80::/64",
		"not an address":       "not an address",
		"2001:db8:1:3:3:4:5:6": "2001:db8:1:3::/64",
	} {
		if got := SourceKey(in); got != want {
			t.Errorf("SourceKey(%q) = %q, want %q", in, got, want)
		}
	}
}
