package domain

import (
	"strconv"
	"strings"
	"testing"
)

func TestIsDisplayText(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"Billing service", true},
		{"Zürich 東京 ✓", true},
		{strings.Repeat("ü", 200), true}, // 400 bytes, 200 characters
		{strings.Repeat("ü", 201), false},
		{"", false},
		{"two\nlines", false},
		{"tab\there", false},
		{"line\u2028separator", false},
		{"para\u2029separator", false},
		{"pay\u202egro.lixe", false}, // right-to-left override
		{"zero\u200bwidth", false},
		{"soft\u00adhyphen", false},
		{"bad \xff utf-8", false},
	} {
		if got := IsDisplayText(tc.s, 200); got != tc.want {
			t.Errorf("IsDisplayText(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

func TestValidateName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"acme", true},
		{"a", true},
		{"0", true},
		{"acme-red-2", true},
		{"3f9c2a1e-7b4d-4c8e-9a6f-0d1e2f3a4b5c", true}, // a lower-case UUID
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a", 64), false},
		{"", false},
		{"-acme", false},
		{"Acme", false},
		{"acme.red", false}, // a NATS subject separator
		{"acme*", false},
		{"acme>", false},
		{"acme red", false},
		{"acme_red", false},
		{"acme\n", false},
		{"äcme", false},
	} {
		err := ValidateName("slug", tc.name)
		if IsValidName(tc.name) != tc.ok || (err == nil) != tc.ok {
			t.Errorf("%q: IsValidName = %v, ValidateName = %v; want valid %v", tc.name, IsValidName(tc.name), err, tc.ok)
			continue
		}
		if !tc.ok {
			wantValidation(t, err, "slug", "slug "+strconv.Quote(tc.name)+` is invalid: use 1 to 63 characters from a-z, 0-9 and '-', starting with a letter or digit`)
		}
	}
}

func TestIsDescriptionText(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"", true},
		{"one line", true},
		{"two\nlines", true},
		{"\n\nblank lines\n", true},
		{strings.Repeat("ü", 20), true},
		{strings.Repeat("ü", 21), false}, // counted in characters, line breaks too
		{strings.Repeat("a\n", 10) + "a", false},
		{"crlf\r\nline", false},
		{"tab\there", false},
		{"bidi\u202eoverride", false},
		{"bad \xff utf-8", false},
	} {
		if got := isDescriptionText(tc.s, 20); got != tc.want {
			t.Errorf("isDescriptionText(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}
