package realms

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/google/uuid"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/realms/webfetch"
)

// Registration is how a realm meets clients no administrator created:
// through their client ID metadata document (the client_id is the
// document's URL) or by dynamic registration (RFC 7591, managed under RFC
// 7592), with an initial access token or, where the realm allows it, openly
// for public clients. Both are off until an administrator turns them on.
type Registration struct{ rl *Realm }

// Registration is the realm's policy and its self-registered clients.
func (rl *Realm) Registration() Registration { return Registration{rl} }

// Policy is the realm's client registration policy.
func (r Registration) Policy() domain.ClientRegistration {
	p := r.rl.state().Registration
	p.Normalize()
	return p
}

// SetPolicy replaces the realm's client registration policy.
func (r Registration) SetPolicy(ctx context.Context, next domain.ClientRegistration, meta eventstore.Meta) error {
	rl := r.rl
	return rl.execute(ctx, meta, command{decide: func() (plan, error) {
		state := rl.state()
		ev, err := domain.DecideClientRegistration(state, next)
		if err != nil || ev == nil {
			return plan{}, err
		}
		return write(domain.RealmRef(rl.Name), state.Version, *ev), nil
	}})
}

// Kinds of metadata policy: what a client met without an administrator may
// be.
const (
	policyDocument = iota // a metadata document
	policyOpen            // registered without an initial access token
	policyInitial         // registered with an initial access token
)

// metadataPolicy is the policy a client of a kind is read under. Such a
// client holds the OpenID scopes and those of the realm's resources; one
// registered with an initial access token may hold any scope of the
// catalog but management, which only an administrator gives.
func (r Registration) metadataPolicy(kind int) domain.MetadataPolicy {
	rl := r.rl
	scopes := append(domain.BuiltinScopeNames(), rl.Resources().Scopes()...)
	p := domain.MetadataPolicy{
		Scopes: scopes, DefaultScopes: scopes, Catalog: rl.state().Scopes, Tree: rl.models.Nodes.Tree(),
	}
	switch kind {
	case policyDocument:
		p.AuthMethods = []string{domain.AuthNone, domain.AuthPrivateKeyJWT}
		p.Grants = []string{domain.GrantAuthorizationCode, domain.GrantRefreshToken, domain.GrantDeviceCode}
		p.DefaultAuthMethod = domain.AuthNone
	case policyOpen:
		p.AuthMethods = []string{domain.AuthNone}
		p.Grants = []string{domain.GrantAuthorizationCode, domain.GrantRefreshToken, domain.GrantDeviceCode}
		p.DefaultAuthMethod, p.Strict, p.DefaultName = domain.AuthSecretBasic, true, "Registered client"
	case policyInitial:
		p.AuthMethods = []string{domain.AuthNone, domain.AuthSecretBasic, domain.AuthSecretPost, domain.AuthPrivateKeyJWT}
		p.Grants = []string{domain.GrantAuthorizationCode, domain.GrantRefreshToken, domain.GrantDeviceCode, domain.GrantClientCredentials}
		p.DefaultAuthMethod, p.Strict, p.DefaultName = domain.AuthSecretBasic, true, "Registered client"
		for _, e := range rl.state().Scopes.List() {
			if !e.BuiltIn && e.Name != domain.ScopeManagement && !contains(p.Scopes, e.Name) {
				p.Scopes = append(p.Scopes, e.Name)
			}
		}
	}
	return p
}

func clientRefused(desc string) *domain.OAuthError {
	return &domain.OAuthError{Code: domain.ErrInvalidClient, Description: desc}
}

