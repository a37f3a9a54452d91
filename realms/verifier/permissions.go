package verifier

import "strings"

// Permissions returns the NATS publish and subscribe allow-lists that let a
// resource server follow one realm's revocation rules and nothing else: it
// may create a consumer on the realm's stream only with the rules subject as
// its filter, pull from its own consumers, and receive on its inbox.
func Permissions(realm string) (publish, subscribe []string) {
	stream := "LK_" + strings.ToUpper(realm)
	return []string{
			"$JS.API.CONSUMER.CREATE." + stream + ".*.lk." + realm + ".revocations",
			"$JS.API.CONSUMER.MSG.NEXT." + stream + ".*",
			"$JS.API.CONSUMER.INFO." + stream + ".*",
			"$JS.API.CONSUMER.DELETE." + stream + ".*",
		}, []string{
			"_INBOX.>",
		}
}
