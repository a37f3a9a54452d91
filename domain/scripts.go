package domain

import (
	"fmt"
	"strings"
	"unicode"
)

// lookalikeScripts are the scripts with letters that pass for one
// another: Latin a, Cyrillic а and Greek α look alike, so "Pаypal" with a
// Cyrillic а reads as Paypal on a consent page. The tables are Unicode's
// Script property, as the standard library carries it.
var lookalikeScripts = []struct {
	name  string
	table *unicode.RangeTable
}{
	{"Latin", unicode.Latin},
	{"Cyrillic", unicode.Cyrillic},
	{"Greek", unicode.Greek},
}

// MixedScripts names the lookalike scripts a name takes letters from when
// it takes them from more than one (UTS #39 mixed-script detection,
// restricted to the scripts that imitate one another); nil otherwise.
// Digits, punctuation and other scripts (a name in Latin and Japanese) do
// not count.
func MixedScripts(name string) []string {
	var found []string
	for _, s := range lookalikeScripts {
		if strings.IndexFunc(name, func(r rune) bool { return unicode.Is(s.table, r) }) >= 0 {
			found = append(found, s.name)
		}
	}
	if len(found) < 2 {
		return nil
	}
	return found
}

// checkNameScripts refuses a name shown to users (a client's, a node's)
// that mixes lookalike scripts unless the caller confirmed it.
func checkNameScripts(what, name string, confirmed bool) error {
	scripts := MixedScripts(name)
	if scripts == nil || confirmed {
		return nil
	}
	return &ConflictError{Code: ErrConfirmationRequired, Message: fmt.Sprintf(
		"%s %q mixes %s letters, which can pass for another name where users see it; send \"confirm_high_risk\": true to keep it",
		what, name, strings.Join(scripts, " and "))}
}
