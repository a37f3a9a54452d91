package realms

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// Devices are the realm's device authorizations (RFC 8628): requested by
// a client, answered by a user on the verification page, redeemed once by
// the device's polling. Each is an aggregate (domain.Device); its polling
// rate, which slow_down raises for good, is kept in the counter bucket
// every replica shares.
type Devices struct{ rl *Realm }

// Devices are the realm's device authorizations.
func (rl *Realm) Devices() Devices { return Devices{rl} }

// DeviceCodes is what a device gets to start: its device code (a
// credential: only its hash is recorded), the user code to show, how long
// they live and how often to poll.
type DeviceCodes struct {
	DeviceCode string
	UserCode   string // shown as WDJB-MJHT
	ExpiresIn  int64
	Interval   int64
}

// userCodeDraws bounds the draws of a user code that no pending
// authorization of the realm holds.
const userCodeDraws = 4

// Authorize starts a device authorization for the client auth
// authenticates (a public client by its client_id), which must hold the
// device grant, for scope and resources (RFC 8707), read as at the
// authorization endpoint. The request is written at version zero of a new
// aggregate, requiring the client at the version it authenticated.
func (ds Devices) Authorize(ctx context.Context, auth ClientAuth, scope string, resources []string, meta eventstore.Meta) (DeviceCodes, error) {
	rl := ds.rl
	auth, err := rl.Clients().Prepare(ctx, auth, meta)
	if err != nil {
		return DeviceCodes{}, err
	}
	targets, err := rl.Resources().Resolve(resources)
	if err != nil {
		return DeviceCodes{}, err
	}
	id, deviceCode, err := newCredential()
	if err != nil {
		return DeviceCodes{}, err
	}
	var userCode string
	err = rl.execute(ctx, meta, command{decide: func() (plan, error) {
		client, err := rl.Clients().Authenticate(ctx, auth, meta.Time)
		if err != nil {
			return plan{}, err
		}
		scopes, oerr := domain.DeviceScopes(client, scope)
		if oerr != nil {
			return plan{}, oerr
		}
		if scopes, oerr = domain.FitScopesToResources(scopes, strings.Trim(scope, " ") != "", targets); oerr != nil {
			return plan{}, oerr
		}
		if userCode, err = ds.freshUserCode(); err != nil {
			return plan{}, err
		}
		ev := domain.DeviceRequested{
			ClientID: client.ID, DeviceCodeHash: domain.HashSecret(deviceCode), UserCodeHash: rl.reg.keys.userCodes.Hash(userCode),
			Scope: strings.Join(scopes, " "), ExpiresAt: meta.Time.Unix() + domain.DeviceCodeLifetime, Interval: domain.DeviceInterval,
		}
		for _, t := range targets {
			ev.Resources = append(ev.Resources, t.Identifier)
		}
		p := write(domain.DeviceRef(id), 0, ev)
		p.require(domain.ClientRef(client.ID), client.Version)
		return p, nil
	}})
	if err != nil {
		return DeviceCodes{}, err
	}
	return DeviceCodes{DeviceCode: deviceCode, UserCode: domain.FormatUserCode(userCode),
		ExpiresIn: domain.DeviceCodeLifetime, Interval: domain.DeviceInterval}, nil
}

// freshUserCode draws a user code no pending authorization of the realm
// holds (in this replica's model: two replicas drawing the same code at
// the same moment, 1 in 2.5·10¹⁰, is left to chance).
func (ds Devices) freshUserCode() (string, error) {
	for range userCodeDraws {
		code, err := domain.NewUserCode(rand.Reader)
		if err != nil {
			return "", err
		}
		if _, taken := ds.rl.models.Authz.DeviceByUserCode(ds.rl.reg.keys.userCodes.Hash(code)); !taken {
			return code, nil
		}
	}
	return "", errors.New("no free user code after several draws")
}

// ErrUserCodeUnknown: the code typed on the verification page names no
// pending device authorization.
var ErrUserCodeUnknown = errors.New("this code is not valid: check it on your device, or start again there")

// ByUserCode finds the pending device authorization whose user code a
// person typed (case, dashes and spaces do not matter) on the
// verification page, from source (the address). Wrong codes are counted
// per address and for the whole realm on the shared counters: past either
// limit, every entry is refused with a *domain.LimitError for a while,
// right or wrong, so that guessing codes gets nowhere. A code that was
// answered already, or expired, is ErrUserCodeUnknown: it works once.
func (ds Devices) ByUserCode(ctx context.Context, typed, source string, now time.Time) (*domain.Device, error) {
	rl := ds.rl
	l := rl.reg.limiter
	keys := []counted{}
	var until int64
	for _, k := range []struct {
		key   string
		limit domain.Limit
	}{
		{counterKey(rl.Name, "user-code-src", domain.SourceKey(source)), l.limits.UserCodeSource},
		{counterKey(rl.Name, "user-code", rl.Name), l.limits.UserCodeRealm},
	} {
		c, err := l.read(ctx, k.key, k.limit)
		if err != nil {
			rl.reg.log.Warn("user code counter not read", "realm", rl.Name, "err", err)
			continue
		}
		keys = append(keys, c)
		until = max(until, k.limit.BlockedUntil(c.c, now.Unix()))
	}
	if until > 0 {
		return nil, domain.TooManyFailures("too many wrong codes from this address or in this realm", "", until, now.Unix())
	}
	if d := ds.pending(ctx, typed, now); d != nil {
		return d, nil
	}
	for _, c := range keys {
		if _, _, err := l.fail(ctx, c, now.Unix()); err != nil {
			rl.reg.log.Warn("wrong user code not counted", "realm", rl.Name, "err", err)
		}
	}
	return nil, ErrUserCodeUnknown
}

