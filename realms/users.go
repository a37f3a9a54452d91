package realms

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// Users are a realm's users: profile, password (argon2id, sealed in the
// password store; the history only says it changed), memberships, status,
// consents. Sign-in is in signin.go.
type Users struct{ rl *Realm }

// NewUser is what creating a user takes.
type NewUser struct {
	domain.UserProfile
	Password    string              `json:"password"`
	Memberships []domain.Membership `json:"memberships"`
	RealmRoles  []string            `json:"realm_roles"`
}

// Get returns a user; a missing one is a not-found error.
func (us Users) Get(id string) (*domain.User, error) {
	u, ok := us.rl.models.Users.Get(id)
	if !ok {
		return nil, domain.NotFound("user " + id)
	}
	return u, nil
}

// ByUsername returns the user holding a username (any case); a missing
// one is a not-found error.
func (us Users) ByUsername(username string) (*domain.User, error) {
	u, ok := us.rl.models.Users.ByUsername(username)
	if !ok {
		return nil, domain.NotFound("user " + username)
	}
	return u, nil
}

// UserPage is one page of a user listing.
type UserPage struct {
	Users []*domain.User
	Total int    // users matching the filter, on every page
	Next  string // the username to pass as after for the next page; empty on the last
}

// Page lists users whose username or email contains q (any case), by
// username case-insensitively, after the (lower-cased) username after, at
// most limit. Usernames are unique case-insensitively, so their lower case
// is a total order and a stable cursor.
func (us Users) Page(q, after string, limit int) UserPage {
	q = strings.ToLower(strings.TrimSpace(q))
	var matched []*domain.User
	for _, u := range us.rl.models.Users.List() {
		if q == "" || strings.Contains(strings.ToLower(u.Username), q) || strings.Contains(strings.ToLower(u.Email), q) {
			matched = append(matched, u)
		}
	}
	sort.Slice(matched, func(i, j int) bool {
		return strings.ToLower(matched[i].Username) < strings.ToLower(matched[j].Username)
	})
	start := 0
	if after != "" {
		start = sort.Search(len(matched), func(i int) bool { return strings.ToLower(matched[i].Username) > after })
	}
	page := UserPage{Users: matched[start:], Total: len(matched)}
	if len(page.Users) > limit {
		page.Users = page.Users[:limit]
		page.Next = strings.ToLower(page.Users[limit-1].Username)
	}
	return page
}

// Teams are the teams a user belongs to now.
func (us Users) Teams(u *domain.User) []string { return u.Teams(us.rl.models.Nodes.Tree()) }

// SelectableTeams are the teams a user may choose at consent for client.
func (us Users) SelectableTeams(u *domain.User, client *domain.Client) []string {
	return domain.SelectableTeams(u, client, us.rl.models.Nodes.Tree())
}

// Create adds a user; the password, if given, is hashed with argon2id and
// sealed, and only "password changed" enters the history. Every problem
// of its profile, memberships and password is reported at once.
func (us Users) Create(ctx context.Context, nu NewUser, meta eventstore.Meta) (*domain.User, error) {
	rl := us.rl
	if nu.Memberships == nil {
		nu.Memberships = []domain.Membership{}
	}
	if err := us.validate(&nu); err != nil {
		// A node named may have been created on another replica a moment
		// ago.
		if rl.catchUp(ctx) != nil || us.validate(&nu) != nil {
			return nil, err
		}
	}
	id := uuid.NewString()
	if nu.Password != "" {
		// Hashed (tens of milliseconds) once, before the command.
		if err := us.storePassword(ctx, id, nu.Password); err != nil {
			return nil, err
		}
	}
	err := rl.execute(ctx, meta, command{decide: func() (plan, error) {
		// Checked again on the state this decision's references are
		// written against (a node may be gone since).
		if err := domain.ValidateMemberships(nu.Memberships, rl.models.Nodes.Tree()); err != nil {
			return plan{}, err
		}
		p := write(domain.UserRef(id), 0, domain.UserCreated{UserID: id, UserProfile: nu.UserProfile, Memberships: nu.Memberships, RealmRoles: nu.RealmRoles})
		if nu.Password != "" {
			p.add(domain.UserRef(id), eventstore.AnyVersion, domain.UserPasswordChanged{})
		}
		if err := us.claimUsername(&p, id, nu.Username, ""); err != nil {
			return plan{}, err
		}
		return p, rl.Structure().referenceNodes(&p, domain.UserRef(id), nil, membershipNodes(nu.Memberships))
	}})
	if err != nil {
		if nu.Password != "" {
			// The user was not created (a name taken, a node gone, a lost
			// race): its hash must not stay behind under an id nobody has.
			us.dropPassword(context.WithoutCancel(ctx), id, meta)
		}
		return nil, err
	}
	return us.Get(id)
}

