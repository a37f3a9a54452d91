package projections

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/latchkeyhq/latchkey/domain"
)

// Models are every read model of one realm, fed by one runner.
type Models struct {
	Realm   *Realm
	Clients *Clients
	Tokens  *Tokens
	Nodes   *Nodes
	Users   *Users
	Authz   *Authz
	Scopes  *Scopes
	// Resources and InitialTokens serve resource indicators and
	// dynamic registration.
	Resources     *Resources
	InitialTokens *InitialTokens
}

// NewModels returns a realm's models, empty.
func NewModels() *Models {
	return &Models{Realm: NewRealm(), Clients: NewClients(), Tokens: NewTokens(), Nodes: NewNodes(), Users: NewUsers(), Authz: NewAuthz(), Scopes: NewScopes(),
		Resources: NewResources(), InitialTokens: NewInitialTokens()}
}

// Folds lists the models in the order the runner applies them.
func (m *Models) Folds() []Fold {
	return []Fold{m.Realm, m.Clients, m.Tokens, m.Nodes, m.Users, m.Authz, m.Scopes, m.Resources, m.InitialTokens}
}

// snapshotVersion changes whenever the snapshot layout changes; an older
// snapshot is ignored and the realm replayed from its first event.
const snapshotVersion = 10

// snapshot is every model's state at one stream sequence.
type snapshot struct {
	Version int
	Seq     uint64
	Realm   domain.Realm
	Clients clientsState
	Tokens  tokensState
	Nodes   domain.Tree
	Users   map[string]*domain.User
	UserDir uint64
	Authz   authzState
	Scopes  map[string]uint64
	// Resources by identifier; InitialTokens by id.
	Resources     map[string]*domain.Resource
	InitialTokens map[string]*domain.InitialToken
}

// Snapshot serialises every model as of seq. It must run on the runner's
// goroutine (RunnerOptions.OnApplied), where the models are consistent at
// seq and nothing writes them.
func (m *Models) Snapshot(seq uint64) ([]byte, error) { return m.Capture(seq).Encode() }

// Snap is every model's state at one sequence, captured: the models go on
// folding while it is encoded.
type Snap struct{ s snapshot }

// Capture copies what the folds change in place (the maps of entries;
// entries themselves are replaced, never changed) as of seq. It must run on
// the runner's goroutine, where the models are consistent at seq; it costs
// the runner a copy of the models' indexes, and Encode, which may run
// anywhere, the rest.
func (m *Models) Capture(seq uint64) *Snap {
	return &Snap{snapshot{
		Version: snapshotVersion, Seq: seq,
		Realm: *m.Realm.State(), Clients: m.Clients.state(), Tokens: m.Tokens.state(),
		Nodes: m.Nodes.Tree(), Users: m.Users.state(), UserDir: m.Users.DirectoryVersion(), Authz: m.Authz.state(),
		Scopes: m.Scopes.state(), Resources: m.Resources.state(), InitialTokens: m.InitialTokens.state(),
	}}
}

// Encode serialises a captured snapshot.
func (s *Snap) Encode() ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(&s.s); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return buf.Bytes(), nil
}

// Restore loads a snapshot into empty models and returns the sequence it
// reflects.
func (m *Models) Restore(data []byte) (uint64, error) {
	var s snapshot
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&s); err != nil {
		return 0, fmt.Errorf("snapshot: %w", err)
	}
	if s.Version != snapshotVersion {
		return 0, fmt.Errorf("snapshot version %d, want %d", s.Version, snapshotVersion)
	}
	s.Realm.Settings = s.Realm.Settings.Compact()
	m.Realm.state.Store(&s.Realm)
	m.Clients.restore(s.Clients)
	m.Tokens.restore(s.Tokens)
	if s.Nodes == nil {
		s.Nodes = domain.Tree{}
	}
	m.Nodes.tree.Store(&s.Nodes)
	m.Users.restore(s.Users)
	m.Users.directory = s.UserDir
	m.Authz.restore(s.Authz)
	m.Scopes.restore(s.Scopes)
	m.Resources.restore(s.Resources)
	m.InitialTokens.restore(s.InitialTokens)
	return s.Seq, nil
}

type clientsState struct {
	ByID  map[string]*domain.Client
	Order []string
	Gone  map[string]string // absent from snapshots written before it: gob leaves it nil
}

func (m *Clients) state() clientsState {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return clientsState{ByID: maps.Clone(m.byID), Order: slices.Clone(m.order), Gone: maps.Clone(m.gone)}
}

func (m *Clients) restore(s clientsState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, c := range s.ByID {
		// gob drops empty slices; the API shows them as [], not null.
		c.ClientSettings.Normalize()
		m.byID[id] = c
	}
	m.order = s.Order
	maps.Copy(m.gone, s.Gone)
}

func (m *Users) state() map[string]*domain.User {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return maps.Clone(m.byID)
}

func (m *Users) restore(byID map[string]*domain.User) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, u := range byID {
		if u.Memberships == nil {
			u.Memberships = []domain.Membership{}
		}
		for client, c := range u.Consents {
			// gob drops empty slices; every other field is kept as it was.
			c.Scopes, c.Teams = orEmpty(c.Scopes), orEmpty(c.Teams)
			u.Consents[client] = c
		}
		m.byID[id] = u
		m.byUsername[strings.ToLower(u.Username)] = id
	}
}

