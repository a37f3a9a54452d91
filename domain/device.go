package domain

import (
	"io"
	"strings"
	"time"
)

// The device authorization grant (RFC 8628): a device that has no browser
// of its own, or no keyboard (a CLI on a server, a wall display), asks for
// a device code and a short user code; the user enters the user code on
// another screen, signs in and consents; the device polls the token
// endpoint with its device code until the answer is there. Each request
// is an aggregate, device/<id>: requested, then approved or denied by one
// user, then redeemed once.

// AggregateDevice is the type of a device authorization's aggregate.
const AggregateDevice = "device"

// DeviceRef names a device authorization's aggregate.
func DeviceRef(id string) AggregateRef { return AggregateRef{Type: AggregateDevice, ID: id} }

// Bounds of the device flow (RFC 8628 §3.2, §3.5): a device code lives 10
// minutes; the device polls every 5 seconds at first, and each poll that
// comes too soon (slow_down) adds 5 seconds to that code's interval, for
// good.
const (
	DeviceCodeLifetime = 600
	DeviceInterval     = 5
	DeviceSlowDown     = 5
	// devicePollLeeway forgives a poll that comes this much early: the
	// interval is counted between arrivals, and networks jitter.
	devicePollLeeway = time.Second
)

// Error codes of the device flow's token requests (RFC 8628 §3.5).
const (
	ErrAuthorizationPending = "authorization_pending"
	ErrSlowDown             = "slow_down"
	ErrAccessDenied         = "access_denied"
	ErrExpiredToken         = "expired_token"
)

// Events of a device authorization.
type (
	// DeviceRequested starts a device authorization: the client, what it
	// asks for, and its codes, known by their hashes only.
	DeviceRequested struct {
		ClientID       string   `json:"client_id"`
		DeviceCodeHash string   `json:"device_code_hash"`
		UserCodeHash   string   `json:"user_code_hash"`
		Scope          string   `json:"scope"`
		Resources      []string `json:"resources,omitempty"`
		ExpiresAt      int64    `json:"exp"`
		Interval       int64    `json:"interval"`
	}
	// DeviceApproved records the user who approved it, from which browser
	// session, and the teams chosen at consent.
	DeviceApproved struct {
		UserID    string   `json:"user_id"`
		Scope     string   `json:"scope"`
		Teams     []string `json:"teams"`
		SessionID string   `json:"sid"`
		AuthTime  int64    `json:"auth_time"`
	}
	// DeviceDenied records the user who refused it.
	DeviceDenied struct {
		UserID string `json:"user_id"`
	}
	// DeviceRedeemed spends the device code for the grant it started.
	DeviceRedeemed struct {
		GrantID string `json:"grant_id"`
	}
)

const (
	TypeDeviceRequested = "device.requested"
	TypeDeviceApproved  = "device.approved"
	TypeDeviceDenied    = "device.denied"
	TypeDeviceRedeemed  = "device.redeemed"
)

func (DeviceRequested) EventType() string { return TypeDeviceRequested }
func (DeviceApproved) EventType() string  { return TypeDeviceApproved }
func (DeviceDenied) EventType() string    { return TypeDeviceDenied }
func (DeviceRedeemed) EventType() string  { return TypeDeviceRedeemed }

func init() {
	decoders[TypeDeviceRequested] = decodeAs[DeviceRequested]
	decoders[TypeDeviceApproved] = decodeAs[DeviceApproved]
	decoders[TypeDeviceDenied] = decodeAs[DeviceDenied]
	decoders[TypeDeviceRedeemed] = decodeAs[DeviceRedeemed]
}

// DeviceStatus is where a device authorization stands.
type DeviceStatus string

const (
	DevicePending  DeviceStatus = "pending"
	DeviceApproval DeviceStatus = "approved"
	DeviceDenial   DeviceStatus = "denied"
	DeviceSpent    DeviceStatus = "redeemed"
)

// Device is a device authorization's state.
type Device struct {
	ID string
	DeviceRequested
	Status   DeviceStatus
	Approval DeviceApproved
	GrantID  string
	Version  uint64
}

// Apply folds a device authorization's events.
func (d *Device) Apply(seq uint64, p Payload) {
	switch e := p.(type) {
	case DeviceRequested:
		d.DeviceRequested, d.Status = e, DevicePending
	case DeviceApproved:
		d.Status, d.Approval = DeviceApproval, e
	case DeviceDenied:
		d.Status = DeviceDenial
	case DeviceRedeemed:
		d.Status, d.GrantID = DeviceSpent, e.GrantID
	default:
		return
	}
	d.Version = seq
}

func deviceError(code, desc string) *OAuthError { return &OAuthError{Code: code, Description: desc} }

