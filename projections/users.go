package projections

import (
	"sort"
	"strings"
	"sync"

	"github.com/latchkeyhq/latchkey/domain"
)

// Users is the read model of a realm's users, by id and by username
// (case-insensitive). Entries are immutable snapshots replaced on change.
type Users struct {
	mu         sync.RWMutex
	byID       map[string]*domain.User
	byUsername map[string]string
	// directory is the username directory's version: a new claim is
	// appended at it.
	directory uint64
}

// NewUsers returns an empty users model.
func NewUsers() *Users {
	return &Users{byID: map[string]*domain.User{}, byUsername: map[string]string{}}
}

// Apply folds user events.
func (m *Users) Apply(ev Event) {
	ref, ok := domain.ParseAggregateRef(ev.Aggregate)
	if !ok {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if ref.Type == domain.AggregateUsernames {
		m.directory = ev.Seq
		return
	}
	if ref.Type != domain.AggregateUser {
		return
	}
	next := &domain.User{}
	if old, ok := m.byID[ref.ID]; ok {
		*next = *old
		delete(m.byUsername, strings.ToLower(old.Username))
	} else if _, created := ev.Payload.(domain.UserCreated); !created {
		return // an event for a user deleted (or never created) makes no user
	}
	next.Apply(ev.Seq, ev.Payload)
	if next.Deleted {
		delete(m.byID, ref.ID)
		return
	}
	m.byID[ref.ID] = next
	m.byUsername[strings.ToLower(next.Username)] = ref.ID
}

// Get returns a live user.
func (m *Users) Get(id string) (*domain.User, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	u, ok := m.byID[id]
	return u, ok
}

// DirectoryVersion is the version of the realm's username directory.
func (m *Users) DirectoryVersion() uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.directory
}

// ByUsername finds a user by username, case-insensitively.
func (m *Users) ByUsername(name string) (*domain.User, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	u, ok := m.byID[m.byUsername[strings.ToLower(name)]]
	return u, ok
}

// List returns every user, by username.
func (m *Users) List() []*domain.User {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]*domain.User, 0, len(m.byID))
	for _, u := range m.byID {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Username < out[j].Username })
	return out
}

// ReferencingNode lists users with a membership on node.
func (m *Users) ReferencingNode(node string) []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []string
	for id, u := range m.byID {
		for _, ms := range u.Memberships {
			if ms.Node == node {
				out = append(out, id)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}
