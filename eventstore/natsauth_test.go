package eventstore_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/eventstore/estest"
)

const testNATSPassword = "a-password-of-at-least-32-characters-0001"

// testAuth admits the server user and realm users limited to one subject.
func testAuth(t *testing.T) eventstore.ListenerAuth {
	t.Helper()
	key, err := eventstore.DeriveKey([]byte("0123456789abcdef0123456789abcdef"), eventstore.PurposeNATSRealmUsers)
	if err != nil {
		t.Fatal(err)
	}
	return eventstore.ListenerAuth{
		Password: testNATSPassword,
		RealmKey: key,
		RealmPermissions: func(realm string) ([]string, []string) {
			return []string{"allowed." + realm}, []string{"_INBOX_" + realm + ".>"}
		},
	}
}

func startListening(t *testing.T, cfg eventstore.EmbeddedConfig) *server.Server {
	t.Helper()
	cfg.DataDir = t.TempDir()
	ns, err := eventstore.StartEmbedded(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

func dial(ns *server.Server, opts ...nats.Option) (*nats.Conn, error) {
	nc, err := nats.Connect(ns.ClientURL(), append(opts, nats.Timeout(5*time.Second))...)
	if err == nil {
		// A connection is only proven once the server answered a ping.
		if err = nc.Flush(); err != nil {
			nc.Close()
		}
	}
	return nc, err
}

func TestListenerRequiresCredentials(t *testing.T) {
	auth := testAuth(t)
	ns := startListening(t, eventstore.EmbeddedConfig{ListenAddr: "127.0.0.1:-1", Auth: auth})
	acme := eventstore.RealmPassword(auth.RealmKey, "acme")

	refused := []struct {
		name string
		opts []nats.Option
	}{
		{"no credentials", nil},
		{"wrong password", []nats.Option{nats.UserInfo(eventstore.ServerUser, testNATSPassword+"x")}},
		{"empty password", []nats.Option{nats.UserInfo(eventstore.ServerUser, "")}},
		{"token instead of a user", []nats.Option{nats.Token(testNATSPassword)}},
		{"unknown user", []nats.Option{nats.UserInfo("admin", testNATSPassword)}},
		{"realm user, server password", []nats.Option{nats.UserInfo("rs-acme", testNATSPassword)}},
		{"realm user, another realm's password", []nats.Option{nats.UserInfo("rs-beta", acme)}},
		{"realm user with an invalid realm name", []nats.Option{nats.UserInfo("rs-acme.>", eventstore.RealmPassword(auth.RealmKey, "acme.>"))}},
	}
	for _, tc := range refused {
		nc, err := dial(ns, tc.opts...)
		if err == nil {
			nc.Close()
			t.Errorf("%s: connected", tc.name)
		} else if !errors.Is(err, nats.ErrAuthorization) && !strings.Contains(strings.ToLower(err.Error()), "authorization") {
			t.Errorf("%s: %v, want an authorization error", tc.name, err)
		}
	}

	// The server's own user has full access.
	lk, err := dial(ns, eventstore.ClientOptions(testNATSPassword, "")...)
	if err != nil {
		t.Fatalf("server user: %v", err)
	}
	defer lk.Close()
	sub, err := lk.SubscribeSync("anything.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := lk.Publish("anything.at.all", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.NextMsg(2 * time.Second); err != nil {
		t.Fatalf("server user could not receive its own message: %v", err)
	}

	// A realm user gets its realm's permissions, and only them.
	rs, err := dial(ns, nats.UserInfo("rs-acme", acme))
	if err != nil {
		t.Fatalf("realm user: %v", err)
	}
	defer rs.Close()
	denied := make(chan error, 1)
	rs.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case denied <- err:
		default:
		}
	})
	if err := rs.Publish("anything.at.all", []byte("x")); err != nil {
		t.Fatal(err)
	}
	_ = rs.Flush()
	select {
	case err := <-denied:
		if !errors.Is(err, nats.ErrPermissionViolation) && !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
			t.Fatalf("realm user publishing outside its permissions: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("realm user published outside its permissions without a violation")
	}

	// In-process connections need no credentials.
	in, err := eventstore.ConnectInProcess(ns)
	if err != nil {
		t.Fatalf("in-process: %v", err)
	}
	defer in.Close()
	if err := in.Flush(); err != nil {
		t.Fatal(err)
	}
}