// PollProblem is the answer to a device's poll for its tokens at now when
// it is not the tokens (RFC 8628 §3.5), or nil when the device may have
// them: approved, not yet redeemed, not expired. A code of another client
// is unknown to this one.
func (d *Device) PollProblem(clientID string, now time.Time) *OAuthError {
	switch {
	case d == nil || d.ClientID != clientID:
		return invalidGrantError("unknown device code")
	case d.Status == DeviceSpent:
		return invalidGrantError("the device code was already used")
	case now.Unix() >= d.ExpiresAt:
		return deviceError(ErrExpiredToken, "the device code has expired; start again")
	case d.Status == DeviceDenial:
		return deviceError(ErrAccessDenied, "the user denied access")
	case d.Status == DevicePending:
		return deviceError(ErrAuthorizationPending, "the user has not answered yet")
	}
	return nil
}

func invalidGrantError(desc string) *OAuthError {
	return &OAuthError{Code: ErrInvalidGrant, Description: desc}
}

// ErrDeviceAnswered: the user code was approved or denied already, or has
// expired: it works once.
var ErrDeviceAnswered = &ConflictError{Code: "device_answered", Message: "this code was already used, or has expired: start again on the device"}

// DecideDeviceAnswer records a user's answer to a device authorization at
// now: allowed while it is pending and unexpired, once.
func DecideDeviceAnswer(d *Device, answer Payload, now time.Time) (Payload, error) {
	if d == nil || d.Status != DevicePending || now.Unix() >= d.ExpiresAt {
		return nil, ErrDeviceAnswered
	}
	return answer, nil
}

// DevicePolls is a device code's polling, as the store every replica
// shares holds it: when it last polled (Unix ms) and its interval
// (seconds), which slow_down raises for good.
type DevicePolls struct {
	LastMs   int64 `json:"l"`
	Interval int64 `json:"i"`
}

// Poll records a poll at now of a device code whose interval started at
// base: the polling as it stands after it, and whether it came too soon
// (then the interval grows by DeviceSlowDown, and the answer is
// slow_down).
func (p DevicePolls) Poll(base int64, now time.Time) (DevicePolls, bool) {
	if p.Interval < base {
		p.Interval = base
	}
	tooSoon := p.LastMs != 0 && now.UnixMilli()-p.LastMs < p.Interval*1000-devicePollLeeway.Milliseconds()
	if tooSoon {
		p.Interval += DeviceSlowDown
	}
	p.LastMs = now.UnixMilli()
	return p, tooSoon
}

// User codes (RFC 8628 §6.1): 8 characters of 20 consonants, which read
// without ambiguity and spell no words, shown as WDJB-MJHT; about 34.5
// bits, guarded by the limits on wrong entries.
const (
	UserCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"
	userCodeLength   = 8
)

// NewUserCode draws a user code from random bytes, without bias.
func NewUserCode(random io.Reader) (string, error) {
	out := make([]byte, 0, userCodeLength)
	var b [16]byte
	for len(out) < userCodeLength {
		if _, err := io.ReadFull(random, b[:]); err != nil {
			return "", err
		}
		for _, c := range b {
			// 240 is the largest multiple of 20 below 256: above it, the
			// remainder would favour the first letters.
			if c < 240 && len(out) < userCodeLength {
				out = append(out, UserCodeAlphabet[int(c)%len(UserCodeAlphabet)])
			}
		}
	}
	return string(out), nil
}

// FormatUserCode shows a user code as two groups of four: WDJB-MJHT.
func FormatUserCode(code string) string {
	if len(code) != userCodeLength {
		return code
	}
	return code[:4] + "-" + code[4:]
}

// NormalizeUserCode reads a user code as a person types it: case, dashes
// and spaces do not matter. ok is false for anything that cannot be one.
func NormalizeUserCode(typed string) (string, bool) {
	var b strings.Builder
	for _, r := range strings.ToUpper(typed) {
		switch {
		case r == '-' || r == ' ':
		case strings.ContainsRune(UserCodeAlphabet, r):
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	code := b.String()
	return code, len(code) == userCodeLength
}

// DeviceScopes checks a device authorization request of a client: the
// client must hold the device grant, and the scope is read as at the
// authorization endpoint (teams are chosen at consent). It returns the
// scopes asked for.
func DeviceScopes(c *Client, scope string) ([]string, *OAuthError) {
	if !c.Allows(GrantDeviceCode) {
		return nil, &OAuthError{Code: ErrUnauthorizedClient, Description: "client is not allowed the device grant (" + GrantDeviceCode + ")"}
	}
	req, oerr := parseScope(scope)
	if oerr != nil {
		return nil, oerr
	}
	if req.node != "" {
		return nil, &OAuthError{Code: ErrInvalidScope, Description: "teams are chosen at consent, not with tenant:/team: scopes"}
	}
	return grantScopes(req.scopes, c.Scopes, c.OptionalScopes)
}
