package realms

import (
	"context"
	"errors"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// Sessions are a realm's browser sessions: a signed-in user's cookie,
// whose hash only enters the history.
type Sessions struct{ rl *Realm }

// BrowserInfo describes where a browser session was opened.
type BrowserInfo struct {
	Device, Browser, IP string
}

// Create opens a browser session for a signed-in user and returns the
// cookie value; only its hash enters the history.
func (ss Sessions) Create(ctx context.Context, user *domain.User, b BrowserInfo, meta eventstore.Meta) (string, *domain.Session, error) {
	rl := ss.rl
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
	s, _ := rl.models.Authz.Session(id)
	return cookie, s, nil
}

// Lookup finds the valid session a cookie belongs to, and its user.
func (ss Sessions) Lookup(cookie string, now int64) (*domain.Session, *domain.User, bool) {
	m := ss.rl.models
	id, ok := splitCredential(cookie)
	if !ok {
		return nil, nil, false
	}
	s, ok := m.Authz.Session(id)
	if !ok || !s.Valid(now) || !hashesMatch(s.CookieHash, domain.HashSecret(cookie)) {
		return nil, nil, false
	}
	u, ok := m.Users.Get(s.UserID)
	if !ok || !u.Active() {
		return nil, nil, false
	}
	return s, u, true
}

// List is the valid sessions of a user (of the realm, for an empty
// userID) at now, newest first.
func (ss Sessions) List(userID string, now int64) []*domain.Session {
	return ss.rl.models.Authz.Sessions(userID, now)
}

// Touch records activity at most once a minute, in the background: a page
// view never waits for it.
func (ss Sessions) Touch(s *domain.Session, meta eventstore.Meta) {
	rl := ss.rl
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

// End ends a valid browser session (logout, or an administrator); one
// that is not (unknown, expired or ended) is a not-found error.
func (ss Sessions) End(ctx context.Context, id, reason string, meta eventstore.Meta) error {
	rl := ss.rl
	return rl.execute(ctx, meta, command{decide: func() (plan, error) {
		if s, ok := rl.models.Authz.Session(id); !ok || !s.Valid(meta.Time.Unix()) {
			return plan{}, domain.NotFound("browser session " + id)
		}
		return write(domain.SessionRef(id), eventstore.AnyVersion, domain.SessionEnded{Reason: reason}), nil
	}})
}

// EndAll ends every browser session of a user (of the realm, for an empty
// userID) and returns how many it ended; a disabled user's end so that
// enabling the user again does not bring old sign-ins back.
func (ss Sessions) EndAll(ctx context.Context, userID, reason string, meta eventstore.Meta) int {
	rl := ss.rl
	ended := 0
	for _, s := range ss.List(userID, meta.Time.Unix()) {
		err := ss.End(ctx, s.SessionID, reason, meta)
		switch {
		case err == nil:
			ended++
		case !errors.Is(err, domain.ErrNotFound):
			rl.reg.log.Warn("session not ended", "realm", rl.Name, "session", s.SessionID, "request_id", meta.RequestID, "err", err)
		}
	}
	return ended
}
