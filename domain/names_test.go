package domain

import (
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
