package handlers

import (
	"net/url"
	"slices"
	"testing"

	"github.com/latchkeyhq/latchkey/domain"
)

// The client form's device, PAR and DPoP boxes become the settings: the
// device grant and required PAR for user-authorized apps only (a service
// client acts as itself: no user to sign in, no browser), DPoP-bound
// tokens for either kind; unticked, they are off.
func TestClientFormCarriesDeviceParAndDPoP(t *testing.T) {
	boxes := url.Values{
		"name": {"cli"}, "access_token_lifetime_value": {"1"}, "access_token_lifetime_unit": {"hours"},
		"device_grant": {"on"}, "require_pushed_authorization_requests": {"on"}, "dpop_bound_access_tokens": {"on"},
	}
	for _, tc := range []struct {
		kind              string
		device, par, dpop bool
	}{
		{domain.KindUserApp, true, true, true},
		{domain.KindService, false, false, true},
	} {
		form := url.Values{"kind": {tc.kind}}
		for k, v := range boxes {
			form[k] = v
		}
		s, err := parseClientForm(form, defaultClientSettings(), false)
		if err != nil {
			t.Fatalf("%s: %v", tc.kind, err)
		}
		if slices.Contains(s.GrantTypes, domain.GrantDeviceCode) != tc.device || s.RequirePAR != tc.par || s.DPoPBoundAccessTokens != tc.dpop {
			t.Errorf("%s: grants %v, PAR %v, DPoP %v; want device %v, PAR %v, DPoP %v", tc.kind, s.GrantTypes, s.RequirePAR, s.DPoPBoundAccessTokens, tc.device, tc.par, tc.dpop)
		}
	}
	s, err := parseClientForm(url.Values{"kind": {domain.KindUserApp}, "name": {"cli"}, "access_token_lifetime_value": {"1"}, "access_token_lifetime_unit": {"hours"}},
		domain.ClientSettings{GrantTypes: []string{domain.GrantAuthorizationCode, domain.GrantDeviceCode}, RequirePAR: true, DPoPBoundAccessTokens: true}, true)
	if err != nil || slices.Contains(s.GrantTypes, domain.GrantDeviceCode) || s.RequirePAR || s.DPoPBoundAccessTokens {
		t.Errorf("boxes unticked: %+v, %v", s, err)
	}
}
