package domain

import (
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// AggregateUser is the aggregate type of realm users.
const AggregateUser = "user"

// UserRef is the aggregate of one user.
func UserRef(id string) AggregateRef { return AggregateRef{Type: AggregateUser, ID: id} }

// Membership gives a user a role on a node (and everything below it).
type Membership struct {
	Node string `json:"node"`
	Role string `json:"role"`
}

// UserProfile is what an administrator sets on a user.
type UserProfile struct {
	Username    string `json:"username"`
	Email       string `json:"email"`
	DisplayName string `json:"display_name"`
}

// Consent is what a user granted a client: scopes, teams, and the access
// preset the client had then.
type Consent struct {
	Scopes    []string `json:"scopes"`
	Teams     []string `json:"teams"`
	Preset    string   `json:"preset"`
	Resources []string `json:"resources,omitempty"`
	// GrantedAt is the sequence of the consent: its teams name the nodes
	// their slugs had then (Tree.Reaches).
	GrantedAt uint64 `json:"-"`
}

// User is the state of one realm user, folded from its events. The
// password hash is not here: it lives in the sealed store, never in an event.
type User struct {
	ID string
	UserProfile
	Status      string
	Memberships []Membership
	// RealmRoles make the user an administrator (realm_roles.go).
	RealmRoles  []string
	HasPassword bool
	// Consents by client id.
	Consents            map[string]Consent
	TokensRevokedBefore int64
	// CutoffSeq is the stream sequence of the last disable or delete: codes
	// and grants written before it are dead.
	CutoffSeq uint64
	// LockedUntil: repeated failed sign-ins locked the username until then.
	LockedUntil int64
	Deleted     bool
	Version     uint64
}

// Apply folds one of the user's own events.
func (u *User) Apply(seq uint64, p Payload) {
	switch e := p.(type) {
	case UserCreated:
		*u = User{ID: e.UserID, UserProfile: e.UserProfile, Status: StatusEnabled, Memberships: e.Memberships, RealmRoles: e.RealmRoles}
	case UserUpdated:
		u.UserProfile = e.After
	case UserPasswordChanged:
		u.HasPassword = true
	case UserMembershipsChanged:
		u.Memberships = e.After
	case UserRealmRolesChanged:
		u.RealmRoles = e.After
	case UserDisabled:
		u.Status = StatusDisabled
		u.TokensRevokedBefore = max(u.TokensRevokedBefore, e.TokensRevokedBefore)
		u.CutoffSeq = seq
	case UserEnabled:
		u.Status = StatusEnabled
	case UserDeleted:
		u.Deleted = true
		u.TokensRevokedBefore = max(u.TokensRevokedBefore, e.TokensRevokedBefore)
		u.CutoffSeq = seq
	case UserLocked:
		u.LockedUntil = e.Until
	case UserUnlocked:
		u.LockedUntil = 0
	case ConsentGranted:
		consents := make(map[string]Consent, len(u.Consents)+1)
		for k, v := range u.Consents {
			consents[k] = v
		}
		consents[e.ClientID] = Consent{Scopes: e.Scopes, Teams: e.Teams, Preset: e.Preset, Resources: e.Resources, GrantedAt: seq}
		u.Consents = consents
	default:
		return
	}
	u.Version = seq
}

// Active reports whether the user may sign in and use tokens.
func (u *User) Active() bool { return u != nil && !u.Deleted && u.Status == StatusEnabled }

// RoleOn is the user's strongest role on node, through a membership on the
// node or any ancestor; "" when none.
func (u *User) RoleOn(node string, tree Tree) string { return strongestRole(u.Memberships, node, tree) }

// strongestRole is the strongest role assignments give on node, through
// the node or any ancestor; "" when none.
func strongestRole(assignments []Membership, node string, tree Tree) string {
	best := -1
	for _, m := range assignments {
		if tree.Within(node, m.Node) {
			best = max(best, slices.Index(Roles, m.Role))
		}
	}
	if best < 0 {
		return ""
	}
	return Roles[best]
}

// Teams lists the teams the user belongs to: teams they are a member of
// directly or through their organization.
func (u *User) Teams(tree Tree) []string {
	var out []string
	for slug, n := range tree {
		if !n.Deleted && n.Kind == NodeTeam && u.RoleOn(slug, tree) != "" {
			out = append(out, slug)
		}
	}
	slices.Sort(out)
	return out
}

// Events of users.
type (
	// UserCreated adds a user.
	UserCreated struct {
		UserID string `json:"user_id"`
		UserProfile
		Memberships []Membership `json:"memberships"`
		RealmRoles  []string     `json:"realm_roles,omitempty"`
	}
	// UserUpdated changes the profile, before and after.
	UserUpdated struct {
		Before UserProfile `json:"before"`
		After  UserProfile `json:"after"`
	}
	// UserPasswordChanged says the password changed; the argon2id hash is
	// stored sealed, never in an event.
	UserPasswordChanged struct{}
	// UserMembershipsChanged replaces the memberships, before and after in
	// full: a privilege change.
	UserMembershipsChanged struct {
		Before []Membership `json:"before"`
		After  []Membership `json:"after"`
	}
	// UserDisabled stops a user and revokes their tokens.
	UserDisabled struct {
		TokensRevokedBefore int64 `json:"tokens_revoked_before"`
	}
	// UserEnabled lets a user sign in again.
	UserEnabled struct{}
	// UserDeleted removes a user for good and revokes their tokens.
	UserDeleted struct {
		TokensRevokedBefore int64 `json:"tokens_revoked_before"`
	}
	// UserLocked records that repeated failed sign-ins locked the username.
	UserLocked struct {
		Until int64 `json:"until"`
	}
	// UserUnlocked records that an administrator lifted a sign-in lock
	// (and forgot the username's failed sign-ins).
	UserUnlocked struct{}
	// ConsentGranted remembers what a user granted a client.
	ConsentGranted struct {
		ClientID string   `json:"client_id"`
		Scopes   []string `json:"scopes"`
		Teams    []string `json:"teams"`
		Preset   string   `json:"preset"`
		// Resources the client may reach on the user's behalf (RFC 8707).
		Resources []string `json:"resources,omitempty"`
	}
)

const (
	TypeUserCreated            = "user.created"
	TypeUserUpdated            = "user.updated"
	TypeUserPasswordChanged    = "user.password_changed"
	TypeUserMembershipsChanged = "user.memberships_changed"
	TypeUserDisabled           = "user.disabled"
	TypeUserEnabled            = "user.enabled"
	TypeUserDeleted            = "user.deleted"
	TypeUserLocked             = "user.locked"
	TypeUserUnlocked           = "user.unlocked"
	TypeConsentGranted         = "user.consent_granted"
)

func (UserCreated) EventType() string            { return TypeUserCreated }
func (UserUpdated) EventType() string            { return TypeUserUpdated }
func (UserPasswordChanged) EventType() string    { return TypeUserPasswordChanged }
func (UserMembershipsChanged) EventType() string { return TypeUserMembershipsChanged }
func (UserDisabled) EventType() string           { return TypeUserDisabled }
func (UserEnabled) EventType() string            { return TypeUserEnabled }
func (UserDeleted) EventType() string            { return TypeUserDeleted }
func (UserLocked) EventType() string             { return TypeUserLocked }
func (UserUnlocked) EventType() string           { return TypeUserUnlocked }
func (ConsentGranted) EventType() string         { return TypeConsentGranted }

// SubjectCutoff is implemented by events that revoke every token of a user.
type SubjectCutoff interface{ RevokesSubjectBefore() int64 }

func (e UserDisabled) RevokesSubjectBefore() int64 { return e.TokensRevokedBefore }
func (e UserDeleted) RevokesSubjectBefore() int64  { return e.TokensRevokedBefore }

func init() {
	for t, dec := range map[string]func([]byte) (Payload, error){
		TypeUserCreated: decodeAs[UserCreated], TypeUserUpdated: decodeAs[UserUpdated],
		TypeUserPasswordChanged: decodeAs[UserPasswordChanged], TypeUserMembershipsChanged: decodeAs[UserMembershipsChanged],
		TypeUserDisabled: decodeAs[UserDisabled], TypeUserEnabled: decodeAs[UserEnabled],
		TypeUserDeleted: decodeAs[UserDeleted], TypeUserLocked: decodeAs[UserLocked], TypeUserUnlocked: decodeAs[UserUnlocked],
		TypeConsentGranted: decodeAs[ConsentGranted],
	} {
		decoders[t] = dec
	}
}

// ValidateProfile checks a user's profile.
func ValidateProfile(p *UserProfile) error {
	p.Username = strings.TrimSpace(p.Username)
	p.DisplayName = strings.TrimSpace(p.DisplayName) // blank: the username is shown
	var problems []string
	if !usernamePattern(p.Username) {
		problems = append(problems, "username must be 1 to 100 characters: letters, digits, '.', '_', '-' or '@'")
	}
	if p.Email != "" {
		if a, err := mail.ParseAddress(p.Email); err != nil || a.Address != p.Email {
			problems = append(problems, fmt.Sprintf("email %q is not an address", p.Email))
		}
	}
	if p.DisplayName != "" && !IsDisplayText(p.DisplayName, 200) {
		problems = append(problems, "display_name is at most 200 characters, one line, with no control or format characters")
	}
	if len(problems) > 0 {
		return &ValidationError{Field: "user", Message: strings.Join(problems, "; "), Details: problems}
	}
	return nil
}

func usernamePattern(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-@", r)
		if !ok {
			return false
		}
	}
	return true
}

