package eventstore

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/latchkeyhq/latchkey/domain"
)

// ServerUser is Latchkey's own NATS user on the embedded listener: full
// access, for other Latchkey processes (replay, a replica) that connect
// over TCP.
const ServerUser = "latchkey"

// realmUserPrefix starts the NATS user of a realm's resource servers:
// rs-<realm>.
const realmUserPrefix = "rs-"

// NATSPasswordFile is the file under the data directory that holds
// ServerUser's password when none is given.
const NATSPasswordFile = "nats-password"

// minNATSPasswordLen is the shortest password accepted for ServerUser: the
// listener may face a network, and nothing slows down guessing there.
const minNATSPasswordLen = 32

// RealmUser is the NATS user of realm's resource servers.
func RealmUser(realm string) string { return realmUserPrefix + realm }

// ListenerAuth says who may connect to the embedded server over TCP.
// In-process connections (ConnectInProcess) need no credentials: only code
// holding the *server.Server can open one.
type ListenerAuth struct {
	// Password of ServerUser.
	Password string
	// RealmKey derives the password of each realm's user (RealmPassword):
	// DeriveKey(master key, PurposeNATSRealmUsers), so that whoever holds
	// the master key can hand a realm's password out again. nil admits no
	// realm user.
	RealmKey []byte
	// RealmPermissions is what a realm's user may publish and subscribe
	// to (realms/verifier.Permissions); nothing else is allowed.
	RealmPermissions func(realm string) (publish, subscribe []string)
}

// RealmPassword is the password of RealmUser(realm).
func RealmPassword(realmKey []byte, realm string) string {
	mac := hmac.New(sha256.New, realmKey)
	mac.Write([]byte(realm))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// LoadNATSPassword returns ServerUser's password: given (from a flag or
// the environment; at least 32 characters), else the one in
// <dataDir>/nats-password, created (0600) with a random one at first use.
func LoadNATSPassword(dataDir, given string) (string, error) {
	if given != "" {
		if len(given) < minNATSPasswordLen {
			return "", fmt.Errorf("the NATS password must be at least %d characters long", minNATSPasswordLen)
		}
		return given, nil
	}
	path := filepath.Join(dataDir, NATSPasswordFile)
	raw, err := os.ReadFile(path)
	if err == nil {
		pw := strings.TrimSpace(string(raw))
		if len(pw) < minNATSPasswordLen {
			return "", fmt.Errorf("%s: the NATS password must be at least %d characters long", path, minNATSPasswordLen)
		}
		return pw, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	pw := base64.RawURLEncoding.EncodeToString(buf) // URL-safe: it may go into nats:// URLs
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	if _, err := f.WriteString(pw + "\n"); err != nil {
		f.Close()
		return "", err
	}
	return pw, f.Close()
}

// listenerAuth is the embedded server's Authentication: it admits
// in-process connections, ServerUser with its password, and rs-<realm>
// with its realm's password and permissions.
type listenerAuth struct{ ListenerAuth }

func (a listenerAuth) Check(c server.ClientAuthentication) bool {
	if c.Kind() != server.CLIENT {
		return false
	}
	if inProcess(c) {
		c.RegisterUser(&server.User{Username: ServerUser})
		return true
	}
	o := c.GetOpts()
	if o.Username == ServerUser {
		if a.Password == "" || !samePassword(o.Password, a.Password) {
			return false
		}
		c.RegisterUser(&server.User{Username: ServerUser})
		return true
	}
	realm, ok := strings.CutPrefix(o.Username, realmUserPrefix)
	if !ok || !domain.IsValidName(realm) || a.RealmKey == nil || a.RealmPermissions == nil ||
		!samePassword(o.Password, RealmPassword(a.RealmKey, realm)) {
		return false
	}
	pub, sub := a.RealmPermissions(realm)
	c.RegisterUser(&server.User{Username: o.Username, Permissions: &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: pub},
		Subscribe: &server.SubjectPermission{Allow: sub},
	}})
	return true
}

// inProcess reports a connection made by ConnectInProcess: nats-server
// serves those over net.Pipe, whose address no TCP client can have.
func inProcess(c server.ClientAuthentication) bool {
	addr := c.RemoteAddress()
	return addr != nil && addr.Network() == "pipe"
}

// samePassword compares in constant time, whatever the lengths.
func samePassword(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return hmac.Equal(g[:], w[:])
}

// isLoopback reports whether a listen host accepts only local clients.
// An empty host or a wildcard listens everywhere; a name other than
// localhost is not trusted to stay local.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ClientOptions authenticate a Latchkey process to a NATS server: as
// ServerUser with password when set (a user in the URL wins), trusting
// the CA in caFile when set (a server certificate not signed by a public
// CA).
func ClientOptions(password, caFile string) []nats.Option {
	var opts []nats.Option
	if password != "" {
		opts = append(opts, nats.UserInfo(ServerUser, password))
	}
	if caFile != "" {
		opts = append(opts, nats.RootCAs(caFile))
	}
	return opts
}
