package domain

import (
	"reflect"
	"strings"
	"testing"
)

func TestCatalog(t *testing.T) {
	c := Catalog{"read": "Read data", "billing": "See invoices"}
	for _, tc := range []struct {
		scope string
		has   bool
		desc  string
	}{
		{"openid", true, "Sign you in with your identity"},
		{"offline_access", true, "Keep access while you are away (refresh tokens)"},
		{"read", true, "Read data"},
		{"write", false, ""},
		{"management", false, ""}, // defined per realm, not built in
	} {
		if c.Has(tc.scope) != tc.has || c.Describe(tc.scope) != tc.desc {
			t.Errorf("%s: Has = %v, Describe = %q; want %v, %q", tc.scope, c.Has(tc.scope), c.Describe(tc.scope), tc.has, tc.desc)
		}
	}
	want := []ScopeEntry{
		{"email", "Read your email address", true},
		{"offline_access", "Keep access while you are away (refresh tokens)", true},
		{"openid", "Sign you in with your identity", true},
		{"profile", "Read your name and profile", true},
		{"billing", "See invoices", false},
		{"read", "Read data", false},
	}
	if got := c.List(); !reflect.DeepEqual(got, want) {
		t.Errorf("List =\n  %+v\nwant\n  %+v", got, want)
	}
	if got := Catalog(nil).List(); len(got) != 4 {
		t.Errorf("an empty catalog lists %d scopes, want the 4 built-in ones", len(got))
	}
}

func TestDecideDefineScope(t *testing.T) {
	nameRule := func(name string) string {
		return `scope name "` + name + `" is not a valid scope token (RFC 6749 §3.3), or is reserved`
	}
	const descRule = "description is required (shown at consent): at most 500 characters, one line, no control or format characters"
	for _, tc := range []struct {
		name string
		in   ScopeDefined
		err  func(*testing.T, error)
	}{
		{name: "a new scope", in: ScopeDefined{Name: "billing:read", Description: "Read invoices"}},
		{name: "a default scope redescribed", in: ScopeDefined{Name: "management", Description: "Run this realm"}},
		{name: "a name of 100 characters", in: ScopeDefined{Name: strings.Repeat("s", 100), Description: "d"}},
		{name: "a description of 500 characters", in: ScopeDefined{Name: "s", Description: strings.Repeat("ä", 500)}},

		{name: "no name", in: ScopeDefined{Name: "", Description: "d"},
			err: func(t *testing.T, err error) { wantValidation(t, err, "name", nameRule("")) }},
		{name: "a name with a space", in: ScopeDefined{Name: "a b", Description: "d"},
			err: func(t *testing.T, err error) { wantValidation(t, err, "name", nameRule("a b")) }},
		{name: "a name beyond ASCII", in: ScopeDefined{Name: "lesen:äpfel", Description: "d"},
			err: func(t *testing.T, err error) { wantValidation(t, err, "name", nameRule("lesen:äpfel")) }},
		{name: "a name of 101 characters", in: ScopeDefined{Name: strings.Repeat("s", 101), Description: "d"},
			err: func(t *testing.T, err error) { wantValidation(t, err, "name", nameRule(strings.Repeat("s", 101))) }},
		{name: "a tenant: scope is reserved", in: ScopeDefined{Name: "tenant:acme", Description: "d"},
			err: func(t *testing.T, err error) { wantValidation(t, err, "name", nameRule("tenant:acme")) }},
		{name: "a team: scope is reserved", in: ScopeDefined{Name: "team:", Description: "d"},
			err: func(t *testing.T, err error) { wantValidation(t, err, "name", nameRule("team:")) }},
		{name: "a built-in scope", in: ScopeDefined{Name: "openid", Description: "d"},
			err: func(t *testing.T, err error) { wantConflict(t, err, "", "openid is a built-in scope") }},
		{name: "a built-in scope without description: the conflict first", in: ScopeDefined{Name: "email"},
			err: func(t *testing.T, err error) { wantConflict(t, err, "", "email is a built-in scope") }},
		{name: "no description", in: ScopeDefined{Name: "billing"},
			err: func(t *testing.T, err error) { wantValidation(t, err, "description", descRule) }},
		{name: "a description of 501 characters", in: ScopeDefined{Name: "billing", Description: strings.Repeat("d", 501)},
			err: func(t *testing.T, err error) { wantValidation(t, err, "description", descRule) }},
		{name: "a description on two lines", in: ScopeDefined{Name: "billing", Description: "a\nb"},
			err: func(t *testing.T, err error) { wantValidation(t, err, "description", descRule) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecideDefineScope(tc.in)
			if tc.err != nil {
				tc.err(t, err)
				if got != (ScopeDefined{}) {
					t.Errorf("a refused definition returned %+v", got)
				}
				return
			}
			if err != nil || got != tc.in {
				t.Fatalf("DecideDefineScope = %+v, %v", got, err)
			}
		})
	}
}

func TestDecideRemoveScope(t *testing.T) {
	c := testCatalog()
	for _, tc := range []struct {
		name   string
		scope  string
		usedBy []string
		err    func(*testing.T, error)
	}{
		{name: "an unused scope", scope: "write"},
		{name: "a built-in scope", scope: "profile",
			err: func(t *testing.T, err error) { wantConflict(t, err, "", "profile is a built-in scope") }},
		{name: "no such scope", scope: "billing", err: func(t *testing.T, err error) { wantIs(t, err, ErrNotFound) }},
		{name: "a scope clients hold: they are named, sorted", scope: "read", usedBy: []string{"svc-b", "svc-a"},
			err: func(t *testing.T, err error) {
				wantConflict(t, err, "", "scope read is still given to clients [svc-a svc-b]")
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecideRemoveScope(c, tc.scope, tc.usedBy)
			if tc.err != nil {
				tc.err(t, err)
				return
			}
			if err != nil || got != (ScopeRemoved{Name: tc.scope}) {
				t.Fatalf("DecideRemoveScope = %+v, %v", got, err)
			}
		})
	}
}
