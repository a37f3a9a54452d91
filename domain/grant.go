package domain

import (
	"slices"
	"strings"
	"time"
)

// Events of codes, grants and browser sessions.
type (
	// CodeIssued records an authorization code by its hash, bound to its
	// client, redirect URI and PKCE challenge.
	CodeIssued struct {
		CodeHash    string   `json:"code_hash"`
		ClientID    string   `json:"client_id"`
		UserID      string   `json:"user_id"`
		RedirectURI string   `json:"redirect_uri"`
		Scope       string   `json:"scope"`
		Challenge   string   `json:"code_challenge,omitempty"`
		Nonce       string   `json:"nonce,omitempty"`
		AuthTime    int64    `json:"auth_time"`
		Teams       []string `json:"teams"`
		SessionID   string   `json:"sid"`
		ExpiresAt   int64    `json:"exp"`
		// FlowID names the authorization request the code completes: a
		// request completes once, however often its forms are posted.
		FlowID string `json:"flow_id,omitempty"`
		// Resources the user authorized access to (RFC 8707).
		Resources []string `json:"resources,omitempty"`
		// DPoPJKT binds the code to a DPoP key (dpop_jkt, RFC 9449 §10):
		// it is redeemed only with a proof of that key.
		DPoPJKT string `json:"dpop_jkt,omitempty"`
	}
	// CodeRedeemed spends a code; the grant it started is named so a second
	// redemption can revoke it.
	CodeRedeemed struct {
		GrantID string `json:"grant_id"`
	}
	// CodeInvalidated spends a code whose redemption failed on a check
	// that binds it to its request (the PKCE verifier, the redirect URI):
	// whoever tried it may have stolen it, so a later correct redemption
	// must fail too (RFC 9700 §4.5, §2.1.1).
	CodeInvalidated struct {
		Reason string `json:"reason"`
	}
	// GrantCreated starts a grant (a refresh-token family): what the user
	// authorized a client to do.
	GrantCreated struct {
		GrantID        string   `json:"grant_id"`
		CodeID         string   `json:"code_id"`
		ClientID       string   `json:"client_id"`
		UserID         string   `json:"user_id"`
		Scope          string   `json:"scope"`
		Teams          []string `json:"teams"`
		SessionID      string   `json:"sid"`
		AuthTime       int64    `json:"auth_time"`
		RefreshHash    string   `json:"refresh_hash,omitempty"`
		RefreshExpires int64    `json:"refresh_exp,omitempty"`
		// Resources the grant's tokens may be minted for (RFC 8707).
		Resources []string `json:"resources,omitempty"`
		// DeviceID names the device authorization the grant came from (the
		// device flow, RFC 8628) instead of a code.
		DeviceID string `json:"device_id,omitempty"`
		// JKT binds a public client's refresh token to the DPoP key it was
		// issued for (RFC 9449 §5): a refresh needs a proof of that key.
		JKT string `json:"jkt,omitempty"`
	}
	// GrantRefreshed rotates the refresh token.
	GrantRefreshed struct {
		RefreshHash    string `json:"refresh_hash"`
		RefreshExpires int64  `json:"refresh_exp"`
		Scope          string `json:"scope"`
	}
	// GrantRevoked revokes a family: its refresh token and the listed
	// access tokens still valid.
	GrantRevoked struct {
		Reason string   `json:"reason"`
		JTIs   []string `json:"jtis"`
	}
	// SessionCreated starts a browser session. The cookie is known only by
	// its hash.
	SessionCreated struct {
		SessionID  string `json:"session_id"`
		UserID     string `json:"user_id"`
		CookieHash string `json:"cookie_hash"`
		Device     string `json:"device"`
		Browser    string `json:"browser"`
		IP         string `json:"ip"`
		ExpiresAt  int64  `json:"expires_at"`
	}
	// SessionTouched records activity, at most once a minute.
	SessionTouched struct {
		At int64 `json:"at"`
	}
	// SessionEnded ends a browser session (logout or revocation).
	SessionEnded struct {
		Reason string `json:"reason"`
	}
)

const (
	TypeCodeIssued      = "code.issued"
	TypeCodeRedeemed    = "code.redeemed"
	TypeCodeInvalidated = "code.invalidated"
	TypeGrantCreated    = "grant.created"
	TypeGrantRefreshed  = "grant.refreshed"
	TypeGrantRevoked    = "grant.revoked"
	TypeSessionCreated  = "session.created"
	TypeSessionTouched  = "session.touched"
	TypeSessionEnded    = "session.ended"
)

func (CodeIssued) EventType() string      { return TypeCodeIssued }
func (CodeRedeemed) EventType() string    { return TypeCodeRedeemed }
func (CodeInvalidated) EventType() string { return TypeCodeInvalidated }
func (GrantCreated) EventType() string    { return TypeGrantCreated }
func (GrantRefreshed) EventType() string  { return TypeGrantRefreshed }
func (GrantRevoked) EventType() string    { return TypeGrantRevoked }
func (SessionCreated) EventType() string  { return TypeSessionCreated }
func (SessionTouched) EventType() string  { return TypeSessionTouched }
func (SessionEnded) EventType() string    { return TypeSessionEnded }

func init() {
	for t, dec := range map[string]func([]byte) (Payload, error){
		TypeCodeIssued: decodeAs[CodeIssued], TypeCodeRedeemed: decodeAs[CodeRedeemed], TypeCodeInvalidated: decodeAs[CodeInvalidated],
		TypeGrantCreated: decodeAs[GrantCreated], TypeGrantRefreshed: decodeAs[GrantRefreshed],
		TypeGrantRevoked: decodeAs[GrantRevoked], TypeSessionCreated: decodeAs[SessionCreated],
		TypeSessionTouched: decodeAs[SessionTouched], TypeSessionEnded: decodeAs[SessionEnded],
	} {
		decoders[t] = dec
	}
}

