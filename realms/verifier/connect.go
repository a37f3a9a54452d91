package verifier

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/nats-io/nats.go"
)

// Credentials are a resource server's NATS user for one realm: on
// Latchkey's embedded listener, what `latchkey nats-credentials --realm
// <realm>` prints (JSON); on a NATS cluster, its nats.conf user (see
// deploy/nats/nats.conf).
type Credentials struct {
	User     string `json:"user"`
	Password string `json:"password"`
	// InboxPrefix is InboxPrefix(realm), for clients in other languages.
	InboxPrefix string `json:"inbox_prefix,omitempty"`
}

// LoadCredentials reads Credentials from a JSON file.
func LoadCredentials(path string) (Credentials, error) {
	var c Credentials
	raw, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, fmt.Errorf("verifier: credentials in %s: %w", path, err)
	}
	if c.User == "" || c.Password == "" {
		return c, fmt.Errorf("verifier: credentials in %s lack a user or password", path)
	}
	return c, nil
}

// Connect opens the NATS connection a resource server of realm needs: as
// its realm's user, with replies on InboxPrefix(realm) (the only inbox its
// permissions let it read), reconnecting without end. opts add to these,
// e.g. nats.RootCAs for a server certificate of a private CA.
func Connect(url, realm string, creds Credentials, opts ...nats.Option) (*nats.Conn, error) {
	base := []nats.Option{nats.MaxReconnects(-1), nats.CustomInboxPrefix(InboxPrefix(realm))}
	if creds.User != "" {
		base = append(base, nats.UserInfo(creds.User, creds.Password))
	}
	return nats.Connect(url, append(base, opts...)...)
}
