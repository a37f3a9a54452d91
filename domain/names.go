package domain

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// namePattern is the shape of realm names, node slugs and aggregate ids. It
// keeps every name safe inside a NATS subject token: no '.', '*', '>' or
// whitespace, and short enough for stream names. Lower-case UUIDs match it.
var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidateName checks a realm name, slug or aggregate id and says what is
// wrong in words a caller can act on.
func ValidateName(kind, name string) error {
	if namePattern.MatchString(name) {
		return nil
	}
	return &ValidationError{
		Field:   kind,
		Message: fmt.Sprintf("%s %q is invalid: use 1 to 63 characters from a-z, 0-9 and '-', starting with a letter or digit", kind, name),
	}
}

// IsValidName reports whether name fits the realm/slug/id pattern.
func IsValidName(name string) bool { return namePattern.MatchString(name) }

// IsDisplayText reports whether s can be shown to people as one line (a
// client's name on the consent page, a team's or a user's name): 1 to max
// characters (not bytes); no control characters, no line or paragraph
// separators, and no format characters (bidirectional overrides,
// zero-width spaces, soft hyphens), which can make a shown name read as
// another.
func IsDisplayText(s string, max int) bool {
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return false
	}
	for _, r := range s {
		if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) {
			return false
		}
	}
	return true
}

// isDescriptionText is IsDisplayText for longer text that may keep line
// breaks ("\n") between its lines.
func isDescriptionText(s string, max int) bool {
	if utf8.RuneCountInString(s) > max {
		return false
	}
	for line := range strings.SplitSeq(s, "\n") {
		if line != "" && !IsDisplayText(line, max) {
			return false
		}
	}
	return true
}
