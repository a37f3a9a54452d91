package eventstore

import (
	"strings"

	"github.com/latchkeyhq/latchkey/domain"
)

// subjectPrefix starts every Latchkey subject.
const subjectPrefix = "lk."

// StreamName is the realm's stream: LK_<REALM>. Realm names are lower-case
// by validation, so upper-casing cannot make two realms collide.
func StreamName(realm string) string { return "LK_" + strings.ToUpper(realm) }

// realmFromStream inverts StreamName.
func realmFromStream(stream string) (string, bool) {
	name, ok := strings.CutPrefix(stream, "LK_")
	if !ok {
		return "", false
	}
	realm := strings.ToLower(name)
	return realm, domain.IsValidName(realm)
}

// RealmSubjects is the wildcard a realm's stream captures.
func RealmSubjects(realm string) string { return subjectPrefix + realm + ".>" }

// Subject is where an event is stored: lk.<realm>.<type>.<id>.<name>.
// An event of the aggregate's own type drops the prefix
// ("client.created" → "...client.<id>.created"). Any other event keeps its
// dotted type, one level deeper ("token.issued" → "...client.<id>.token.issued"),
// so high-volume token events stay under their client but outside the
// client's own-events wildcard and never collide with its version checks.
func Subject(realm string, agg domain.AggregateRef, eventType string) string {
	name, own := strings.CutPrefix(eventType, agg.Type+".")
	if !own {
		name = eventType
	}
	return subjectPrefix + realm + "." + agg.Type + "." + agg.ID + "." + name
}

// OwnEventsSubject matches an aggregate's own events: the subject its
// optimistic-concurrency version is taken from.
func OwnEventsSubject(realm string, agg domain.AggregateRef) string {
	return subjectPrefix + realm + "." + agg.Type + "." + agg.ID + ".*"
}

// validateTarget refuses names that would break a subject before any
// message is built.
func validateTarget(realm string, agg domain.AggregateRef) error {
	if err := domain.ValidateName("realm name", realm); err != nil {
		return err
	}
	if err := domain.ValidateName("aggregate type", agg.Type); err != nil {
		return err
	}
	return domain.ValidateName("aggregate id", agg.ID)
}
