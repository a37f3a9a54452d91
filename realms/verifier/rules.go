package verifier

import (
	"sync"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
)

// cutoff is a client or subject rule: tokens issued before issuedBefore
// are revoked; the rule can be forgotten after forgetAfter.
type cutoff struct {
	issuedBefore, forgetAfter int64
}

// ruleSet holds the revocation rules still able to cover a valid token.
type ruleSet struct {
	mu       sync.RWMutex
	jtis     map[string]int64 // jti → forget after
	clients  map[string]cutoff
	subjects map[string]cutoff
	// leeway is how long past exp the verifier still accepts a token: a
	// rule is kept that much longer than its forget_after (the exp of the
	// last token it covers).
	leeway int64
}

func newRuleSet(leeway time.Duration) *ruleSet {
	return &ruleSet{jtis: map[string]int64{}, clients: map[string]cutoff{}, subjects: map[string]cutoff{}, leeway: int64(leeway.Seconds() + 0.999)}
}

func (rs *ruleSet) revoked(jti, clientID, subject string, iat int64) bool {
	rs.mu.RLock()
	defer rs.mu.RUnlock()
	if _, ok := rs.jtis[jti]; ok {
		return true
	}
	if c, ok := rs.clients[clientID]; ok && iat < c.issuedBefore {
		return true
	}
	if c, ok := rs.subjects[subject]; ok && iat < c.issuedBefore {
		return true
	}
	return false
}

func (rs *ruleSet) add(r domain.RevocationRule) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	widen := func(m map[string]cutoff, key string) {
		c := m[key]
		m[key] = cutoff{issuedBefore: max(c.issuedBefore, r.IssuedBefore), forgetAfter: max(c.forgetAfter, r.ForgetAfter)}
	}
	switch {
	case r.JTI != "":
		rs.jtis[r.JTI] = r.ForgetAfter
	case r.ClientID != "":
		widen(rs.clients, r.ClientID)
	case r.Subject != "":
		widen(rs.subjects, r.Subject)
	}
}

// forget drops the rules whose tokens have all expired, leeway included.
func (rs *ruleSet) forget(now int64) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	now -= rs.leeway
	for k, until := range rs.jtis {
		if until < now {
			delete(rs.jtis, k)
		}
	}
	for _, m := range []map[string]cutoff{rs.clients, rs.subjects} {
		for k, c := range m {
			if c.forgetAfter < now {
				delete(m, k)
			}
		}
	}
}