// validate checks every part of a new user, so that one error lists every
// problem (in Details): profile, memberships and password.
func (us Users) validate(nu *NewUser) error {
	var problems []string
	collect := func(err error) {
		var verr *domain.ValidationError
		switch {
		case err == nil:
		case errors.As(err, &verr) && len(verr.Details) > 0:
			problems = append(problems, verr.Details...)
		case errors.As(err, &verr):
			problems = append(problems, verr.Message)
		}
	}
	collect(domain.ValidateProfile(&nu.UserProfile))
	collect(domain.ValidateMemberships(nu.Memberships, us.rl.models.Nodes.Tree()))
	roles, err := domain.NormalizeRealmRoles(nu.RealmRoles)
	collect(err)
	if len(roles) == 0 {
		roles = nil // a user created without realm roles says nothing of them
	}
	nu.RealmRoles = roles
	if nu.Password != "" {
		collect(domain.ValidatePassword(nu.Password))
	}
	if len(problems) == 0 {
		return nil
	}
	return &domain.ValidationError{Field: "user", Message: strings.Join(problems, "; "), Details: problems}
}

// claimUsername adds to p the claim of username in the realm's username
// directory (and the release of old), at the directory's version: of two
// users claiming one name at once, one gets it. A name another user holds
// is a conflict.
func (us Users) claimUsername(p *plan, userID, username, old string) error {
	m := us.rl.models.Users
	if other, taken := m.ByUsername(username); taken && other.ID != userID {
		return &domain.ConflictError{Message: "username " + strconv.Quote(username) + " is taken in this realm"}
	}
	p.add(domain.UsernamesRef(), m.DirectoryVersion(), domain.UsernameClaimed{Username: strings.ToLower(username), UserID: userID})
	if old != "" && !strings.EqualFold(old, username) {
		p.add(domain.UsernamesRef(), eventstore.AnyVersion, domain.UsernameReleased{Username: strings.ToLower(old)})
	}
	return nil
}

// storePassword hashes a password in one of the bounded argon2id slots
// (busy: a *domain.LimitError, 503) and seals the hash.
func (us Users) storePassword(ctx context.Context, userID, pw string) error {
	var hash string
	var err error
	if lerr := us.rl.reg.limiter.hash(func() { hash, err = hashPassword(pw) }); lerr != nil {
		return lerr
	}
	if err != nil {
		return err
	}
	return us.rl.reg.passwords.Put(ctx, us.rl.Name, userID, []byte(hash))
}

// dropPassword removes a user's sealed hash; a failure leaves a hash no
// user refers to, and is logged.
func (us Users) dropPassword(ctx context.Context, userID string, meta eventstore.Meta) {
	rl := us.rl
	if err := rl.reg.passwords.Delete(ctx, rl.Name, userID); err != nil {
		rl.reg.log.Warn("password hash not removed", "realm", rl.Name, "user", userID, "request_id", meta.RequestID, "err", err)
	}
}

// change runs a command on one user that must exist; decide gets its
// current state. It returns the user's new state (nil once deleted).
func (us Users) change(ctx context.Context, id string, meta eventstore.Meta,
	decide func(u *domain.User) (plan, error)) (*domain.User, error) {
	err := us.rl.execute(ctx, meta, command{decide: func() (plan, error) {
		u, err := us.Get(id)
		if err != nil {
			return plan{}, err
		}
		return decide(u)
	}})
	if err != nil {
		return nil, err
	}
	u, _ := us.rl.models.Users.Get(id)
	return u, nil
}

// Update replaces a user's profile; a new username is claimed in the
// realm's username directory.
func (us Users) Update(ctx context.Context, id string, p domain.UserProfile, meta eventstore.Meta) (*domain.User, error) {
	if err := domain.ValidateProfile(&p); err != nil {
		return nil, err
	}
	return us.change(ctx, id, meta, func(u *domain.User) (plan, error) {
		if p == u.UserProfile {
			return plan{}, nil
		}
		out := write(domain.UserRef(id), u.Version, domain.UserUpdated{Before: u.UserProfile, After: p})
		return out, us.claimUsername(&out, id, p.Username, u.Username)
	})
}

// SetPassword replaces a user's password. The sealed hash is replaced
// first (the event says it changed); if the event cannot be written, the
// previous hash is put back, so history and credentials never disagree.
// Whoever signed in with the old password is signed out.
func (us Users) SetPassword(ctx context.Context, id, pw string, meta eventstore.Meta) error {
	rl := us.rl
	if err := domain.ValidatePassword(pw); err != nil {
		return err
	}
	if _, err := us.Get(id); err != nil {
		return err
	}
	previous, prevErr := rl.reg.passwords.Get(ctx, rl.Name, id)
	if err := us.storePassword(ctx, id, pw); err != nil {
		return err
	}
	_, err := us.change(ctx, id, meta, func(u *domain.User) (plan, error) {
		return write(domain.UserRef(id), u.Version, domain.UserPasswordChanged{}), nil
	})
	if err != nil {
		if prevErr != nil {
			us.dropPassword(ctx, id, meta)
		} else if perr := rl.reg.passwords.Put(ctx, rl.Name, id, previous); perr != nil {
			rl.reg.log.Error("previous password hash not restored", "realm", rl.Name, "user", id, "request_id", meta.RequestID, "err", perr)
		}
		return err
	}
	rl.Sessions().EndAll(ctx, id, "password changed", meta)
	return nil
}

