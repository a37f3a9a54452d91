package domain

import (
	"reflect"
	"testing"
	"time"
)

// refreshedGrant is a grant of client "app" created at seq 10, its refresh
// token rotated h1 → h2 at t0+100s (seq 20) and h2 → h3 at t0+101s (seq
// 30); h3 expires at t0+1000s.
func refreshedGrant() *Grant {
	g := &Grant{}
	g.Apply(10, t0, GrantCreated{GrantID: "g1", ClientID: "app", UserID: "u1", Scope: "openid read",
		RefreshHash: "h1", RefreshExpires: t0.Unix() + 500})
	g.Apply(20, at(100*time.Second), GrantRefreshed{RefreshHash: "h2", RefreshExpires: t0.Unix() + 800, Scope: "openid read"})
	g.Apply(30, at(101*time.Second), GrantRefreshed{RefreshHash: "h3", RefreshExpires: t0.Unix() + 1000, Scope: "openid read"})
	return g
}

func TestGrantApply(t *testing.T) {
	g := refreshedGrant()
	want := []RotatedRefresh{{"h1", at(100 * time.Second).UnixMilli()}, {"h2", at(101 * time.Second).UnixMilli()}}
	if !reflect.DeepEqual(g.Rotated, want) || g.RefreshHash != "h3" || g.RefreshExpires != t0.Unix()+1000 || g.Version != 30 {
		t.Fatalf("grant = %+v", g)
	}
	// A copy folds on without changing the original's history.
	copied := *g
	copied.Apply(40, at(200*time.Second), GrantRefreshed{RefreshHash: "h4", RefreshExpires: 1, Scope: "read"})
	if len(g.Rotated) != 2 || g.RefreshHash != "h3" || len(copied.Rotated) != 3 || copied.Scope != "read" {
		t.Fatalf("folding a copy changed the original: %+v", g.Rotated)
	}
	g.Apply(41, at(300*time.Second), TokenIssued{JTI: "j"}) // not a grant event
	if g.Version != 30 || g.Revoked {
		t.Fatalf("a foreign event changed the grant: %+v", g)
	}
	g.Apply(42, at(300*time.Second), GrantRevoked{Reason: "reuse"})
	if !g.Revoked || g.Version != 42 {
		t.Fatalf("revoked grant = %+v", g)
	}
}

