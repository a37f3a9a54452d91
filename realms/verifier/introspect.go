package verifier

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Introspection is the fallback for a stale revocation feed: Latchkey's
// token introspection endpoint (RFC 7662), asked once per token with the
// credentials of a client of the realm.
type Introspection struct {
	// URL defaults to <Issuer>/protocol/openid-connect/token/introspect.
	URL          string
	ClientID     string
	ClientSecret string
}

// introspectTimeout bounds one introspection call: a resource server
// waiting longer would hold its own caller.
const introspectTimeout = 5 * time.Second

// introspect asks whether token is still active: nil when it is,
// ErrRevoked when it is not, ErrStale when there is no clear answer.
func (v *Verifier) introspect(token string) error {
	in := v.cfg.Introspection
	ctx, cancel := context.WithTimeout(context.Background(), introspectTimeout)
	defer cancel()
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.URL, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("%w: introspection: %v", ErrStale, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 §2.3.1: each part form-urlencoded before Basic.
	req.SetBasicAuth(url.QueryEscape(in.ClientID), url.QueryEscape(in.ClientSecret))
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("%w: introspection: %v", ErrStale, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: introspection answered HTTP %d", ErrStale, resp.StatusCode)
	}
	var out struct {
		Active *bool `json:"active"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil || out.Active == nil {
		return fmt.Errorf("%w: introspection answer unreadable", ErrStale)
	}
	if !*out.Active {
		return ErrRevoked
	}
	return nil
}
