package domain

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// t0 is the fixed "now" of decision tests: time is passed in, never read.
var t0 = time.Unix(1_700_000_000, 0).UTC()

// at is t0 plus a duration.
func at(d time.Duration) time.Time { return t0.Add(d) }

// testTree is a realm's tree:
//
//	acme (organization) ── acme-red, acme-blue (teams), gone (deleted team)
//	beta (organization) ── beta-green (team)
//	old  (deleted organization)
//	proj (project) ──────── proj-app (app)
func testTree() Tree {
	return Tree{
		"acme":       {Slug: "acme", Name: "Acme", Kind: NodeOrganization},
		"acme-red":   {Slug: "acme-red", Name: "Red", Kind: NodeTeam, Parent: "acme"},
		"acme-blue":  {Slug: "acme-blue", Name: "Blue", Kind: NodeTeam, Parent: "acme"},
		"gone":       {Slug: "gone", Name: "Gone", Kind: NodeTeam, Parent: "acme", Deleted: true},
		"beta":       {Slug: "beta", Name: "Beta", Kind: NodeOrganization},
		"beta-green": {Slug: "beta-green", Name: "Green", Kind: NodeTeam, Parent: "beta"},
		"old":        {Slug: "old", Name: "Old", Kind: NodeOrganization, Deleted: true},
		"proj":       {Slug: "proj", Name: "Project", Kind: NodeProject},
		"proj-app":   {Slug: "proj-app", Name: "App", Kind: NodeApp, Parent: "proj"},
	}
}

// testCatalog is a realm's own scopes (the built-in ones come on top).
func testCatalog() Catalog {
	return Catalog{"read": "Read data", "write": "Change data", "management": "Administer"}
}

func testContext() ClientContext { return ClientContext{Catalog: testCatalog(), Tree: testTree()} }

// serviceSettings is a valid, normalized service client.
func serviceSettings() ClientSettings {
	s := ClientSettings{Name: "svc", Scopes: []string{"read", "write"}}
	s.Normalize()
	return s
}

// appSettings is a valid, normalized confidential user_app.
func appSettings() ClientSettings {
	s := ClientSettings{Name: "app", Kind: KindUserApp, Scopes: []string{"read", "profile"},
		RedirectURIs: []string{"https://app.example.com/cb"}}
	s.Normalize()
	return s
}

// publicSettings is a valid, normalized public user_app (a CLI).
func publicSettings() ClientSettings {
	s := ClientSettings{Name: "cli", Type: ClientPublic, Scopes: []string{"read"},
		RedirectURIs: []string{"http://127.0.0.1/cb"}}
	s.Normalize()
	return s
}

// clientOf is an enabled client with settings s.
func clientOf(id string, s ClientSettings) *Client {
	c := &Client{}
	c.Apply(1, ClientCreated{ClientID: id, ClientSettings: s, SecretHash: HashSecret(id + "-secret")})
	return c
}

// wantValidation asserts a *ValidationError on field whose Details are
// exactly details (and whose Message joins them).
func wantValidation(t *testing.T, err error, field string, details ...string) {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error = %v (%T), want a *ValidationError on %q", err, err, field)
	}
	if ve.Field != field {
		t.Errorf("field = %q, want %q", ve.Field, field)
	}
	if len(details) == 1 && ve.Details == nil {
		if ve.Message != details[0] {
			t.Errorf("message = %q\nwant      %q", ve.Message, details[0])
		}
		return
	}
	if !reflect.DeepEqual(ve.Details, details) {
		t.Errorf("details =\n  %q\nwant\n  %q", ve.Details, details)
	}
	if ve.Message != strings.Join(details, "; ") {
		t.Errorf("message %q does not join the details", ve.Message)
	}
}

// wantConflict asserts a *ConflictError with code and message.
func wantConflict(t *testing.T, err error, code, message string) {
	t.Helper()
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("error = %v (%T), want a *ConflictError", err, err)
	}
	if ce.Code != code || ce.Message != message {
		t.Errorf("conflict = {%q, %q}, want {%q, %q}", ce.Code, ce.Message, code, message)
	}
}

// wantOAuth asserts an OAuth error with code and description; code ""
// asserts no error.
func wantOAuth(t *testing.T, got *OAuthError, code, description string) {
	t.Helper()
	switch {
	case code == "" && got != nil:
		t.Fatalf("unexpected OAuth error %v", got)
	case code == "":
	case got == nil:
		t.Fatalf("no OAuth error, want %s: %s", code, description)
	case got.Code != code || got.Description != description:
		t.Errorf("OAuth error = %s: %q, want %s: %q", got.Code, got.Description, code, description)
	}
}

// wantConfirmation checks a refusal that "confirm_high_risk": true would
// lift, whose message starts with prefix.
func wantConfirmation(t *testing.T, err error, prefix string) {
	t.Helper()
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.Code != ErrConfirmationRequired || !strings.HasPrefix(ce.Message, prefix) {
		t.Fatalf("error = %v, want confirmation_required starting %q", err, prefix)
	}
}