// SetMemberships replaces a user's memberships; tokens already issued see
// the change at once (permissions are evaluated live).
func (us Users) SetMemberships(ctx context.Context, id string, ms []domain.Membership, meta eventstore.Meta) (*domain.User, error) {
	nodes := us.rl.models.Nodes
	if ms == nil {
		ms = []domain.Membership{}
	}
	return us.change(ctx, id, meta, func(u *domain.User) (plan, error) {
		if err := domain.ValidateMemberships(ms, nodes.Tree()); err != nil {
			return plan{}, err
		}
		if slices.Equal(ms, u.Memberships) {
			return plan{}, nil
		}
		p := write(domain.UserRef(id), u.Version, domain.UserMembershipsChanged{Before: u.Memberships, After: ms})
		return p, us.rl.Structure().referenceNodes(&p, domain.UserRef(id), membershipNodes(u.Memberships), membershipNodes(ms))
	})
}

// SetRealmRoles replaces a user's realm roles (the full list; empty takes
// every one away). Tokens already issued see the change at once: the
// admin API and the console read the roles live.
func (us Users) SetRealmRoles(ctx context.Context, id string, roles []string, meta eventstore.Meta) (*domain.User, error) {
	roles, err := domain.NormalizeRealmRoles(roles)
	if err != nil {
		return nil, err
	}
	return us.change(ctx, id, meta, func(u *domain.User) (plan, error) {
		if slices.Equal(roles, u.RealmRoles) || len(roles) == 0 && len(u.RealmRoles) == 0 {
			return plan{}, nil
		}
		before := u.RealmRoles
		if before == nil {
			before = []string{}
		}
		return write(domain.UserRef(id), u.Version, domain.UserRealmRolesChanged{Before: before, After: roles}), nil
	})
}

// SetEnabled disables a user (revoking every token issued for them and
// ending their browser sessions) or enables them again.
func (us Users) SetEnabled(ctx context.Context, id string, enabled bool, meta eventstore.Meta) (*domain.User, error) {
	u, err := us.change(ctx, id, meta, func(u *domain.User) (plan, error) {
		if enabled {
			if u.Status == domain.StatusEnabled {
				return plan{}, nil
			}
			return write(domain.UserRef(id), u.Version, domain.UserEnabled{}), nil
		}
		ev, rule, err := domain.DecideDisableUser(u, meta.Time)
		if err != nil || ev == nil {
			return plan{}, err
		}
		p := write(domain.UserRef(id), u.Version, *ev)
		p.revoke(rule)
		return p, nil
	})
	if err == nil && !enabled {
		us.rl.Sessions().EndAll(ctx, id, "user disabled", meta)
	}
	return u, err
}

// Delete removes a user, revokes every token issued for them, removes the
// password hash and ends their browser sessions.
func (us Users) Delete(ctx context.Context, id string, meta eventstore.Meta) error {
	_, err := us.change(ctx, id, meta, func(u *domain.User) (plan, error) {
		ev, rule, err := domain.DecideDeleteUser(u, meta.Time)
		if err != nil {
			return plan{}, err
		}
		p := write(domain.UserRef(id), u.Version, ev)
		p.revoke(rule)
		return p, nil
	})
	if err != nil {
		return err
	}
	us.dropPassword(ctx, id, meta)
	us.rl.Sessions().EndAll(ctx, id, "user deleted", meta)
	return nil
}

// membershipNodes lists the nodes of memberships.
func membershipNodes(ms []domain.Membership) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Node
	}
	return out
}

// RememberedConsent is what user granted client before, if anything, less
// the teams whose slugs name other nodes since.
func (us Users) RememberedConsent(u *domain.User, client *domain.Client) (domain.Consent, bool) {
	c, ok := u.Consents[client.ID]
	if ok {
		c.Teams = us.rl.models.Nodes.Tree().Reaches(c.Teams, c.GrantedAt)
	}
	return c, ok
}

// GrantConsent remembers what a user granted a client.
func (us Users) GrantConsent(ctx context.Context, userID, clientID string, c domain.Consent, meta eventstore.Meta) error {
	_, err := us.change(ctx, userID, meta, func(u *domain.User) (plan, error) {
		return write(domain.UserRef(userID), u.Version,
			domain.ConsentGranted{ClientID: clientID, Scopes: c.Scopes, Teams: c.Teams, Preset: c.Preset, Resources: c.Resources}), nil
	})
	return err
}
