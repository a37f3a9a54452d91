package domain

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/google/uuid"
)

// Protected resources (RFC 8707): the APIs and MCP servers a realm's
// access tokens are minted for. A token requested with a resource carries
// it as its audience, holds only the scopes the resource accepts and lives
// no longer than the resource allows.

// AggregateResource is the aggregate type of a protected resource.
const AggregateResource = "resource"

// ErrInvalidTarget is RFC 8707's error for a resource the server does not
// know or cannot issue a token for.
const ErrInvalidTarget = "invalid_target"

// resourceIDs names a resource's aggregate after its identifier, so that
// two registrations of one identifier meet on one aggregate and only the
// first is created.
var resourceIDs = uuid.MustParse("0b8f5d1e-6c2a-4e7b-9a31-5d4c8e2f7a60")

// ResourceID is the id of the resource with this identifier.
func ResourceID(identifier string) string {
	return uuid.NewSHA1(resourceIDs, []byte(identifier)).String()
}

// ResourceRef is the aggregate of the resource with this identifier.
func ResourceRef(identifier string) AggregateRef {
	return AggregateRef{Type: AggregateResource, ID: ResourceID(identifier)}
}

// ResourceSettings are what an administrator sets on a resource.
type ResourceSettings struct {
	Name string `json:"name"`
	// Scopes are the catalog scopes the resource accepts; a token for it
	// carries no other (the built-in OpenID scopes aside).
	Scopes []string `json:"scopes"`
	// AccessTokenLifetime caps (seconds) the lifetime of its tokens.
	AccessTokenLifetime int64 `json:"access_token_lifetime"`
}

// Normalize fills unset settings with their defaults.
func (s *ResourceSettings) Normalize() {
	s.Name = strings.TrimSpace(s.Name)
	s.Scopes = dedupe(nonNil(s.Scopes))
	if s.AccessTokenLifetime == 0 {
		s.AccessTokenLifetime = DefaultAccessTokenLifetime
	}
}

// Validate checks settings against the realm's catalog.
func (s *ResourceSettings) Validate(catalog Catalog) error {
	var problems []string
	if !IsDisplayText(s.Name, 200) {
		problems = append(problems, "name is required (shown at consent): at most 200 characters, one line, no control or format characters")
	}
	for _, sc := range s.Scopes {
		if _, builtin := builtinScopes[sc]; builtin {
			problems = append(problems, fmt.Sprintf("scope %q is a built-in OpenID scope: every resource allows those", sc))
		} else if !catalog.Has(sc) {
			problems = append(problems, fmt.Sprintf("scope %q is not in the realm's scope catalog", sc))
		}
	}
	if s.AccessTokenLifetime < MinAccessTokenLifetime || s.AccessTokenLifetime > MaxAccessTokenLifetime {
		problems = append(problems, fmt.Sprintf("access_token_lifetime must be between %d and %d seconds", MinAccessTokenLifetime, MaxAccessTokenLifetime))
	}
	if len(problems) > 0 {
		return &ValidationError{Field: "resource", Message: strings.Join(problems, "; "), Details: problems}
	}
	return nil
}

// Events of a resource.
type (
	// ResourceCreated registers a protected resource.
	ResourceCreated struct {
		Identifier string `json:"identifier"`
		ResourceSettings
	}
	// ResourceUpdated changes its settings, before and after.
	ResourceUpdated struct {
		Before ResourceSettings `json:"before"`
		After  ResourceSettings `json:"after"`
	}
	// ResourceDeleted removes it: no token is minted for it any more. Its
	// identifier may be registered again.
	ResourceDeleted struct{}
)

const (
	TypeResourceCreated = "resource.created"
	TypeResourceUpdated = "resource.updated"
	TypeResourceDeleted = "resource.deleted"
)

func (ResourceCreated) EventType() string { return TypeResourceCreated }
func (ResourceUpdated) EventType() string { return TypeResourceUpdated }
func (ResourceDeleted) EventType() string { return TypeResourceDeleted }

func init() {
	decoders[TypeResourceCreated] = decodeAs[ResourceCreated]
	decoders[TypeResourceUpdated] = decodeAs[ResourceUpdated]
	decoders[TypeResourceDeleted] = decodeAs[ResourceDeleted]
}

// Resource is a protected resource's state.
type Resource struct {
	ID         string
	Identifier string
	ResourceSettings
	Deleted bool
	Version uint64
}

// Apply folds one of the resource's events.
func (r *Resource) Apply(seq uint64, p Payload) {
	switch e := p.(type) {
	case ResourceCreated:
		*r = Resource{ID: ResourceID(e.Identifier), Identifier: e.Identifier, ResourceSettings: e.ResourceSettings}
	case ResourceUpdated:
		r.ResourceSettings = e.After
	case ResourceDeleted:
		r.Deleted = true
	default:
		return
	}
	r.Version = seq
}

// Live reports whether the resource exists and is not deleted.
func (r *Resource) Live() bool { return r != nil && r.Identifier != "" && !r.Deleted }

