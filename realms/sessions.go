package realms

import (
	"context"
	"errors"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// BrowserInfo describes where a browser session was opened.
type BrowserInfo struct {
	Device, Browser, IP string
}

// CreateSession opens a browser session for a signed-in user and returns
// the cookie value; only its hash enters the history.
func (rl *Realm) CreateSession(ctx context.Context, user *domain.User, b BrowserInfo, meta eventstore.Meta) (string, *domain.Session, error) {
	id, cookie, err := newCredential()
	if err != nil {
		return "", nil, err
	}
	ev := domain.SessionCreated{
		SessionID: id, UserID: user.ID, CookieHash: domain.HashSecret(cookie),
		Device: b.Device, Browser: b.Browser, IP: b.IP, ExpiresAt: meta.Time.Unix() + domain.UISessionLifetime,
	}
	err = rl.execute(ctx, meta, command{decide: func() (plan, error) {
		return write(domain.SessionRef(id), 0, ev), nil
	}})
	if err != nil {
		return "", nil, err
	}
	s, _ := rl.Authz.Session(id)
	return cookie, s, nil
}

// LookupSession finds the valid session a cookie belongs to, and its user.
func (rl *Realm) LookupSession(cookie string, now int64) (*domain.Session, *domain.User, bool) {
	id, ok := splitCredential(cookie)
	if !ok {
		return nil, nil, false
	}
	s, ok := rl.Authz.Session(id)
	if !ok || !s.Valid(now) || !hashesMatch(s.CookieHash, domain.HashSecret(cookie)) {
		return nil, nil, false
	}
	u, ok := rl.Users.Get(s.UserID)
	if !ok || !u.Active() {
		return nil, nil, false
	}
	return s, u, true
}

// TouchSession records activity at most once a minute, in the background:
// a page view never waits for it.
func (rl *Realm) TouchSession(s *domain.Session, meta eventstore.Meta) {
	if meta.Time.Unix()-s.LastActive < 60 {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := rl.execute(ctx, meta, command{decide: func() (plan, error) {
			return write(domain.SessionRef(s.SessionID), eventstore.AnyVersion, domain.SessionTouched{At: meta.Time.Unix()}), nil
		}})
		if err != nil {
			rl.reg.log.Warn("session activity not recorded", "realm", rl.Name, "session", s.SessionID, "request_id", meta.RequestID, "err", err)
		}
	}()
}

// EndSessions ends every browser session of a user (of the realm, for
// an empty userID) and returns how many it ended; a disabled user's end so
// that enabling the user again does not bring old sign-ins back.
func (rl *Realm) EndSessions(ctx context.Context, userID, reason string, meta eventstore.Meta) int {
	ended := 0
	for _, s := range rl.Authz.Sessions(userID, meta.Time.Unix()) {
		err := rl.EndSession(ctx, s.SessionID, reason, meta)
		switch {
		case err == nil:
			ended++
		case !errors.Is(err, domain.ErrNotFound):
			rl.reg.log.Warn("session not ended", "realm", rl.Name, "session", s.SessionID, "err", err)
		}
	}
	return ended
}

// EndSession ends a browser session (logout, or an administrator).
func (rl *Realm) EndSession(ctx context.Context, id, reason string, meta eventstore.Meta) error {
	return rl.execute(ctx, meta, command{decide: func() (plan, error) {
		if s, ok := rl.Authz.Session(id); !ok || s.Ended {
			return plan{}, domain.NotFound("browser session " + id)
		}
		return write(domain.SessionRef(id), eventstore.AnyVersion, domain.SessionEnded{Reason: reason}), nil
	}})
}