// ValidateMemberships checks memberships against the tree.
func ValidateMemberships(ms []Membership, tree Tree) error {
	var problems []string
	seen := make(map[string]bool, len(ms))
	for _, m := range ms {
		if seen[m.Node] {
			problems = append(problems, fmt.Sprintf("node %q is listed twice: a user has one role per node", m.Node))
		}
		seen[m.Node] = true
		if !slices.Contains(Roles, m.Role) {
			problems = append(problems, fmt.Sprintf("role %q must be viewer, editor or admin", m.Role))
		}
		if _, ok := tree.Get(m.Node); !ok {
			problems = append(problems, fmt.Sprintf("node %q is not a node of this realm", m.Node))
		}
	}
	if len(problems) > 0 {
		return &ValidationError{Field: "memberships", Message: strings.Join(problems, "; "), Details: problems}
	}
	return nil
}

// MinPasswordLength is the shortest password accepted.
const MinPasswordLength = 10

// ValidatePassword checks a new password's shape.
func ValidatePassword(pw string) error {
	if n := utf8.RuneCountInString(pw); n < MinPasswordLength || n > 1024 {
		return &ValidationError{Field: "password", Message: fmt.Sprintf("password must be %d to 1024 characters", MinPasswordLength)}
	}
	// Nothing a person types at a sign-in form: a password holding one
	// could never be entered there.
	if strings.ContainsFunc(pw, unicode.IsControl) || !utf8.ValidString(pw) {
		return &ValidationError{Field: "password", Message: "password must not hold control characters"}
	}
	return nil
}

