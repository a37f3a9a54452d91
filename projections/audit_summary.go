package projections

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// unixTime renders Unix seconds for a summary.
func unixTime(s int64) string { return time.Unix(s, 0).UTC().Format(time.RFC3339) }

func words(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, " ")
}

func withReason(s, reason string) string {
	if reason == "" {
		return s
	}
	return s + " (" + reason + ")"
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// aggregateID is the id part of "type/id".
func aggregateID(agg string) string {
	if ref, ok := domain.ParseAggregateRef(agg); ok {
		return ref.ID
	}
	return agg
}

// auditSummary is the entry's one readable line.
func auditSummary(env eventstore.Envelope, changes []FieldChange) string {
	p, err := domain.DecodePayload(env.Type, env.Data)
	if err != nil {
		return fieldSummary(env, changes)
	}
	switch e := p.(type) {
	case domain.RealmCreated:
		return fmt.Sprintf("realm %q created", e.Name)
	case domain.KeyAdded:
		return fmt.Sprintf("signing key %s added (%s)", e.Kid, e.Alg)
	case domain.KeyDeactivated:
		return fmt.Sprintf("signing key %s deactivated (verifies tokens until %s)", e.Kid, unixTime(e.VerifyUntil))
	case domain.ScopeDefined:
		if e.Description == "" {
			return fmt.Sprintf("scope %q defined", e.Name)
		}
		return fmt.Sprintf("scope %q defined: %s", e.Name, e.Description)
	case domain.ScopeRemoved:
		return fmt.Sprintf("scope %q removed", e.Name)
	case domain.RealmSettingsChanged:
		if len(changes) == 0 {
			return "realm settings changed"
		}
		return "realm settings changed: " + fieldNames(changes)
	case domain.UsernameClaimed:
		return fmt.Sprintf("username %q claimed by user %s", e.Username, e.UserID)
	case domain.UsernameReleased:
		return fmt.Sprintf("username %q released", e.Username)
	case domain.NodeCreated:
		s := fmt.Sprintf("%s %q created (%s)", e.Kind, e.Slug, e.Name)
		if e.Parent != "" {
			s += " under " + e.Parent
		}
		return s
	case domain.NodeRenamed:
		return fmt.Sprintf("node %q renamed to %q", aggregateID(env.Aggregate), e.Name)
	case domain.NodeDeleted:
		return fmt.Sprintf("node %q deleted", aggregateID(env.Aggregate))
	case domain.NodeReferenced:
		return fmt.Sprintf("node %q referred to by %s", aggregateID(env.Aggregate), orUnknown(e.By))
	case domain.ScopeReferenced:
		return fmt.Sprintf("scope %q referred to by %s", e.Scope, orUnknown(e.By))
	case domain.ScopeRetired:
		return fmt.Sprintf("scope %q retired: nothing may refer to it any more", e.Scope)
	case domain.ClientCreated:
		kind := e.Kind
		if kind == "" {
			kind = e.Type
		}
		return fmt.Sprintf("client %q created (%s, scopes %s)", e.Name, kind, words(e.Scopes))
	case domain.ClientUpdated:
		if len(changes) == 0 {
			return fmt.Sprintf("client %q updated (no change)", e.After.Name)
		}
		return fmt.Sprintf("client %q updated: %s", e.After.Name, fieldNames(changes))
	case domain.ClientSecretRotated:
		if e.PreviousExpiresAt <= 0 {
			return "secret rotated (previous invalid at once)"
		}
		return fmt.Sprintf("secret rotated (previous valid until %s)", unixTime(e.PreviousExpiresAt))
	case domain.ClientSecretRehashed:
		return "secret hash replaced by its HMAC (the secret is unchanged)"
	case domain.ClientDisabled:
		return withReason(fmt.Sprintf("client disabled; every token issued before %s revoked", unixTime(e.TokensRevokedBefore)), e.Reason)
	case domain.ClientEnabled:
		return "client enabled"
	case domain.ClientDeleted:
		return fmt.Sprintf("client deleted; every token issued before %s revoked", unixTime(e.TokensRevokedBefore))
	case domain.ClientTokensRevoked:
		return withReason(fmt.Sprintf("every token of the client issued before %s revoked", unixTime(e.IssuedBefore)), e.Reason)
	case domain.TokenIssued:
		to := env.ClientID
		if to == "" {
			to = aggregateID(env.Aggregate)
		}
		s := "token issued to " + to
		if e.Subject != "" && e.Subject != to {
			s += " for " + e.Subject
		}
		scope := e.Scope
		if scope == "" {
			scope = "none"
		}
		if e.GrantType == domain.GrantDeviceCode {
			s += " through the device flow"
		}
		if e.JKT != "" {
			s += ", DPoP-bound"
		}
		return fmt.Sprintf("%s (scope %s, expires %s)", s, scope, unixTime(e.ExpiresAt))
	case domain.ClientDiscovered:
		return fmt.Sprintf("client %s recorded from its metadata document (%q, scopes %s)", e.ClientID, e.Name, words(e.Scopes))
	case domain.ClientRegistered:
		s := fmt.Sprintf("client %q registered itself (%s, scopes %s)", e.Name, e.Type, words(e.Scopes))
		if e.InitialToken != "" {
			s += " with initial access token " + e.InitialToken
		}
		return s
	case domain.ClientRegistrationChanged:
		return fmt.Sprintf("client registration policy changed: metadata documents %s, dynamic registration %s",
			onOff(e.After.CIMD.Enabled), onOff(e.After.Dynamic.Enabled)+map[bool]string{true: " (open)"}[e.After.Dynamic.Open])
	case domain.InitialTokenCreated:
		return fmt.Sprintf("initial access token issued (%d uses, expires %s)", e.MaxUses, unixTime(e.ExpiresAt))
	case domain.InitialTokenUsed:
		return "initial access token used to register client " + e.ClientID
	case domain.InitialTokenRevoked:
		return "initial access token revoked"
	case domain.ResourceCreated:
		return fmt.Sprintf("resource %s registered (%q, scopes %s)", e.Identifier, e.Name, words(e.Scopes))
	case domain.ResourceUpdated:
		if len(changes) == 0 {
			return fmt.Sprintf("resource %q updated (no change)", e.After.Name)
		}
		return fmt.Sprintf("resource %q updated: %s", e.After.Name, fieldNames(changes))
	case domain.ResourceDeleted:
		return "resource deleted"
	case domain.DeviceRequested:
		return fmt.Sprintf("device flow started by client %s (scope %s, code expires %s)", e.ClientID, orNone(e.Scope), unixTime(e.ExpiresAt))
	case domain.DeviceApproved:
		return fmt.Sprintf("device flow approved by user %s (scope %s, teams %s)", e.UserID, orNone(e.Scope), words(e.Teams))
	case domain.DeviceDenied:
		return "device flow denied by user " + e.UserID
	case domain.DeviceRedeemed:
		return "device code redeemed (grant " + e.GrantID + ")"
	case domain.RequestPushed:
		return fmt.Sprintf("authorization request pushed by client %s (request_uri expires %s)", e.ClientID, unixTime(e.ExpiresAt))
	case domain.PushedRequestUsed:
		return "pushed authorization request used"
	case domain.TokenRevoked:
		return withReason("token "+e.JTI+" revoked", e.Reason)
	case domain.TokenUsed:
		return "token " + e.JTI + " used"
	}
	return fieldSummary(env, changes)
}

// fieldSummaries describe events of users, authorization codes, grants and
// browser sessions from their (redacted) data fields.
var fieldSummaries = map[string]func(f fieldsOf, changes []FieldChange) string{
	"user.created": func(f fieldsOf, _ []FieldChange) string {
		return fmt.Sprintf("user %q created", f.str("username"))
	},
	"user.updated": func(f fieldsOf, changes []FieldChange) string {
		return "user profile updated: " + changedNames(changes)
	},
	"user.password_changed": func(fieldsOf, []FieldChange) string { return "password changed" },
	"user.memberships_changed": func(_ fieldsOf, changes []FieldChange) string {
		return "memberships changed: " + changedNames(changes)
	},
	"user.realm_roles_changed": func(_ fieldsOf, changes []FieldChange) string {
		if len(changes) == 0 {
			return "realm roles changed: no change"
		}
		var before, after []string
		_ = json.Unmarshal(changes[0].Before, &before)
		_ = json.Unmarshal(changes[0].After, &after)
		return "realm roles changed from " + words(before) + " to " + words(after)
	},
	"user.disabled": func(f fieldsOf, _ []FieldChange) string {
		return "user disabled; every token issued before " + f.time("tokens_revoked_before") + " revoked"
	},
	"user.enabled": func(fieldsOf, []FieldChange) string { return "user enabled" },
	"user.deleted": func(f fieldsOf, _ []FieldChange) string {
		return "user deleted; every token issued before " + f.time("tokens_revoked_before") + " revoked"
	},
	"user.locked": func(f fieldsOf, _ []FieldChange) string {
		return "sign-in locked until " + f.time("until") + " after repeated failures"
	},
	"user.unlocked": func(fieldsOf, []FieldChange) string {
		return "sign-in unlocked by an administrator; failed sign-ins forgotten"
	},
	"user.consent_granted": func(f fieldsOf, _ []FieldChange) string {
		return fmt.Sprintf("consent granted to client %s (scopes %s)", f.str("client_id"), words(f.strs("scopes")))
	},
	"code.issued": func(f fieldsOf, _ []FieldChange) string {
		return fmt.Sprintf("authorization code issued to client %s for user %s (scope %s, expires %s)",
			f.str("client_id"), f.str("user_id"), orNone(f.str("scope")), f.time("exp"))
	},
	"code.redeemed": func(f fieldsOf, _ []FieldChange) string {
		return "authorization code redeemed (grant " + f.str("grant_id") + ")"
	},
	"code.invalidated": func(f fieldsOf, _ []FieldChange) string {
		return "authorization code spent by a failed redemption: " + f.str("reason")
	},
	"grant.created": func(f fieldsOf, _ []FieldChange) string {
		through := ""
		if f.str("device_id") != "" {
			through = " through the device flow"
		}
		return fmt.Sprintf("grant created%s: client %s for user %s (scope %s)", through, f.str("client_id"), f.str("user_id"), orNone(f.str("scope")))
	},
	"grant.refreshed": func(f fieldsOf, _ []FieldChange) string {
		return fmt.Sprintf("refresh token rotated (scope %s, expires %s)", orNone(f.str("scope")), f.time("refresh_exp"))
	},
	"grant.revoked": func(f fieldsOf, _ []FieldChange) string {
		return withReason(fmt.Sprintf("grant revoked with its refresh token and %d access tokens", len(f.strs("jtis"))), f.str("reason"))
	},
	"session.created": func(f fieldsOf, _ []FieldChange) string {
		return fmt.Sprintf("browser session started for user %s (%s on %s)", f.str("user_id"), orNone(f.str("browser")), orNone(f.str("device")))
	},
	"session.touched": func(fieldsOf, []FieldChange) string { return "browser session active" },
	"session.ended":   func(f fieldsOf, _ []FieldChange) string { return withReason("browser session ended", f.str("reason")) },
	"audit.checkpoint": func(f fieldsOf, _ []FieldChange) string {
		var gaps []any
		_ = json.Unmarshal(f["gaps"], &gaps)
		s := fmt.Sprintf("tamper-evidence checkpoint over messages %s to %s (%s chained", f.raw("from_seq"), f.raw("to_seq"), f.raw("messages"))
		if len(gaps) > 0 {
			s += fmt.Sprintf(", %d gap(s)", len(gaps))
		}
		var foreign [][2]uint64
		_ = json.Unmarshal(f["foreign"], &foreign)
		if n := foreignCount(foreign); n > 0 {
			s += fmt.Sprintf(", %d foreign message(s) listed, not chained", n)
		}
		return s + "), signed"
	},
	TypeUndecodable: func(f fieldsOf, _ []FieldChange) string {
		return "the message stored on " + f.str("subject") + " could not be decoded"
	},
	TypeForeign: func(f fieldsOf, _ []FieldChange) string {
		return "a message without a valid MAC is stored on " + f.str("subject") + ": Latchkey did not write it, and ignores it"
	},
}

// foreignCount is how many sequences a checkpoint's foreign ranges hold.
func foreignCount(ranges [][2]uint64) uint64 {
	n := uint64(0)
	for _, r := range ranges {
		if r[1] >= r[0] {
			n += r[1] - r[0] + 1
		}
	}
	return n
}

// fieldSummary describes an event from its data fields; an event of an
// unknown type is described by its type.
func fieldSummary(env eventstore.Envelope, changes []FieldChange) string {
	fn, ok := fieldSummaries[env.Type]
	if !ok {
		return env.Type
	}
	f := fieldsOf{}
	for _, c := range changes {
		if c.Before == nil {
			f[c.Field] = c.After
		}
	}
	return fn(f, changes)
}

// fieldsOf are an event's data fields as JSON.
type fieldsOf map[string]json.RawMessage

func (f fieldsOf) str(name string) string {
	var s string
	_ = json.Unmarshal(f[name], &s)
	return s
}

// raw renders a scalar field as it is in the JSON ("?" when absent).
func (f fieldsOf) raw(name string) string {
	if v, ok := f[name]; ok {
		return string(v)
	}
	return "?"
}

func (f fieldsOf) strs(name string) []string {
	var s []string
	_ = json.Unmarshal(f[name], &s)
	return s
}

func (f fieldsOf) time(name string) string {
	var n int64
	if json.Unmarshal(f[name], &n) != nil || n == 0 {
		return "?"
	}
	return unixTime(n)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// fieldNames lists the fields of an update's changes.
func fieldNames(changes []FieldChange) string {
	names := make([]string, len(changes))
	for i, c := range changes {
		names[i] = c.Field
	}
	return strings.Join(names, ", ")
}

func changedNames(changes []FieldChange) string {
	var names []string
	for _, c := range changes {
		if c.Before != nil {
			names = append(names, c.Field)
		}
	}
	if len(names) == 0 {
		return "no change"
	}
	return strings.Join(names, ", ")
}

// orUnknown stands in for an empty name in a summary.
func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}
