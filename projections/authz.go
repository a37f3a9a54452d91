package projections

import (
	"sort"
	"sync"

	"github.com/latchkeyhq/latchkey/domain"
)

// grantAccessToken is an access token issued under a grant.
type grantAccessToken struct {
	jti string
	exp int64
}

// Authz is the read model of the authorization flows: codes (until they
// expire), grants with their unexpired access tokens, browser sessions,
// device authorizations (by id and by user code) and pushed authorization
// requests. Entries leave it once expired, judged by event time.
type Authz struct {
	mu        sync.RWMutex
	codes     map[string]*domain.Code
	grants    map[string]*domain.Grant
	tokens    map[string][]grantAccessToken // by grant
	sessions  map[string]*domain.Session
	flows     map[string]string // FlowID → the code that completed it
	devices   map[string]*domain.Device
	userCodes map[string]string // user code hash → device id
	pushed    map[string]*domain.Pushed
	sweptAt   int64
}

// NewAuthz returns an empty model.
func NewAuthz() *Authz {
	return &Authz{
		codes: map[string]*domain.Code{}, grants: map[string]*domain.Grant{},
		tokens: map[string][]grantAccessToken{}, sessions: map[string]*domain.Session{}, flows: map[string]string{},
		devices: map[string]*domain.Device{}, userCodes: map[string]string{}, pushed: map[string]*domain.Pushed{},
	}
}

// Apply folds code, grant, session and grant token events.
func (m *Authz) Apply(ev Event) {
	ref, ok := domain.ParseAggregateRef(ev.Aggregate)
	if !ok {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch ref.Type {
	case domain.AggregateCode:
		next := &domain.Code{ID: ref.ID}
		if old, ok := m.codes[ref.ID]; ok {
			*next = *old
		}
		next.Apply(ev.Seq, ev.Payload)
		m.codes[ref.ID] = next
		if next.FlowID != "" {
			m.flows[next.FlowID] = ref.ID
		}
	case domain.AggregateGrant:
		if t, ok := ev.Payload.(domain.TokenIssued); ok {
			m.tokens[ref.ID] = append(m.tokens[ref.ID], grantAccessToken{jti: t.JTI, exp: t.ExpiresAt})
			break
		}
		next := &domain.Grant{}
		if old, ok := m.grants[ref.ID]; ok {
			*next = *old
		}
		next.Apply(ev.Seq, ev.Time, ev.Payload)
		m.grants[ref.ID] = next
	case domain.AggregateSession:
		next := &domain.Session{}
		if old, ok := m.sessions[ref.ID]; ok {
			*next = *old
		}
		next.Apply(ev.Seq, ev.Time, ev.Payload)
		m.sessions[ref.ID] = next
	case domain.AggregateDevice:
		next := &domain.Device{ID: ref.ID}
		if old, ok := m.devices[ref.ID]; ok {
			*next = *old
		}
		next.Apply(ev.Seq, ev.Payload)
		m.devices[ref.ID] = next
		if next.UserCodeHash != "" {
			m.userCodes[next.UserCodeHash] = ref.ID
		}
	case domain.AggregatePushed:
		next := &domain.Pushed{ID: ref.ID}
		if old, ok := m.pushed[ref.ID]; ok {
			*next = *old
		}
		next.Apply(ev.Seq, ev.Payload)
		m.pushed[ref.ID] = next
	}
	m.sweep(ev.Time.Unix())
}

// sweep drops, at most once a minute of event time, codes, grants and
// sessions that can no longer be used.
func (m *Authz) sweep(now int64) {
	if now-m.sweptAt < 60 {
		return
	}
	m.sweptAt = now
	cutoff := now - evictAfter
	for id, c := range m.codes {
		if c.ExpiresAt < cutoff {
			delete(m.codes, id)
			delete(m.flows, c.FlowID)
		}
	}
	for id, list := range m.tokens {
		kept := list[:0]
		for _, t := range list {
			if t.exp >= cutoff {
				kept = append(kept, t)
			}
		}
		m.tokens[id] = kept
	}
	for id, g := range m.grants {
		dead := g.Revoked || g.RefreshExpires < cutoff
		if dead && len(m.tokens[id]) == 0 {
			delete(m.grants, id)
			delete(m.tokens, id)
		}
	}
	for id, s := range m.sessions {
		if s.Ended || s.ExpiresAt < cutoff {
			delete(m.sessions, id)
		}
	}
	for id, d := range m.devices {
		if d.ExpiresAt < cutoff {
			delete(m.devices, id)
			if m.userCodes[d.UserCodeHash] == id {
				delete(m.userCodes, d.UserCodeHash)
			}
		}
	}
	for id, p := range m.pushed {
		if p.ExpiresAt < cutoff {
			delete(m.pushed, id)
		}
	}
}

// FlowCompleted reports whether a code was issued for the authorization
// request flowID. Codes, and so their flows, are kept 15 minutes: as long
// as a sealed request lives.
func (m *Authz) FlowCompleted(flowID string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, done := m.flows[flowID]
	return done
}

// Code returns an authorization code by id.
func (m *Authz) Code(id string) (*domain.Code, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c, ok := m.codes[id]
	return c, ok
}

// Grant returns a grant by id.
func (m *Authz) Grant(id string) (*domain.Grant, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	g, ok := m.grants[id]
	return g, ok
}

// UserGrants lists the grants of a user with a client that are not
// revoked, by id.
func (m *Authz) UserGrants(userID, clientID string) []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []string
	for id, g := range m.grants {
		if !g.Revoked && g.UserID == userID && g.ClientID == clientID {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// TokenGrant finds the grant an access token was issued under.
func (m *Authz) TokenGrant(jti string) (string, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for id, list := range m.tokens {
		for _, t := range list {
			if t.jti == jti {
				return id, true
			}
		}
	}
	return "", false
}

// GrantTokens lists the jtis of a grant's access tokens unexpired at now.
func (m *Authz) GrantTokens(id string, now int64) []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []string
	for _, t := range m.tokens[id] {
		if t.exp > now {
			out = append(out, t.jti)
		}
	}
	return out
}

// Session returns a browser session by id.
func (m *Authz) Session(id string) (*domain.Session, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, ok := m.sessions[id]
	return s, ok
}

// Sessions lists the browser sessions valid at now, for one user or all
// (userID empty), newest first.
func (m *Authz) Sessions(userID string, now int64) []*domain.Session {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []*domain.Session
	for _, s := range m.sessions {
		if s.Valid(now) && (userID == "" || s.UserID == userID) {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version > out[j].Version })
	return out
}

// Device returns a device authorization by id.
func (m *Authz) Device(id string) (*domain.Device, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	d, ok := m.devices[id]
	return d, ok
}

// DeviceByUserCode returns the device authorization whose user code has
// this hash.
func (m *Authz) DeviceByUserCode(hash string) (*domain.Device, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	d, ok := m.devices[m.userCodes[hash]]
	return d, ok
}

// Pushed returns a pushed authorization request by id.
func (m *Authz) Pushed(id string) (*domain.Pushed, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	p, ok := m.pushed[id]
	return p, ok
}