// ResourceIdentifierProblem says why a string cannot identify a resource
// (RFC 8707 §2: an absolute URI without a fragment), or "". Identifiers are
// https URLs, or http on a loopback host for development; never user info.
func ResourceIdentifierProblem(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case raw == "" || len(raw) > 2000:
		return "a resource identifier is 1 to 2000 characters"
	case err != nil || !u.IsAbs() || u.Host == "":
		return "a resource identifier is an absolute URI"
	case strings.Contains(raw, "#"):
		return "a resource identifier has no fragment"
	case u.User != nil:
		return "a resource identifier has no user info"
	case portProblem(u) != "":
		return portProblem(u)
	case u.Scheme == "https":
		return ""
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return ""
	}
	return "a resource identifier is an https URL (http only on 127.0.0.1, [::1] or localhost)"
}

// DecideCreateResource registers a resource; cur is the aggregate's state
// (nil or deleted when the identifier is free).
func DecideCreateResource(cur *Resource, identifier string, s ResourceSettings, catalog Catalog) (ResourceCreated, error) {
	if problem := ResourceIdentifierProblem(identifier); problem != "" {
		return ResourceCreated{}, &ValidationError{Field: "identifier", Message: problem}
	}
	if cur.Live() {
		return ResourceCreated{}, &ConflictError{Message: "resource " + identifier + " is registered already"}
	}
	s.Normalize()
	if err := s.Validate(catalog); err != nil {
		return ResourceCreated{}, err
	}
	return ResourceCreated{Identifier: identifier, ResourceSettings: s}, nil
}

// DecideUpdateResource replaces a resource's settings; nil when nothing
// changes.
func DecideUpdateResource(cur *Resource, next ResourceSettings, catalog Catalog) (*ResourceUpdated, error) {
	if !cur.Live() {
		return nil, ErrNotFound
	}
	next.Normalize()
	if err := next.Validate(catalog); err != nil {
		return nil, err
	}
	if next.Name == cur.Name && slices.Equal(next.Scopes, cur.Scopes) && next.AccessTokenLifetime == cur.AccessTokenLifetime {
		return nil, nil
	}
	return &ResourceUpdated{Before: cur.ResourceSettings, After: next}, nil
}

// DecideDeleteResource removes a resource.
func DecideDeleteResource(cur *Resource) (ResourceDeleted, error) {
	if !cur.Live() {
		return ResourceDeleted{}, ErrNotFound
	}
	return ResourceDeleted{}, nil
}

// ResourceLookup finds a live resource by identifier.
type ResourceLookup func(identifier string) (*Resource, bool)

// ResolveResources checks the resource indicators of a request: each must
// be a well-formed identifier of a live resource of the realm
// (invalid_target otherwise). Repeats count once.
func ResolveResources(requested []string, lookup ResourceLookup) ([]*Resource, *OAuthError) {
	var out []*Resource
	for _, id := range requested {
		if problem := ResourceIdentifierProblem(id); problem != "" {
			return nil, &OAuthError{Code: ErrInvalidTarget, Description: problem}
		}
		r, ok := lookup(id)
		if !ok || !r.Live() {
			return nil, &OAuthError{Code: ErrInvalidTarget, Description: "resource " + id + " is not registered in this realm"}
		}
		if !slices.ContainsFunc(out, func(x *Resource) bool { return x.Identifier == id }) {
			out = append(out, r)
		}
	}
	return out, nil
}

// FitScopesToResources keeps a request's scopes within what its resources
// accept (the built-in OpenID scopes always pass). Scopes the client asked
// for explicitly must all fit (invalid_scope otherwise); scopes it got by
// default (it asked for none) are narrowed silently. Without resources,
// the scopes are kept as they are.
func FitScopesToResources(scopes []string, explicit bool, resources []*Resource) ([]string, *OAuthError) {
	if len(resources) == 0 {
		return scopes, nil
	}
	var out []string
	for _, s := range scopes {
		if _, builtin := builtinScopes[s]; builtin || slices.ContainsFunc(resources, func(r *Resource) bool { return slices.Contains(r.Scopes, s) }) {
			out = append(out, s)
		} else if explicit {
			return nil, &OAuthError{Code: ErrInvalidScope, Description: "scope " + s + " is not accepted by the requested resource"}
		}
	}
	return out, nil
}

// PickAudience decides the resource a token is minted for, from the
// resources granted (at authorization) and the one the token request
// names. A token has one audience: with several granted, the request must
// name one. Naming a resource that was not granted is invalid_target, so
// a token request can narrow, never widen. No resource at all: "", the
// realm's own audience.
func PickAudience(granted []string, requested string) (string, *OAuthError) {
	switch {
	case requested != "" && slices.Contains(granted, requested):
		return requested, nil
	case requested != "":
		return "", &OAuthError{Code: ErrInvalidTarget, Description: "resource " + requested + " was not part of the authorization"}
	case len(granted) == 1:
		return granted[0], nil
	case len(granted) > 1:
		return "", &OAuthError{Code: ErrInvalidTarget, Description: "the authorization covers several resources: name one with the resource parameter"}
	}
	return "", nil
}

// ScopeForResource narrows a granted scope to what one resource accepts
// (the built-in OpenID scopes stay).
func ScopeForResource(scope string, r *Resource) string {
	var out []string
	for _, s := range splitScope(scope) {
		if _, builtin := builtinScopes[s]; builtin || slices.Contains(r.Scopes, s) {
			out = append(out, s)
		}
	}
	return joinScope(out)
}

// LifetimeFor caps a client's token lifetime by its resource's (r may be
// nil: no resource).
func LifetimeFor(clientLifetime int64, r *Resource) int64 {
	if r == nil {
		return clientLifetime
	}
	return min(clientLifetime, r.AccessTokenLifetime)
}
