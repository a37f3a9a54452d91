package domain

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"
	"time"
)

// device is a device authorization of client "cli", requested at t0, after
// the given answer events.
func device(answers ...Payload) *Device {
	d := &Device{ID: "d1"}
	d.Apply(1, DeviceRequested{ClientID: "cli", Scope: "openid", ExpiresAt: t0.Unix() + DeviceCodeLifetime, Interval: DeviceInterval})
	for i, a := range answers {
		d.Apply(uint64(i+2), a)
	}
	return d
}

func TestDevicePollProblem(t *testing.T) {
	approved := DeviceApproved{UserID: "u1", Scope: "openid"}
	for _, tc := range []struct {
		name   string
		d      *Device
		client string
		now    time.Time
		want   string // error code; "" issues tokens
	}{
		{"pending", device(), "cli", t0, ErrAuthorizationPending},
		{"approved", device(approved), "cli", t0, ""},
		{"denied", device(DeviceDenied{UserID: "u1"}), "cli", t0, ErrAccessDenied},
		{"expired while pending", device(), "cli", at(DeviceCodeLifetime * time.Second), ErrExpiredToken},
		{"expired after approval", device(approved), "cli", at(DeviceCodeLifetime * time.Second), ErrExpiredToken},
		{"used twice", device(approved, DeviceRedeemed{GrantID: "g1"}), "cli", t0, ErrInvalidGrant},
		{"used twice, expired since", device(approved, DeviceRedeemed{GrantID: "g1"}), "cli", at(time.Hour), ErrInvalidGrant},
		{"another client's code", device(approved), "other", t0, ErrInvalidGrant},
		{"unknown", nil, "cli", t0, ErrInvalidGrant},
	} {
		t.Run(tc.name, func(t *testing.T) {
			oerr := tc.d.PollProblem(tc.client, tc.now)
			got := ""
			if oerr != nil {
				got = oerr.Code
			}
			if got != tc.want {
				t.Fatalf("poll: %v, want %q", oerr, tc.want)
			}
		})
	}
}

func TestDeviceApplyAndAnswer(t *testing.T) {
	d := device()
	if d.Status != DevicePending || d.Version != 1 {
		t.Fatalf("requested: %+v", d)
	}
	answer := DeviceApproved{UserID: "u1", Teams: []string{"team-a"}}
	if _, err := DecideDeviceAnswer(d, answer, t0); err != nil {
		t.Fatalf("a pending code refused an answer: %v", err)
	}
	for name, tc := range map[string]struct {
		d   *Device
		now time.Time
	}{
		"approved already": {device(answer), t0},
		"denied already":   {device(DeviceDenied{UserID: "u2"}), t0},
		"redeemed":         {device(answer, DeviceRedeemed{GrantID: "g"}), t0},
		"expired":          {device(), at(DeviceCodeLifetime * time.Second)},
		"unknown":          {nil, t0},
	} {
		if _, err := DecideDeviceAnswer(tc.d, DeviceDenied{UserID: "u3"}, tc.now); err != ErrDeviceAnswered {
			t.Errorf("%s: answer %v, want ErrDeviceAnswered (a user code works once)", name, err)
		}
	}
	d = device(answer, DeviceRedeemed{GrantID: "g1"})
	if d.Status != DeviceSpent || d.GrantID != "g1" || d.Approval.UserID != "u1" || d.Version != 3 {
		t.Fatalf("redeemed: %+v", d)
	}
	d.Apply(9, TokenIssued{JTI: "x"})
	if d.Version != 3 {
		t.Fatal("a foreign event changed the device")
	}
}

func TestDevicePolls(t *testing.T) {
	var p DevicePolls
	step := func(after time.Duration, wantTooSoon bool, wantInterval int64) {
		t.Helper()
		var tooSoon bool
		p, tooSoon = p.Poll(DeviceInterval, at(after))
		if tooSoon != wantTooSoon || p.Interval != wantInterval {
			t.Fatalf("poll at +%v: too soon %v interval %d, want %v %d", after, tooSoon, p.Interval, wantTooSoon, wantInterval)
		}
	}
	step(0, false, 5)               // the first poll is never too soon
	step(5*time.Second, false, 5)   // on time
	step(9*time.Second, false, 5)   // within the leeway of a second
	step(10*time.Second, true, 10)  // too soon: slow_down, +5 s
	step(19*time.Second, false, 10) // the grown interval holds
	step(25*time.Second, true, 15)  // and grows again when broken
	step(40*time.Second, false, 15) // it never shrinks
	step(40*time.Second+time.Millisecond, true, 20)
}

