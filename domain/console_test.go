package domain

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestDecideConsoleClient(t *testing.T) {
	withManagement := Catalog{ScopeManagement: "admin"}
	tests := []struct {
		name, publicURL string
		catalog         Catalog
		scopes          []string
		ok              bool
	}{
		{"https", "https://id.example.com", withManagement, []string{ScopeOpenID, ScopeManagement}, true},
		{"loopback http", "http://127.0.0.1:8080", withManagement, []string{ScopeOpenID, ScopeManagement}, true},
		{"realm without management", "https://id.example.com", Catalog{}, []string{ScopeOpenID}, true},
		{"plain http elsewhere", "http://id.example.com", withManagement, nil, false},
	}
	for _, tt := range tests {
		ev, err := DecideConsoleClient(tt.publicURL, "acme", tt.catalog)
		if !tt.ok {
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Errorf("%s: %v, want a validation error", tt.name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if ev.ClientID != ConsoleClientID || ev.Type != ClientPublic || ev.SecretHash != "" || !slices.Equal(ev.Scopes, tt.scopes) ||
			!slices.Equal(ev.RedirectURIs, []string{tt.publicURL + "/console/acme/callback"}) || !ev.IssueRefreshTokens ||
			ev.AccessTokenLifetime != ConsoleAccessTokenLifetime || ev.HighRisk() {
			t.Errorf("%s: %+v", tt.name, ev)
		}
	}
}

func TestConsoleClientIsNeverDeleted(t *testing.T) {
	c := &Client{ID: ConsoleClientID, Status: StatusEnabled}
	_, _, err := DecideDeleteClient(c, time.Now())
	var cerr *ConflictError
	if !errors.As(err, &cerr) {
		t.Fatalf("deleting the console's client: %v, want a conflict", err)
	}
	if _, _, err := DecideDisableClient(c, time.Now(), "off"); err != nil {
		t.Fatalf("disabling the console's client: %v", err)
	}
}