// DecideDisableUser stops a user and revokes every token issued for them.
func DecideDisableUser(u *User, now time.Time) (*UserDisabled, RevocationRule, error) {
	if u == nil || u.Deleted {
		return nil, RevocationRule{}, ErrNotFound
	}
	if u.Status == StatusDisabled {
		return nil, RevocationRule{}, nil
	}
	cutoff := revocationCutoff(now)
	return &UserDisabled{TokensRevokedBefore: cutoff}, subjectRule(u.ID, cutoff), nil
}

// DecideDeleteUser removes a user and revokes every token issued for them.
func DecideDeleteUser(u *User, now time.Time) (UserDeleted, RevocationRule, error) {
	if u == nil || u.Deleted {
		return UserDeleted{}, RevocationRule{}, ErrNotFound
	}
	cutoff := revocationCutoff(now)
	return UserDeleted{TokensRevokedBefore: cutoff}, subjectRule(u.ID, cutoff), nil
}

func subjectRule(sub string, cutoff int64) RevocationRule {
	return RevocationRule{Subject: sub, IssuedBefore: cutoff, ForgetAfter: cutoff + MaxAccessTokenLifetime}
}

// The username directory is one aggregate per realm: every claim of a
// username is appended at the directory's version, so two users can never
// claim one name at the same time.
const AggregateUsernames = "usernames"

// UsernamesRef is the realm's username directory.
func UsernamesRef() AggregateRef { return AggregateRef{Type: AggregateUsernames, ID: "directory"} }

type (
	// UsernameClaimed gives a username (lower-cased) to a user.
	UsernameClaimed struct {
		Username string `json:"username"`
		UserID   string `json:"user_id"`
	}
	// UsernameReleased frees a username.
	UsernameReleased struct {
		Username string `json:"username"`
	}
)

const (
	TypeUsernameClaimed  = "usernames.claimed"
	TypeUsernameReleased = "usernames.released"
)

func (UsernameClaimed) EventType() string  { return TypeUsernameClaimed }
func (UsernameReleased) EventType() string { return TypeUsernameReleased }

func init() {
	decoders[TypeUsernameClaimed] = decodeAs[UsernameClaimed]
	decoders[TypeUsernameReleased] = decodeAs[UsernameReleased]
}