// pending is the pending, unexpired device authorization of a typed user
// code, or nil; one requested on another replica a moment ago is found
// after a catch-up.
func (ds Devices) pending(ctx context.Context, typed string, now time.Time) *domain.Device {
	code, ok := domain.NormalizeUserCode(typed)
	if !ok {
		return nil
	}
	hash := ds.rl.reg.keys.userCodes.Hash(code)
	d, found := ds.rl.models.Authz.DeviceByUserCode(hash)
	if !found && ds.rl.catchUp(ctx) == nil {
		d, found = ds.rl.models.Authz.DeviceByUserCode(hash)
	}
	if !found || d.Status != domain.DevicePending || now.Unix() >= d.ExpiresAt {
		return nil
	}
	return d
}

// Approve records a user's approval of a device authorization, with the
// teams chosen at consent, and the consent itself as for the code flow.
// Of two answers to one authorization, one is written and the other is
// domain.ErrDeviceAnswered: a user code works once.
func (ds Devices) Approve(ctx context.Context, deviceID string, user *domain.User, s *domain.Session, scopes, teams []string, meta eventstore.Meta) error {
	if teams == nil {
		teams = []string{}
	}
	return ds.answer(ctx, deviceID, user, domain.DeviceApproved{
		UserID: user.ID, Scope: strings.Join(scopes, " "), Teams: teams, SessionID: s.SessionID, AuthTime: s.ExpiresAt - domain.UISessionLifetime,
	}, meta)
}

// Deny records a user's refusal of a device authorization; the device's
// next poll is access_denied.
func (ds Devices) Deny(ctx context.Context, deviceID string, user *domain.User, meta eventstore.Meta) error {
	return ds.answer(ctx, deviceID, user, domain.DeviceDenied{UserID: user.ID}, meta)
}

func (ds Devices) answer(ctx context.Context, deviceID string, user *domain.User, answer domain.Payload, meta eventstore.Meta) error {
	rl := ds.rl
	return rl.execute(ctx, meta, command{lostRace: domain.ErrDeviceAnswered, decide: func() (plan, error) {
		d, _ := rl.models.Authz.Device(deviceID)
		ev, err := domain.DecideDeviceAnswer(d, answer, meta.Time)
		if err != nil {
			return plan{}, err
		}
		// The user as they are now: consent, given a moment ago, is in
		// their history.
		u, ok := rl.models.Users.Get(user.ID)
		if !ok || !u.Active() {
			return plan{}, domain.ErrDeviceAnswered
		}
		p := write(domain.DeviceRef(deviceID), d.Version, ev)
		p.require(domain.UserRef(u.ID), u.Version)
		return p, nil
	}})
}