// Resolve returns the client a client_id names. An https URL names a
// client ID metadata document, when the realm admits them: the document
// is fetched (or taken from the cache), checked, and recorded when it is
// new or changed, so the client is in the client list, the audit log and
// the sessions like any other. A document that cannot be fetched or read
// is invalid_client, saying why; any other client_id is looked up.
func (cs Clients) Resolve(ctx context.Context, clientID string, meta eventstore.Meta) (*domain.Client, error) {
	if !domain.IsClientIDURL(clientID) {
		return cs.Get(clientID)
	}
	rl := cs.rl
	policy := rl.Registration().Policy().CIMD
	if !policy.Enabled {
		return nil, domain.NotFound("client " + clientID)
	}
	if problem := domain.ClientIDURLProblem(clientID); problem != "" {
		return nil, clientRefused(problem)
	}
	u, _ := url.Parse(clientID)
	if !policy.HostAllowed(u.Hostname()) {
		return nil, clientRefused("clients from " + u.Hostname() + " are not admitted by this realm")
	}
	if rl.models.Clients.Deleted(clientID) {
		return nil, clientRefused("this client was deleted by an administrator")
	}
	doc, err := rl.reg.fetch.JSON(ctx, clientID)
	if err != nil {
		var fe *webfetch.Error
		if errors.As(err, &fe) {
			return nil, clientRefused("the client's metadata document could not be fetched: " + fe.Reason)
		}
		return nil, err
	}
	meta.ClientID = clientID
	err = rl.execute(ctx, meta, command{decide: func() (plan, error) {
		cur, _ := rl.models.Clients.Get(clientID)
		ev, err := domain.DecideDiscoverClient(cur, clientID, doc, rl.Registration().metadataPolicy(policyDocument))
		if err != nil || ev == nil {
			return plan{}, err
		}
		if err := checkKeys(ev.ClientSettings); err != nil {
			return plan{}, err
		}
		var version uint64
		var before domain.ClientSettings
		if cur != nil {
			version, before = cur.Version, cur.ClientSettings
		}
		p := write(domain.ClientRef(clientID), version, *ev)
		return p, cs.references(&p, clientID, before, ev.ClientSettings)
	}})
	var verr *domain.ValidationError
	var oerr *domain.OAuthError
	switch {
	case errors.As(err, &verr):
		return nil, clientRefused("the client's metadata document is invalid: " + verr.Message)
	case errors.As(err, &oerr) && oerr.Code != domain.ErrInvalidClient:
		return nil, clientRefused("the client's metadata document is not acceptable: " + oerr.Description)
	case err != nil:
		return nil, err
	}
	return cs.Get(clientID)
}

// Registered is a client that registered itself, with its credentials,
// shown this once.
type Registered struct {
	Client            *domain.Client
	Secret            string
	RegistrationToken string
}

var errRegistrationToken = &domain.OAuthError{Code: domain.ErrInvalidToken, Description: "the registration access token is invalid"}

// Register registers a client from an RFC 7591 request body. With an
// initial access token, the token's use is written with the client, at the
// token's version, so its count holds across replicas; without one, the
// realm must allow open registration, for a public client, and the
// caller's address must not have registered too many lately.
func (r Registration) Register(ctx context.Context, body []byte, initialToken string, meta eventstore.Meta) (Registered, error) {
	rl := r.rl
	policy := r.Policy().Dynamic
	if !policy.Enabled {
		return Registered{}, domain.NotFound("dynamic client registration in realm " + rl.Name)
	}
	var itID string
	kind := policyOpen
	if initialToken != "" {
		id, ok := splitCredential(initialToken)
		if !ok {
			return Registered{}, &domain.OAuthError{Code: domain.ErrInvalidToken, Description: "the initial access token is invalid, expired, revoked or used up"}
		}
		itID, kind = id, policyInitial
	} else {
		if !policy.Open {
			return Registered{}, &domain.OAuthError{Code: domain.ErrInvalidToken, Description: "registration needs an initial access token (Authorization: Bearer)"}
		}
		if err := r.countOpen(ctx, meta.IP, meta.Time); err != nil {
			return Registered{}, err
		}
	}
	secret, err := NewSecret()
	if err != nil {
		return Registered{}, err
	}
	regToken, err := NewSecret()
	if err != nil {
		return Registered{}, err
	}
	clientID := uuid.NewString()
	meta.ClientID = clientID
	err = rl.execute(ctx, meta, command{decide: func() (plan, error) {
		// The initial access token is checked first: an unauthenticated
		// request learns nothing about what it would register.
		var p plan
		if itID != "" {
			it, _ := rl.models.InitialTokens.Get(itID)
			if it == nil || !hashesMatch(it.Hash, domain.HashSecret(initialToken)) {
				return plan{}, &domain.OAuthError{Code: domain.ErrInvalidToken, Description: "the initial access token is invalid, expired, revoked or used up"}
			}
			used, err := domain.DecideUseInitialToken(it, clientID, meta.Time)
			if err != nil {
				return plan{}, err
			}
			p.add(domain.InitialTokenRef(itID), it.Version, used)
		}
		ev, err := domain.DecideRegisterClient(clientID, body, rl.reg.keys.secrets.Hash(secret), domain.HashSecret(regToken), itID, r.metadataPolicy(kind))
		if err != nil {
			return plan{}, err
		}
		if err := checkKeys(ev.ClientSettings); err != nil {
			return plan{}, err
		}
		p.add(domain.ClientRef(clientID), 0, ev)
		return p, rl.Clients().references(&p, clientID, domain.ClientSettings{}, ev.ClientSettings)
	}})
	if err != nil {
		var verr *domain.ValidationError
		if errors.As(err, &verr) {
			return Registered{}, &domain.OAuthError{Code: domain.ErrInvalidClientMetadata, Description: verr.Message}
		}
		return Registered{}, err
	}
	c, err := rl.Clients().Get(clientID)
	if err != nil {
		return Registered{}, err
	}
	out := Registered{Client: c, RegistrationToken: regToken}
	if c.HasSecret() {
		out.Secret = secret
	}
	return out, nil
}