func TestCheckRefresh(t *testing.T) {
	rotatedAt := at(101 * time.Second) // when h2 was rotated out
	revoked := refreshedGrant()
	revoked.Apply(31, rotatedAt, GrantRevoked{})
	noRefresh := &Grant{}
	noRefresh.Apply(10, t0, GrantCreated{GrantID: "g2", ClientID: "app", UserID: "u1"})
	for _, tc := range []struct {
		name      string
		grant     *Grant
		client    string
		hash      string
		grace     int64
		cutoffSeq uint64
		now       time.Time
		want      RefreshOutcome
	}{
		{name: "the current token", grant: refreshedGrant(), client: "app", hash: "h3", now: at(300 * time.Second), want: RefreshRotate},
		{name: "the current token, its last second", grant: refreshedGrant(), client: "app", hash: "h3",
			now: at(999*time.Second + 999*time.Millisecond), want: RefreshRotate},
		{name: "the current token, expired", grant: refreshedGrant(), client: "app", hash: "h3", now: at(1000 * time.Second), want: RefreshRejected},
		{name: "an unknown token", grant: refreshedGrant(), client: "app", hash: "hx", now: at(300 * time.Second), want: RefreshRejected},
		{name: "no grant", grant: nil, client: "app", hash: "h3", now: at(300 * time.Second), want: RefreshRejected},
		{name: "another client's grant", grant: refreshedGrant(), client: "other", hash: "h3", now: at(300 * time.Second), want: RefreshRejected},
		{name: "another client presenting a rotated-out token is no reuse", grant: refreshedGrant(), client: "other", hash: "h1",
			now: at(300 * time.Second), want: RefreshRejected},
		{name: "a revoked grant", grant: revoked, client: "app", hash: "h3", now: at(300 * time.Second), want: RefreshRejected},
		{name: "a revoked grant: a rotated-out token revokes nothing more", grant: revoked, client: "app", hash: "h1",
			now: at(300 * time.Second), want: RefreshRejected},
		{name: "a grant without refresh token", grant: noRefresh, client: "app", hash: "", now: at(300 * time.Second), want: RefreshRejected},

		{name: "a revoke-all after the grant's last write", grant: refreshedGrant(), client: "app", hash: "h3", cutoffSeq: 31,
			now: at(300 * time.Second), want: RefreshRejected},
		{name: "a revoke-all before the grant's last write", grant: refreshedGrant(), client: "app", hash: "h3", cutoffSeq: 29,
			now: at(300 * time.Second), want: RefreshRotate},
		{name: "a revoke-all after the grant's creation but before its rotation", grant: refreshedGrant(), client: "app", hash: "h3",
			cutoffSeq: 15, now: at(300 * time.Second), want: RefreshRotate},

		{name: "the last rotated-out token, a millisecond later: reuse", grant: refreshedGrant(), client: "app", hash: "h2",
			now: rotatedAt.Add(time.Millisecond), want: RefreshReuse},
		{name: "the last rotated-out token within the grace", grant: refreshedGrant(), client: "app", hash: "h2", grace: 10,
			now: rotatedAt.Add(9999 * time.Millisecond), want: RefreshRotate},
		{name: "the last rotated-out token when the grace ends", grant: refreshedGrant(), client: "app", hash: "h2", grace: 10,
			now: rotatedAt.Add(10 * time.Second), want: RefreshReuse},
		{name: "an older rotated-out token within the grace: reuse, the grace is for the last one", grant: refreshedGrant(),
			client: "app", hash: "h1", grace: 60, now: rotatedAt.Add(time.Second), want: RefreshReuse},
		{name: "the last rotated-out token, rotated the millisecond this request began: a race", grant: refreshedGrant(),
			client: "app", hash: "h2", now: rotatedAt, want: RefreshRaced},
		{name: "the last rotated-out token, rotated after this request began: a race", grant: refreshedGrant(),
			client: "app", hash: "h2", now: rotatedAt.Add(-time.Millisecond), want: RefreshRaced},
		{name: "the last rotated-out token, rotated after this request began, with a grace: a race", grant: refreshedGrant(),
			client: "app", hash: "h2", grace: 10, now: rotatedAt.Add(-time.Second), want: RefreshRaced},
		{name: "an older token rotated out after this request began: a race", grant: refreshedGrant(),
			client: "app", hash: "h1", now: at(99 * time.Second), want: RefreshRaced},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CheckRefresh(tc.grant, tc.client, tc.hash, tc.grace, tc.cutoffSeq, tc.now); got != tc.want {
				t.Errorf("CheckRefresh = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCodeApply(t *testing.T) {
	c := &Code{ID: "c1"}
	issued := CodeIssued{CodeHash: "ch", ClientID: "app", UserID: "u1", RedirectURI: "https://app.example.com/cb", ExpiresAt: 600}
	c.Apply(5, issued)
	if c.CodeIssued.CodeHash != "ch" || c.Redeemed || c.Version != 5 {
		t.Fatalf("issued code = %+v", c)
	}
	c.Apply(6, GrantRevoked{}) // not a code event
	if c.Version != 5 {
		t.Fatalf("a foreign event moved the code's version to %d", c.Version)
	}
	c.Apply(7, CodeRedeemed{GrantID: "g1"})
	if !c.Redeemed || c.GrantID != "g1" || c.Version != 7 || c.ClientID != "app" {
		t.Fatalf("redeemed code = %+v", c)
	}
}

func TestSession(t *testing.T) {
	created := at(1500 * time.Millisecond)
	s := &Session{}
	s.Apply(1, created, SessionCreated{SessionID: "s1", UserID: "u1", ExpiresAt: t0.Unix() + 100})
	if s.CreatedAt != t0.Unix()+1 || s.SignedInMs != created.UnixMilli() || s.LastActive != t0.Unix()+1 || s.Version != 1 {
		t.Fatalf("created session = %+v", s)
	}
	s.Apply(2, at(time.Minute), SessionTouched{At: t0.Unix() + 60})
	s.Apply(3, at(time.Minute), SessionTouched{At: t0.Unix() + 30}) // late: never moves activity back
	if s.LastActive != t0.Unix()+60 || s.Version != 3 {
		t.Fatalf("touched session = %+v", s)
	}
	for _, tc := range []struct {
		now  int64
		want bool
	}{{t0.Unix(), true}, {t0.Unix() + 99, true}, {t0.Unix() + 100, false}} {
		if got := s.Valid(tc.now); got != tc.want {
			t.Errorf("Valid(t0+%d) = %v, want %v", tc.now-t0.Unix(), got, tc.want)
		}
	}
	s.Apply(4, at(time.Minute), GrantRevoked{}) // not a session event
	if s.Version != 3 || s.Ended {
		t.Fatalf("a foreign event changed the session: %+v", s)
	}
	s.Apply(4, at(time.Minute), SessionEnded{Reason: "logout"})
	if !s.Ended || s.Valid(t0.Unix()) {
		t.Fatalf("an ended session is valid: %+v", s)
	}
	var none *Session
	if none.Valid(t0.Unix()) {
		t.Fatal("a nil session is valid")
	}
}
