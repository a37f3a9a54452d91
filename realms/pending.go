package realms

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
)

// pendingLifetime bounds how long a user may take to sign in and consent.
const pendingLifetime = 15 * time.Minute

// Pending is an authorization request between the authorization endpoint
// and the code: carried by the browser, sealed under the master key, so
// any replica can continue it and nobody can alter it.
type Pending struct {
	Request domain.AuthRequest `json:"r"`
	// FlowID names this authorization request; its code carries it, and
	// a form of a request already completed is refused.
	FlowID string   `json:"f"`
	Scopes []string `json:"s"`
	// CSRF must equal the browser's CSRF cookie on every form post.
	CSRF string `json:"c"`
	// SignInAfterMs (Unix milliseconds), when set, requires a session
	// signed in after it: prompt=login and an exceeded max_age ask for that.
	SignInAfterMs int64 `json:"a,omitempty"`
	ExpiresAt     int64 `json:"e"`
	// ShownTo and ShownPreset are set when the consent page is shown: the
	// user it named and the access it described. An approval counts only
	// for that user and that access; otherwise the page is shown again.
	ShownTo     string `json:"u,omitempty"`
	ShownPreset string `json:"p,omitempty"`
	// DeviceID, when set, makes this the verification of a device
	// authorization (RFC 8628) instead of a code flow: consent approves
	// the device, and UserCode is the code the user typed, shown again.
	DeviceID string `json:"d,omitempty"`
	UserCode string `json:"dc,omitempty"`
}

// SealPending seals a pending request for this realm.
func (gs Grants) SealPending(p Pending, now time.Time) (string, error) {
	rl := gs.rl
	p.ExpiresAt = now.Add(pendingLifetime).Unix()
	raw, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	return rl.reg.keys.seal("pending:"+rl.Name, raw)
}

// ErrPendingInvalid: the pending request was altered, is another realm's,
// or expired.
var ErrPendingInvalid = errors.New("the sign-in request is invalid or expired; start again from the application")

// OpenPending unseals a pending request of this realm.
func (gs Grants) OpenPending(sealed string, now time.Time) (Pending, error) {
	rl := gs.rl
	raw, err := rl.reg.keys.unseal("pending:"+rl.Name, sealed)
	if err != nil {
		return Pending{}, ErrPendingInvalid
	}
	var p Pending
	if json.Unmarshal(raw, &p) != nil || now.Unix() >= p.ExpiresAt {
		return Pending{}, ErrPendingInvalid
	}
	return p, nil
}