// Registered returns a self-registered client to the holder of its
// registration access token (RFC 7592 §2.1); any mismatch is the same
// invalid_token.
func (r Registration) Registered(clientID, regToken string) (*domain.Client, error) {
	c, ok := r.rl.models.Clients.Get(clientID)
	if !ok || c.Source != domain.SourceRegistration || regToken == "" || !hashesMatch(c.RegistrationHash, domain.HashSecret(regToken)) {
		return nil, errRegistrationToken
	}
	return c, nil
}

// Reregister replaces a self-registered client's metadata (RFC 7592 §2.2),
// under the policy it registered with.
func (r Registration) Reregister(ctx context.Context, clientID, regToken string, body []byte, meta eventstore.Meta) (*domain.Client, error) {
	rl := r.rl
	meta.ClientID = clientID
	err := rl.execute(ctx, meta, command{decide: func() (plan, error) {
		c, err := r.Registered(clientID, regToken)
		if err != nil {
			return plan{}, err
		}
		kind := policyOpen
		if c.InitialToken != "" {
			kind = policyInitial
		}
		ev, err := domain.DecideReregisterClient(c, body, r.metadataPolicy(kind))
		if err != nil || ev == nil {
			return plan{}, err
		}
		if err := checkKeys(ev.After); err != nil {
			return plan{}, err
		}
		p := write(domain.ClientRef(clientID), c.Version, *ev)
		return p, rl.Clients().references(&p, clientID, ev.Before, ev.After)
	}})
	if err != nil {
		var verr *domain.ValidationError
		if errors.As(err, &verr) {
			return nil, &domain.OAuthError{Code: domain.ErrInvalidClientMetadata, Description: verr.Message}
		}
		return nil, err
	}
	return rl.Clients().Get(clientID)
}

// Unregister deletes a self-registered client and revokes its tokens (RFC
// 7592 §2.3).
func (r Registration) Unregister(ctx context.Context, clientID, regToken string, meta eventstore.Meta) error {
	rl := r.rl
	meta.ClientID = clientID
	return rl.execute(ctx, meta, command{decide: func() (plan, error) {
		c, err := r.Registered(clientID, regToken)
		if err != nil {
			return plan{}, err
		}
		ev, rule, err := domain.DecideDeleteClient(c, meta.Time)
		if err != nil {
			return plan{}, err
		}
		p := write(domain.ClientRef(clientID), c.Version, ev)
		p.revoke(rule)
		return p, nil
	}})
}

// IssuedInitialToken is a new initial access token, shown this once.
type IssuedInitialToken struct {
	Token string
	State *domain.InitialToken
}

// CreateInitialToken issues an initial access token for maxUses
// registrations within expiresIn seconds (0: one, a day).
func (r Registration) CreateInitialToken(ctx context.Context, description string, expiresIn int64, maxUses int, meta eventstore.Meta) (IssuedInitialToken, error) {
	id, token, err := newCredential()
	if err != nil {
		return IssuedInitialToken{}, err
	}
	err = r.rl.execute(ctx, meta, command{lostRace: domain.ErrAlreadyExists, decide: func() (plan, error) {
		ev, err := domain.DecideCreateInitialToken(domain.HashSecret(token), strings.TrimSpace(description), expiresIn, maxUses, meta.Time)
		return write(domain.InitialTokenRef(id), 0, ev), err
	}})
	if err != nil {
		return IssuedInitialToken{}, err
	}
	it, _ := r.rl.models.InitialTokens.Get(id)
	return IssuedInitialToken{Token: token, State: it}, nil
}

// InitialTokens lists the realm's initial access tokens, newest first.
func (r Registration) InitialTokens() []*domain.InitialToken { return r.rl.models.InitialTokens.List() }

// InitialToken returns one initial access token's state.
func (r Registration) InitialToken(id string) (*domain.InitialToken, error) {
	it, ok := r.rl.models.InitialTokens.Get(id)
	if !ok {
		return nil, domain.NotFound("initial access token " + id)
	}
	return it, nil
}

// RevokeInitialToken ends an initial access token.
func (r Registration) RevokeInitialToken(ctx context.Context, id string, meta eventstore.Meta) error {
	return r.rl.execute(ctx, meta, command{decide: func() (plan, error) {
		it, err := r.InitialToken(id)
		if err != nil {
			return plan{}, err
		}
		ev, err := domain.DecideRevokeInitialToken(it)
		if err != nil || ev == nil {
			return plan{}, err
		}
		return write(domain.InitialTokenRef(id), it.Version, *ev), nil
	}})
}
