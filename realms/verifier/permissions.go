package verifier

import "strings"

// InboxPrefix is the reply-subject prefix a resource server of realm must
// connect with (nats.CustomInboxPrefix): its permissions let it receive
// only there, never on the shared _INBOX.> where Latchkey's own replies
// (other realms' events among them) travel.
func InboxPrefix(realm string) string { return "_INBOX_LK_" + strings.ToUpper(realm) }

// Permissions returns the NATS publish and subscribe allow-lists that let a
// resource server follow one realm's revocation rules and nothing else: it
// may create a consumer on the realm's stream only with the rules subject as
// its filter, pull from its own consumers, and receive on its realm's inbox
// prefix.
func Permissions(realm string) (publish, subscribe []string) {
	stream := "LK_" + strings.ToUpper(realm)
	return []string{
			"$JS.API.CONSUMER.CREATE." + stream + ".*.lk." + realm + ".revocations",
			"$JS.API.CONSUMER.MSG.NEXT." + stream + ".*",
			"$JS.API.CONSUMER.INFO." + stream + ".*",
			"$JS.API.CONSUMER.DELETE." + stream + ".*",
		}, []string{
			InboxPrefix(realm) + ".>",
		}
}