func TestUserCodes(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		code, err := NewUserCode(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if len(code) != 8 || strings.Trim(code, UserCodeAlphabet) != "" {
			t.Fatalf("user code %q: want 8 characters of %s", code, UserCodeAlphabet)
		}
		seen[code] = true
	}
	if len(seen) < 199 {
		t.Fatalf("200 user codes, %d distinct", len(seen))
	}
	// Bytes of 240 and above are skipped, not folded onto the alphabet.
	code, _ := NewUserCode(bytes.NewReader(append(bytes.Repeat([]byte{255}, 16), bytes.Repeat([]byte{21}, 16)...)))
	if code != "CCCCCCCC" {
		t.Fatalf("user code from biased bytes: %q", code)
	}
	if _, err := NewUserCode(bytes.NewReader(nil)); err == nil {
		t.Fatal("no randomness, no code")
	}
	if FormatUserCode("WDJBMJHT") != "WDJB-MJHT" {
		t.Fatal("format")
	}
	for _, tc := range []struct {
		typed, want string
		ok          bool
	}{
		{"WDJB-MJHT", "WDJBMJHT", true},
		{"wdjb-mjht", "WDJBMJHT", true},
		{"wdjbmjht", "WDJBMJHT", true},
		{" WDJB MJHT ", "WDJBMJHT", true},
		{"WDJB--MJHT", "WDJBMJHT", true},
		{"WDJB-MJH", "", false},
		{"WDJB-MJHTX", "", false},
		{"WDJA-MJHT", "", false}, // a vowel is never in a code
		{"WDJB-MJH1", "", false},
		{"", "", false},
	} {
		got, ok := NormalizeUserCode(tc.typed)
		if ok != tc.ok || ok && got != tc.want {
			t.Errorf("NormalizeUserCode(%q) = %q %v, want %q %v", tc.typed, got, ok, tc.want, tc.ok)
		}
	}
}

func TestPushedRequests(t *testing.T) {
	p := &Pushed{ID: "p1"}
	p.Apply(5, RequestPushed{ClientID: "app", RequestURIHash: "h", ExpiresAt: t0.Unix() + PushedRequestLifetime})
	for _, tc := range []struct {
		name         string
		p            *Pushed
		client, hash string
		now          time.Time
		want         string
	}{
		{"fresh", p, "app", "h", t0, ""},
		{"another client", p, "other", "h", t0, "another client"},
		{"wrong secret", p, "app", "x", t0, "unknown"},
		{"expired", p, "app", "h", at(PushedRequestLifetime * time.Second), "expired"},
		{"unknown", nil, "app", "h", t0, "unknown"},
	} {
		if got := tc.p.UseProblem(tc.client, tc.hash, tc.now); !strings.Contains(got, tc.want) || (tc.want == "") != (got == "") {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	used := *p
	used.Apply(6, PushedRequestUsed{})
	if got := used.UseProblem("app", "h", t0); !strings.Contains(got, "used") || !used.Used || used.Version != 6 {
		t.Errorf("used: %q %+v", got, used)
	}
	for uri, ok := range map[string]bool{
		RequestURIPrefix + "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b.secret": true,
		RequestURIPrefix + "0190a1b2.":                                   false,
		RequestURIPrefix + "Bad.Id.secret":                               false,
		"https://client.example/request.jwt":                             false,
	} {
		if _, got := PushedRequestID(uri); got != ok {
			t.Errorf("PushedRequestID(%q) ok = %v", uri, got)
		}
	}
	realm := RealmSettings{RequirePAR: true}
	if !PARRequired(&Client{}, realm) || !PARRequired(&Client{ClientSettings: ClientSettings{RequirePAR: true}}, RealmSettings{}) || PARRequired(&Client{}, RealmSettings{}) {
		t.Error("PAR is required by the client's setting or the realm's")
	}
}

func TestDeviceScopes(t *testing.T) {
	s := publicSettings()
	s.GrantTypes, s.Scopes, s.OptionalScopes = []string{GrantDeviceCode}, []string{"openid", "read"}, []string{"write"}
	c := clientOf("cli", s)
	for _, tc := range []struct {
		scope, want, code string
	}{
		{"", "openid read", ""},
		{"openid write", "openid write", ""},
		{"admin", "", ErrInvalidScope},
		{"team:a", "", ErrInvalidScope},
	} {
		got, oerr := DeviceScopes(c, tc.scope)
		switch {
		case tc.code == "" && (oerr != nil || strings.Join(got, " ") != tc.want):
			t.Errorf("scope %q: %v %v, want %q", tc.scope, got, oerr, tc.want)
		case tc.code != "" && (oerr == nil || oerr.Code != tc.code):
			t.Errorf("scope %q: %v, want %s", tc.scope, oerr, tc.code)
		}
	}
	if _, oerr := DeviceScopes(clientOf("app", appSettings()), ""); oerr == nil || oerr.Code != ErrUnauthorizedClient {
		t.Errorf("a client without the device grant: %v", oerr)
	}
}