// Token answers a device's poll (RFC 8628 §3.4) for the client auth
// authenticates: the tokens once a user approved, as the code flow's
// (refresh token per the client's setting, ID token for openid, bound to
// the DPoP key jkt when the request proved one); otherwise the error the
// poll earns. Exactly one poll redeems a device code, whichever replica it
// reaches: the redemption is written at the device's version. A code
// presented again after its redemption revokes the grant it started, as a
// reused authorization code does. A poll that finds the authorization
// pending sooner than the code's interval allows is slow_down, and the
// interval grows by 5 s for good.
func (ds Devices) Token(ctx context.Context, auth ClientAuth, deviceCode, jkt string, meta eventstore.Meta) (TokenSet, error) {
	rl := ds.rl
	gs := rl.Grants()
	auth, err := rl.Clients().Prepare(ctx, auth, meta)
	if err != nil {
		return TokenSet{}, err
	}
	now := meta.Time
	var set TokenSet
	var redeemed struct {
		client *domain.Client
		user   *domain.User
		d      *domain.Device
	}
	var polled *domain.Device
	first := true
	err = rl.execute(ctx, meta, command{decide: func() (plan, error) {
		set, polled = TokenSet{}, nil
		client, err := rl.Clients().Authenticate(ctx, auth, now)
		if err != nil {
			return plan{}, err
		}
		if err := allows(client, domain.GrantDeviceCode); err != nil {
			return plan{}, err
		}
		if oerr := domain.DPoPRequired(client, jkt); oerr != nil {
			return plan{}, oerr
		}
		if deviceCode == "" {
			return plan{}, &domain.OAuthError{Code: domain.ErrInvalidRequest, Description: "device_code is required"}
		}
		id, ok := splitCredential(deviceCode)
		if !ok {
			return plan{}, invalidGrant("unknown device code")
		}
		d, found := rl.models.Authz.Device(id)
		if !found && rl.catchUp(ctx) == nil {
			d, found = rl.models.Authz.Device(id)
		}
		if !found || !hashesMatch(d.DeviceCodeHash, domain.HashSecret(deviceCode)) {
			return plan{}, invalidGrant("unknown device code")
		}
		if d.Status == domain.DeviceSpent && d.ClientID == client.ID && first {
			gs.revokeAfterReuse(ctx, d.GrantID, "device code reused", meta)
			return plan{}, invalidGrant("the device code was already used; its tokens are revoked")
		}
		if oerr := d.PollProblem(client.ID, now); oerr != nil {
			if oerr.Code == domain.ErrAuthorizationPending {
				polled = d
			}
			return plan{}, oerr
		}
		first = false
		user, ok := rl.models.Users.Get(d.Approval.UserID)
		if !ok || !user.Active() || d.Version < user.CutoffSeq || d.Version < client.CutoffSeq {
			return plan{}, invalidGrant("the user or the client was disabled or revoked since the approval")
		}
		scope := domain.KeepAllowed(d.Approval.Scope, client.AllScopes())
		teams := rl.models.Nodes.Tree().Reaches(d.Approval.Teams, d.Version)
		aud, oerr := domain.PickAudience(d.Resources, "")
		if oerr != nil {
			return plan{}, oerr
		}
		grantID := uuid.NewString()
		grant := domain.GrantCreated{
			GrantID: grantID, DeviceID: d.ID, ClientID: client.ID, UserID: user.ID, Scope: scope, Teams: teams,
			SessionID: d.Approval.SessionID, AuthTime: d.Approval.AuthTime, Resources: d.Resources,
		}
		set.Refresh = gs.refreshOf(&grant, client, jkt, now)
		at, access, err := gs.access(ctx, client, user, grantID, scope, teams, aud, false, domain.GrantDeviceCode, jkt, now)
		if err != nil {
			return plan{}, err
		}
		set.Access, set.Scope, set.ExpiresIn = access.token, access.request.Scope, access.request.Lifetime
		redeemed.client, redeemed.user, redeemed.d = client, user, d
		p := write(domain.DeviceRef(d.ID), d.Version, domain.DeviceRedeemed{GrantID: grantID})
		p.add(domain.GrantRef(grantID), eventstore.AnyVersion, grant)
		p.add(domain.GrantRef(grantID), eventstore.AnyVersion, access.event)
		p.require(domain.ClientRef(client.ID), client.Version)
		p.require(domain.UserRef(user.ID), user.Version)
		p.at, p.onBehalfOf = at, user.ID
		return p, nil
	}})
	if polled != nil {
		return TokenSet{}, ds.pollPending(ctx, polled, now, err)
	}
	if err != nil {
		return TokenSet{}, err
	}
	d := redeemed.d
	return gs.withIDToken(ctx, set, redeemed.client, redeemed.user, "", d.Approval.SessionID, d.Approval.AuthTime)
}

// pollPending answers a poll that found the authorization pending: pending
// as it is, or slow_down when it came sooner than the code's interval
// allows, which then grows for good. The polling is kept in the shared
// counter bucket (a compare-and-set per poll), so every replica counts the
// same polls; a bucket that cannot be reached lets the poll be pending.
func (ds Devices) pollPending(ctx context.Context, d *domain.Device, now time.Time, pending error) error {
	rl := ds.rl
	l := rl.reg.limiter
	b, err := l.bucket(ctx)
	if err != nil {
		rl.reg.log.Warn("device polling not recorded", "realm", rl.Name, "err", err)
		return pending
	}
	key := counterKey(rl.Name, "device-poll", d.ID)
	ttl := time.Until(time.Unix(d.ExpiresAt, 0)) + time.Minute
	for range retry.attempts {
		raw, rev, err := b.Get(ctx, key)
		if err != nil {
			rl.reg.log.Warn("device polling not read", "realm", rl.Name, "err", err)
			return pending
		}
		var polls domain.DevicePolls
		if raw != nil && json.Unmarshal(raw, &polls) != nil {
			polls = domain.DevicePolls{}
		}
		next, tooSoon := polls.Poll(d.Interval, now)
		raw, _ = json.Marshal(next)
		err = b.Set(ctx, key, raw, rev, ttl)
		if err == nil {
			if tooSoon {
				return &domain.OAuthError{Code: domain.ErrSlowDown, Description: "polling too often: wait " + strconv.FormatInt(next.Interval, 10) + " seconds between polls"}
			}
			return pending
		}
		if !errors.Is(err, eventstore.ErrConflict) {
			rl.reg.log.Warn("device polling not recorded", "realm", rl.Name, "err", err)
			return pending
		}
		// Another poll of the same code at the same moment: read again,
		// and this one comes too soon after it.
	}
	return pending
}