func TestListenerConfigurationIsChecked(t *testing.T) {
	auth := testAuth(t)
	for _, tc := range []struct {
		name string
		cfg  eventstore.EmbeddedConfig
		want error
	}{
		{"every interface without TLS", eventstore.EmbeddedConfig{ListenAddr: "0.0.0.0:-1", Auth: auth}, eventstore.ErrPlainTextListener},
		{"no host without TLS", eventstore.EmbeddedConfig{ListenAddr: ":-1", Auth: auth}, eventstore.ErrPlainTextListener},
		{"IPv6 wildcard without TLS", eventstore.EmbeddedConfig{ListenAddr: "[::]:-1", Auth: auth}, eventstore.ErrPlainTextListener},
		{"a host name without TLS", eventstore.EmbeddedConfig{ListenAddr: "nats.example.com:-1", Auth: auth}, eventstore.ErrPlainTextListener},
		{"no password", eventstore.EmbeddedConfig{ListenAddr: "127.0.0.1:-1"}, nil},
		{"certificate without key", eventstore.EmbeddedConfig{ListenAddr: "127.0.0.1:-1", Auth: auth, TLSCert: "cert.pem"}, nil},
		{"TLS without listener", eventstore.EmbeddedConfig{Auth: auth, TLSCert: "cert.pem", TLSKey: "key.pem"}, nil},
	} {
		tc.cfg.DataDir = t.TempDir()
		ns, err := eventstore.StartEmbedded(tc.cfg)
		if err == nil {
			ns.Shutdown()
			t.Errorf("%s: started", tc.name)
			continue
		}
		if tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}

	// Said out loud, a plain-text listener on every interface starts.
	insecure := eventstore.EmbeddedConfig{ListenAddr: "0.0.0.0:-1", Auth: auth, Insecure: true}
	if !insecure.PlainTextExposed() {
		t.Error("0.0.0.0 without TLS is not reported as exposed")
	}
	ns := startListening(t, insecure)
	nc, err := dial(ns, eventstore.ClientOptions(testNATSPassword, "")...)
	if err != nil {
		t.Fatalf("--nats-insecure listener: %v", err)
	}
	nc.Close()
	for _, addr := range []string{"127.0.0.1:4222", "localhost:4222", "[::1]:4222"} {
		if (eventstore.EmbeddedConfig{ListenAddr: addr}).PlainTextExposed() {
			t.Errorf("%s is reported as exposed", addr)
		}
	}
}

func TestListenerTLS(t *testing.T) {
	certFile, keyFile := estest.WriteCertificate(t)
	auth := testAuth(t)
	// Every interface: allowed without --nats-insecure because of TLS.
	ns := startListening(t, eventstore.EmbeddedConfig{ListenAddr: "0.0.0.0:-1", Auth: auth, TLSCert: certFile, TLSKey: keyFile})
	url := "tls://127.0.0.1:" + portOf(t, ns)

	nc, err := nats.Connect(url, eventstore.ClientOptions(testNATSPassword, certFile)...)
	if err != nil {
		t.Fatalf("TLS with the server user: %v", err)
	}
	defer nc.Close()
	if !nc.TLSRequired() {
		t.Error("the connection does not use TLS")
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// Without the CA the certificate is not trusted; without TLS the
	// server does not talk; TLS does not replace the password.
	for name, opts := range map[string][]nats.Option{
		"untrusted certificate": eventstore.ClientOptions(testNATSPassword, ""),
		"TLS, no password":      eventstore.ClientOptions("", certFile),
	} {
		if nc, err := nats.Connect(url, append(opts, nats.Timeout(3*time.Second))...); err == nil {
			nc.Close()
			t.Errorf("%s: connected", name)
		}
	}
	plain, err := net.DialTimeout("tcp", "127.0.0.1:"+portOf(t, ns), 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	buf := make([]byte, 4096)
	_ = plain.SetDeadline(time.Now().Add(3 * time.Second))
	n, _ := plain.Read(buf)
	if !strings.Contains(string(buf[:n]), `"tls_required":true`) {
		t.Errorf("the server's INFO to a plain client does not require TLS: %s", buf[:n])
	}

	// The in-process connection stays as it was.
	in, err := eventstore.ConnectInProcess(ns)
	if err != nil {
		t.Fatalf("in-process under TLS: %v", err)
	}
	in.Close()
}

func portOf(t *testing.T, ns *server.Server) string {
	t.Helper()
	_, port, err := net.SplitHostPort(ns.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func TestNATSPasswordIsGeneratedOnceAndKeptPrivate(t *testing.T) {
	dir := t.TempDir()
	first, err := eventstore.LoadNATSPassword(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, eventstore.NATSPasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", eventstore.NATSPasswordFile, st.Mode().Perm())
	}
	if len(first) < 32 {
		t.Errorf("generated password %d characters long", len(first))
	}
	again, err := eventstore.LoadNATSPassword(dir, "")
	if err != nil || again != first {
		t.Errorf("second start: %q, %v; want the stored password", again, err)
	}
	if given, err := eventstore.LoadNATSPassword(dir, testNATSPassword); err != nil || given != testNATSPassword {
		t.Errorf("a given password: %q, %v", given, err)
	}
	if _, err := eventstore.LoadNATSPassword(dir, "short"); err == nil {
		t.Error("a short password was accepted")
	}
}

func TestRealmPasswordsDifferByRealmAndKey(t *testing.T) {
	k1, _ := eventstore.DeriveKey([]byte("master key one, 32 bytes long!!!"), eventstore.PurposeNATSRealmUsers)
	k2, _ := eventstore.DeriveKey([]byte("master key two, 32 bytes long!!!"), eventstore.PurposeNATSRealmUsers)
	a, b, c := eventstore.RealmPassword(k1, "acme"), eventstore.RealmPassword(k1, "beta"), eventstore.RealmPassword(k2, "acme")
	if a == b || a == c || a != eventstore.RealmPassword(k1, "acme") {
		t.Errorf("passwords %q %q %q: want stable, and distinct per realm and per master key", a, b, c)
	}
}
