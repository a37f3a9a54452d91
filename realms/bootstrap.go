package realms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

// Bootstrapped says what a first start created.
type Bootstrapped struct {
	ClientID string `json:"client_id"`
	// Secret is set only when it was generated (not taken from the
	// environment): the caller prints it once.
	Secret        string `json:"client_secret,omitempty"`
	TokenEndpoint string `json:"token_endpoint"`
}

// Bootstrap creates realm master and its admin client when they do not
// exist yet. secret, when not empty, is the admin client's secret (at least
// MinBootstrapSecretLen characters); otherwise
// one is generated and written to <dataDir>/bootstrap-admin.json. It returns
// nil when there was nothing to create.
func Bootstrap(ctx context.Context, reg *Registry, dataDir, secret string, now time.Time) (*Bootstrapped, error) {
	if err := CheckBootstrapSecret(secret); err != nil {
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
	if _, err := master.Clients().Get(BootstrapClientID); err == nil {
		return nil, nil
	}
	generated := secret == ""
	out := &Bootstrapped{ClientID: BootstrapClientID, TokenEndpoint: master.Issuer() + "/protocol/openid-connect/token"}
	if generated {
		if secret, err = NewSecret(); err != nil {
			return nil, err
		}
		// The file is written before the client exists: if the client is
		// then created, its secret is on disk; if not, the next start makes
		// a new one and overwrites the file.
		out.Secret = secret
		if err := writeBootstrapFile(dataDir, out); err != nil {
			return nil, err
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
		if generated {
			_ = os.Remove(filepath.Join(dataDir, BootstrapFile))
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

func writeBootstrapFile(dataDir string, b *Bootstrapped) error {
	raw, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}
	path := filepath.Join(dataDir, BootstrapFile)
	if err := os.WriteFile(path+".tmp", append(raw, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}
