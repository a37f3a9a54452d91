package domain

import (
	"strings"
	"time"
)

// Pushed authorization requests (RFC 9126): a client sends its
// authorization request to the server first, authenticated as at the token
// endpoint, and gets a request_uri to send the browser with instead of the
// parameters; nothing of the request travels through the browser, where it
// could be read or changed. Each pushed request is an aggregate,
// par/<id>: pushed, then used once.

// AggregatePushed is the type of a pushed request's aggregate.
const AggregatePushed = "par"

// PushedRef names a pushed request's aggregate.
func PushedRef(id string) AggregateRef { return AggregateRef{Type: AggregatePushed, ID: id} }

// PushedRequestLifetime (seconds): a request_uri must be used this soon.
const PushedRequestLifetime = 60

// RequestURIPrefix starts every request_uri the server makes (RFC 9126 §2.2).
const RequestURIPrefix = "urn:ietf:params:oauth:request_uri:"

// ErrInvalidRequestURI is the error of an unknown, used or expired
// request_uri (OpenID Connect Core §6.2).
const ErrInvalidRequestURI = "invalid_request_uri"

// Events of a pushed request.
type (
	// RequestPushed records a pushed authorization request: its client,
	// its parameters as sent (none of which is a secret: PKCE sends only
	// the challenge), the hash of its request_uri, and until when it may
	// be used. DPoPJKT is the key a DPoP proof sent with it named.
	RequestPushed struct {
		ClientID       string              `json:"client_id"`
		RequestURIHash string              `json:"request_uri_hash"`
		Params         map[string][]string `json:"params"`
		DPoPJKT        string              `json:"dpop_jkt,omitempty"`
		ExpiresAt      int64               `json:"exp"`
	}
	// PushedRequestUsed spends a request_uri: it works once.
	PushedRequestUsed struct{}
)

const (
	TypeRequestPushed     = "par.pushed"
	TypePushedRequestUsed = "par.used"
)

func (RequestPushed) EventType() string     { return TypeRequestPushed }
func (PushedRequestUsed) EventType() string { return TypePushedRequestUsed }

func init() {
	decoders[TypeRequestPushed] = decodeAs[RequestPushed]
	decoders[TypePushedRequestUsed] = decodeAs[PushedRequestUsed]
}

// Pushed is a pushed request's state.
type Pushed struct {
	ID string
	RequestPushed
	Used    bool
	Version uint64
}

// Apply folds a pushed request's events.
func (p *Pushed) Apply(seq uint64, ev Payload) {
	switch e := ev.(type) {
	case RequestPushed:
		p.RequestPushed = e
	case PushedRequestUsed:
		p.Used = true
	default:
		return
	}
	p.Version = seq
}

// UseProblem says why a request_uri (its hash) cannot start an
// authorization for clientID at now, or "": it must be this client's, not
// used and not expired.
func (p *Pushed) UseProblem(clientID, hash string, now time.Time) string {
	switch {
	case p == nil || p.RequestURIHash != hash:
		return "the request_uri is unknown"
	case p.ClientID != clientID:
		return "the request_uri was pushed by another client"
	case p.Used:
		return "the request_uri was used already: push the request again"
	case now.Unix() >= p.ExpiresAt:
		return "the request_uri has expired: push the request again"
	}
	return ""
}

// PushedRequestID reads the id of a request_uri this server made:
// urn:ietf:params:oauth:request_uri:<id>.<secret>.
func PushedRequestID(requestURI string) (string, bool) {
	rest, ok := strings.CutPrefix(requestURI, RequestURIPrefix)
	if !ok {
		return "", false
	}
	id, secret, ok := strings.Cut(rest, ".")
	return id, ok && secret != "" && IsValidName(id)
}

// PARRequired reports whether a client must push its authorization
// requests: its own setting, or the realm's for every client.
func PARRequired(c *Client, realm RealmSettings) bool {
	return c != nil && (c.RequirePAR || realm.RequirePAR)
}
