package realms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// BootstrapClientID is the admin client created on first start.
const BootstrapClientID = "latchkey-admin"

// BootstrapFile holds a generated admin secret under the data dir (0600).
const BootstrapFile = "bootstrap-admin.json"

// MinBootstrapSecretLen is the shortest admin secret accepted from the
// environment (LATCHKEY_BOOTSTRAP_CLIENT_SECRET), in characters: the secret
// holds management rights over every realm, and a generated one has 43.
const MinBootstrapSecretLen = 32

// CheckBootstrapSecret refuses an admin secret given for the first start
// that is too short to resist guessing; "" (generate one) is fine.
func CheckBootstrapSecret(secret string) error {
	if n := utf8.RuneCountInString(secret); secret != "" && n < MinBootstrapSecretLen {
		return fmt.Errorf("LATCHKEY_BOOTSTRAP_CLIENT_SECRET has %d characters; it must have at least %d (or leave it unset: a random secret is generated and written to %s); it is used only when the admin client is first created", n, MinBootstrapSecretLen, BootstrapFile)
	}
	return nil
}

// BootstrapAdminUser is the first administrator of realm master.
const BootstrapAdminUser = "admin"

// BootstrapSecrets are what the operator may give the first start; an
// empty one is generated and written to <dataDir>/bootstrap-admin.json.
type BootstrapSecrets struct {
	ClientSecret  string // the admin client's
	AdminPassword string // the admin user's
}

// Bootstrapped says what a start created.
type Bootstrapped struct {
	ClientID string `json:"client_id,omitempty"`
	// Secret is set only when it was generated (not taken from the
	// environment): the caller prints it once.
	Secret        string `json:"client_secret,omitempty"`
	TokenEndpoint string `json:"token_endpoint,omitempty"`
	// AdminUsername is set when the first administrator was created; its
	// password only when it was generated.
	AdminUsername string `json:"admin_username,omitempty"`
	AdminPassword string `json:"admin_password,omitempty"`
	ConsoleURL    string `json:"console_url,omitempty"`
}

// Bootstrap creates realm master, its admin client and its first
// administrator (user admin with realm role realm-admin, for the console)
// when they do not exist yet; a client secret given must have at least
// MinBootstrapSecretLen characters. It returns nil when there was nothing
// to create. Replicas starting together are safe: each creation is a command
// with a fixed id or username, and the loser finds it done.
func Bootstrap(ctx context.Context, reg *Registry, dataDir string, secrets BootstrapSecrets, now time.Time) (*Bootstrapped, error) {
	if err := CheckBootstrapSecret(secrets.ClientSecret); err != nil {
		return nil, err
	}
	meta := eventstore.Meta{Actor: eventstore.ActorSystem, Time: now}
	master, err := reg.Get(ctx, domain.MasterRealm)
	if errors.Is(err, domain.ErrNotFound) {
		master, err = reg.Create(ctx, domain.MasterRealm, meta)
		if errors.Is(err, domain.ErrAlreadyExists) {
			// Another replica bootstrapping at the same time won.
			master, err = reg.Get(ctx, domain.MasterRealm)
		}
	}
	if err != nil {
		return nil, err
	}
	out := &Bootstrapped{}
	if err := bootstrapClient(ctx, master, dataDir, secrets.ClientSecret, out, meta); err != nil {
		return nil, err
	}
	if err := bootstrapAdmin(ctx, master, dataDir, secrets.AdminPassword, out, meta); err != nil {
		return nil, err
	}
	if out.ClientID == "" && out.AdminUsername == "" {
		return nil, nil
	}
	return out, nil
}

// bootstrapClient creates master's admin client unless it exists.
func bootstrapClient(ctx context.Context, master *Realm, dataDir, secret string, out *Bootstrapped, meta eventstore.Meta) error {
	if _, err := master.Clients().Get(BootstrapClientID); err == nil {
		return nil
	}
	var err error
	created := Bootstrapped{ClientID: BootstrapClientID, TokenEndpoint: master.Issuer() + "/protocol/openid-connect/token"}
	if secret == "" {
		if secret, err = NewSecret(); err != nil {
			return err
		}
		// The file is written before the client exists: if the client is
		// then created, its secret is on disk; if not, the next start makes
		// a new one and overwrites the file.
		created.Secret = secret
		if err := writeBootstrapFile(dataDir, created); err != nil {
			return err
		}
	}
	_, err = master.Clients().create(ctx, BootstrapClientID, domain.ClientSettings{
		Name:         "Latchkey bootstrap admin",
		Kind:         domain.KindService,
		GrantTypes:   []string{domain.GrantClientCredentials},
		Scopes:       []string{domain.ScopeManagement},
		AccessPreset: domain.PresetFull,
	}, secret, false, meta)
	if errors.Is(err, domain.ErrAlreadyExists) {
		// Another replica created it: the secret written above is not its.
		if created.Secret != "" {
			_ = os.Remove(filepath.Join(dataDir, BootstrapFile))
		}
		return nil
	}
	if err != nil {
		return err
	}
	out.ClientID, out.Secret, out.TokenEndpoint = created.ClientID, created.Secret, created.TokenEndpoint
	return nil
}

// bootstrapAdmin creates user admin of master, a realm administrator, while
// master has no realm administrator and no user named admin: a server
// started before the console existed gets one too. A generated password
// is written to the bootstrap file once the user exists (a replica that
// lost the race writes nothing).
func bootstrapAdmin(ctx context.Context, master *Realm, dataDir, password string, out *Bootstrapped, meta eventstore.Meta) error {
	users := master.Users()
	if _, taken := master.models.Users.ByUsername(BootstrapAdminUser); taken {
		return nil
	}
	for _, u := range master.models.Users.List() {
		if slices.Contains(u.RealmRoles, domain.RoleRealmAdmin) {
			return nil
		}
	}
	generated := password == ""
	if generated {
		var err error
		if password, err = NewSecret(); err != nil {
			return err
		}
	}
	_, err := users.Create(ctx, NewUser{
		UserProfile: domain.UserProfile{Username: BootstrapAdminUser, DisplayName: "Administrator"},
		Password:    password, RealmRoles: []string{domain.RoleRealmAdmin},
	}, meta)
	var conflict *domain.ConflictError
	if errors.As(err, &conflict) {
		return nil // another replica created it
	}
	if err != nil {
		return err
	}
	out.AdminUsername = BootstrapAdminUser
	out.ConsoleURL = master.reg.publicURL + "/console/" + domain.MasterRealm + "/"
	if generated {
		out.AdminPassword = password
		return writeBootstrapFile(dataDir, Bootstrapped{AdminUsername: BootstrapAdminUser, AdminPassword: password, ConsoleURL: out.ConsoleURL})
	}
	return nil
}

// writeBootstrapFile writes b's fields into <dataDir>/bootstrap-admin.json
// (0600), keeping the fields it already holds that b does not set.
func writeBootstrapFile(dataDir string, b Bootstrapped) error {
	path := filepath.Join(dataDir, BootstrapFile)
	fields := map[string]any{}
	if old, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(old, &fields)
	}
	raw, err := json.Marshal(b)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &fields); err != nil {
		return err
	}
	if raw, err = json.MarshalIndent(fields, "", "  "); err != nil {
		return err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(path+".tmp", append(raw, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}