type authzState struct {
	Codes    map[string]*domain.Code
	Grants   map[string]*domain.Grant
	Tokens   map[string][]GrantToken
	Sessions map[string]*domain.Session
	Devices  map[string]*domain.Device
	Pushed   map[string]*domain.Pushed
	SweptAt  int64
}

// GrantToken is an access token of a grant, as snapshots hold it.
type GrantToken struct {
	JTI string
	Exp int64
}

func (m *Authz) state() authzState {
	m.mu.RLock()
	defer m.mu.RUnlock()
	tokens := make(map[string][]GrantToken, len(m.tokens))
	for g, list := range m.tokens {
		out := make([]GrantToken, len(list))
		for i, t := range list {
			out[i] = GrantToken{JTI: t.jti, Exp: t.exp}
		}
		tokens[g] = out
	}
	return authzState{Codes: maps.Clone(m.codes), Grants: maps.Clone(m.grants), Tokens: tokens, Sessions: maps.Clone(m.sessions),
		Devices: maps.Clone(m.devices), Pushed: maps.Clone(m.pushed), SweptAt: m.sweptAt}
}

func (m *Authz) restore(s authzState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, c := range s.Codes {
		c.Teams = orEmpty(c.Teams)
		m.codes[id] = c
		if c.FlowID != "" {
			m.flows[c.FlowID] = id
		}
	}
	for id, g := range s.Grants {
		g.Teams = orEmpty(g.Teams)
		m.grants[id] = g
	}
	if s.Sessions != nil {
		m.sessions = s.Sessions
	}
	for id, d := range s.Devices {
		d.Approval.Teams = orEmptyIfSet(d.Approval.Teams, d.Status == domain.DeviceApproval || d.Status == domain.DeviceSpent)
		m.devices[id] = d
		m.userCodes[d.UserCodeHash] = id
	}
	maps.Copy(m.pushed, s.Pushed)
	for g, list := range s.Tokens {
		out := make([]grantAccessToken, len(list))
		for i, t := range list {
			out[i] = grantAccessToken{jti: t.JTI, exp: t.Exp}
		}
		m.tokens[g] = out
	}
	m.sweptAt = s.SweptAt
}

// tokensState is the tokens model in exported form.
type tokensState struct {
	Records       []tokenRecState
	Clients       []clientTokensState
	Strings       []string
	NextOrd       uint32
	SweptAt       int64
	SubjectCutoff map[uint32]int64
	NodeBorn      map[string]uint32
}

type tokenRecState struct {
	Key                                                             tokenKey
	Hash                                                            [16]byte
	Ord, Client, Subject, Scope, Access, Aud, Grant, IAT, Exp, Used uint32
	Revoked                                                         bool
	JKT                                                             string
}

type clientTokensState struct {
	ID            uint32
	JTIs          []tokenKey
	RevokedBefore int64
	LastUsed      int64
}

func (m *Tokens) state() tokensState {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s := tokensState{Strings: m.strings.strs, NextOrd: m.nextOrd, SweptAt: m.sweptAt,
		SubjectCutoff: maps.Clone(m.subjectCutoff), NodeBorn: maps.Clone(m.nodeBorn)}
	s.Records = make([]tokenRecState, 0, len(m.byJTI))
	for k, r := range m.byJTI {
		s.Records = append(s.Records, tokenRecState{Key: k, Hash: r.hash, Ord: r.ord, Client: r.client, Subject: r.subject,
			Scope: r.scope, Access: r.access, Aud: r.aud, Grant: r.grant, IAT: r.iat, Exp: r.exp, Used: r.lastUsed, Revoked: r.revoked,
			JKT: m.bound[k]})
	}
	for _, ct := range m.clients {
		s.Clients = append(s.Clients, clientTokensState{ID: ct.id, JTIs: ct.jtis, RevokedBefore: ct.revokedBefore, LastUsed: ct.lastUsed})
	}
	return s
}

func (m *Tokens) restore(s tokensState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range s.Records {
		m.byJTI[r.Key] = &tokenRec{hash: r.Hash, ord: r.Ord, client: r.Client, subject: r.Subject, scope: r.Scope,
			access: r.Access, aud: r.Aud, grant: r.Grant, iat: r.IAT, exp: r.Exp, lastUsed: r.Used, revoked: r.Revoked}
		if r.JKT != "" {
			m.bound[r.Key] = r.JKT
		}
	}
	for i, c := range s.Clients {
		ct := &clientTokens{id: c.ID, index: i, jtis: c.JTIs, revokedBefore: c.RevokedBefore, lastUsed: c.LastUsed}
		m.clients = append(m.clients, ct)
		m.byClient[c.ID] = ct
	}
	if len(s.Strings) > 0 {
		m.strings = interner{ids: make(map[string]uint32, len(s.Strings)), strs: s.Strings}
		for i, str := range s.Strings {
			m.strings.ids[str] = uint32(i)
		}
	}
	m.nextOrd, m.sweptAt = s.NextOrd, s.SweptAt
	maps.Copy(m.subjectCutoff, s.SubjectCutoff)
	maps.Copy(m.nodeBorn, s.NodeBorn)
}

// orEmptyIfSet is orEmpty for a slice its event always sets (set), and
// leaves one never set nil.
func orEmptyIfSet(s []string, set bool) []string {
	if set {
		return orEmpty(s)
	}
	return s
}

// orEmpty restores the empty (not nil) slices the folds make: gob drops
// them, and a restored model must equal a replayed one.
func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
