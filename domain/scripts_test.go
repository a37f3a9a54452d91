package domain

import (
	"slices"
	"testing"
)

func TestMixedScripts(t *testing.T) {
	for _, tc := range []struct {
		name string
		want []string
	}{
		{"Acme Corporation", nil},
		{"Кириллица", nil},          // one script
		{"Αθήνα", nil},              // one script
		{"Acme 株式会社", nil},          // Latin with a script that imitates none
		{"App 2.0 (beta) — ©", nil}, // digits and punctuation are no script
		{"", nil},
		{"Pаypal", []string{"Latin", "Cyrillic"}},         // Cyrillic а
		{"Αcme", []string{"Latin", "Greek"}},              // Greek Alpha
		{"Ѕсоре", nil},                                    // all Cyrillic lookalikes: one script
		{"Σ Кл", []string{"Cyrillic", "Greek"}},           // Cyrillic with Greek
		{"Aα Кк", []string{"Latin", "Cyrillic", "Greek"}}, // all three
	} {
		if got := MixedScripts(tc.name); !slices.Equal(got, tc.want) {
			t.Errorf("MixedScripts(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestClientNamesMixingScriptsNeedConfirmation(t *testing.T) {
	s := appSettings()
	s.Name = "Gіthub" // Cyrillic і
	if _, _, err := DecideCreateClient("app", s, "h", false, testContext()); err == nil {
		t.Fatal("a client named in Latin and Cyrillic was created without confirmation")
	} else {
		wantConfirmation(t, err, `client name "Gіthub" mixes Latin and Cyrillic letters`)
	}
	if _, _, err := DecideCreateClient("app", s, "h", true, testContext()); err != nil {
		t.Fatalf("confirmed: %v", err)
	}
	// A rename into mixed scripts needs it; other edits of a client already
	// named so do not.
	c := clientOf("app", appSettings())
	if _, _, err := DecideUpdateClient(c, s, false, testContext()); err == nil {
		t.Fatal("a rename into mixed scripts went through without confirmation")
	}
	named := clientOf("app", s)
	other := s
	other.Description = "changed"
	if _, _, err := DecideUpdateClient(named, other, false, testContext()); err != nil {
		t.Fatalf("an edit that keeps the confirmed name: %v", err)
	}
}