// Code is an authorization code's state.
type Code struct {
	ID string
	CodeIssued
	Redeemed bool
	GrantID  string
	// Invalidated: a redemption failed on the verifier or the redirect
	// URI; the code is spent without a grant.
	Invalidated bool
	Version     uint64
}

// Apply folds a code's events.
func (c *Code) Apply(seq uint64, p Payload) {
	switch e := p.(type) {
	case CodeIssued:
		c.CodeIssued = e
	case CodeRedeemed:
		c.Redeemed, c.GrantID = true, e.GrantID
	case CodeInvalidated:
		c.Invalidated = true
	default:
		return
	}
	c.Version = seq
}

// Grant is a grant's state: one refresh-token family.
type Grant struct {
	GrantCreated
	// Rotated holds the hashes of refresh tokens already rotated out, with
	// when they were: presenting one again is reuse.
	Rotated []RotatedRefresh
	Revoked bool
	// Created is the sequence of the grant's creation: its teams name the
	// nodes their slugs had then (Tree.Reaches).
	Created uint64
	Version uint64
}

// RotatedRefresh is a refresh token rotated out at a time (Unix ms).
type RotatedRefresh struct {
	Hash string
	AtMs int64
}

// Apply folds a grant's events at event time t.
func (g *Grant) Apply(seq uint64, t time.Time, p Payload) {
	switch e := p.(type) {
	case GrantCreated:
		g.GrantCreated, g.Created = e, seq
	case GrantRefreshed:
		g.Rotated = append(slices.Clone(g.Rotated), RotatedRefresh{Hash: g.RefreshHash, AtMs: t.UnixMilli()})
		g.RefreshHash, g.RefreshExpires, g.Scope = e.RefreshHash, e.RefreshExpires, e.Scope
	case GrantRevoked:
		g.Revoked = true
	default:
		return
	}
	g.Version = seq
}

// RefreshOutcome is what presenting a refresh token means.
type RefreshOutcome int

const (
	RefreshRejected RefreshOutcome = iota // unknown, expired, revoked, other client
	RefreshRotate                         // current token: rotate
	RefreshReuse                          // a rotated-out token: revoke the family
	RefreshRaced                          // rotated out by a request running at the same time
)

// CheckRefresh classifies a presented refresh token (by hash) for a client,
// for a request that began at now. A token rotated out less than grace
// seconds ago counts as current, for clients that lost the response to
// their last refresh. The last token rotated out after this request began
// was spent by a request running at the same time: a race, refused without
// revoking anything. Presented by a request that began later, it is reuse. cutoffSeq is the stream sequence of the latest
// revoke-all of the client or the user (revoke-tokens, disable, delete): a
// refresh token written before it is dead like the access tokens.
func CheckRefresh(g *Grant, clientID, hash string, grace int64, cutoffSeq uint64, now time.Time) RefreshOutcome {
	if g == nil || g.Revoked || g.ClientID != clientID || g.RefreshHash == "" || g.Version < cutoffSeq {
		return RefreshRejected
	}
	if hash == g.RefreshHash {
		if now.Unix() >= g.RefreshExpires {
			return RefreshRejected
		}
		return RefreshRotate
	}
	for i, r := range g.Rotated {
		if r.Hash != hash {
			continue
		}
		switch {
		case r.AtMs >= now.UnixMilli():
			// Rotated out after this request began: a concurrent request
			// won, and this one is no reuse. Decided before the grace, for
			// which the elapsed time would be negative.
			return RefreshRaced
		case i == len(g.Rotated)-1 && now.UnixMilli()-r.AtMs < grace*1000:
			return RefreshRotate
		}
		return RefreshReuse
	}
	return RefreshRejected
}

// NarrowScope checks a refresh request's scope against the grant's: it may
// narrow, never widen. Empty, or only spaces (as for every other grant),
// keeps the grant's scope.
func NarrowScope(granted, requested string) (string, *OAuthError) {
	if strings.Trim(requested, " ") == "" {
		return granted, nil
	}
	req, oerr := parseScope(requested)
	if oerr != nil {
		return "", oerr
	}
	if req.node != "" {
		return "", &OAuthError{Code: ErrInvalidScope, Description: "teams are chosen at consent; tenant: and team: do not apply to a refresh"}
	}
	have := splitScope(granted)
	for _, s := range req.scopes {
		if !slices.Contains(have, s) {
			return "", &OAuthError{Code: ErrInvalidScope, Description: "scope " + s + " was not granted"}
		}
	}
	return joinScope(req.scopes), nil
}

// Session is a browser session's state.
type Session struct {
	SessionCreated
	CreatedAt int64
	// SignedInMs is when the user signed in (Unix milliseconds): step-up
	// (prompt=login, max_age) compares it at sub-second precision.
	SignedInMs int64
	LastActive int64
	Ended      bool
	Version    uint64
}

// Apply folds a session's events at event time t.
func (s *Session) Apply(seq uint64, t time.Time, p Payload) {
	switch e := p.(type) {
	case SessionCreated:
		s.SessionCreated, s.CreatedAt, s.SignedInMs, s.LastActive = e, t.Unix(), t.UnixMilli(), t.Unix()
	case SessionTouched:
		s.LastActive = max(s.LastActive, e.At)
	case SessionEnded:
		s.Ended = true
	default:
		return
	}
	s.Version = seq
}

// Valid reports whether the session can sign requests in at now.
func (s *Session) Valid(now int64) bool { return s != nil && !s.Ended && now < s.ExpiresAt }
