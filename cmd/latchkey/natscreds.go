package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/realms"
	"github.com/latchkeyhq/latchkey/realms/verifier"
)

// natsCredentials prints, as JSON on stdout, the NATS user with which a
// realm's resource servers read its revocation rules on `serve
// --nats-listen`. The password is derived from the master key: nothing is
// stored, no server needs to run, and the same master key always gives
// the same password.
func natsCredentials(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("nats-credentials", flag.ContinueOnError)
	realm := fs.String("realm", "", "realm whose resource servers connect (required)")
	dataDir := fs.String("data", envOr("LATCHKEY_DATA", "./data"), "data directory holding master.key, unless LATCHKEY_MASTER_KEY is set (LATCHKEY_DATA)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: latchkey nats-credentials --realm <realm> [--data <dir>]\n\n"+
			"Prints the NATS user and password of realm's resource servers on serve's --nats-listen, as JSON.\n"+
			"The password is a secret: store it as you store the resource server's other credentials.\n\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, map[string]error{}); err != nil {
		return err
	}
	if err := domain.ValidateName("realm name", *realm); err != nil {
		return usageError(fmt.Errorf("--realm: %w", err))
	}
	masterKey, err := existingMasterKey(*dataDir)
	if err != nil {
		return err
	}
	realmKey, err := eventstore.DeriveKey(masterKey, eventstore.PurposeNATSRealmUsers)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(verifier.Credentials{
		User:        eventstore.RealmUser(*realm),
		Password:    eventstore.RealmPassword(realmKey, *realm),
		InboxPrefix: verifier.InboxPrefix(*realm),
	})
}

// existingMasterKey reads the master key serve uses (LATCHKEY_MASTER_KEY,
// else <dataDir>/master.key) and never makes one.
func existingMasterKey(dataDir string) ([]byte, error) {
	given := os.Getenv("LATCHKEY_MASTER_KEY")
	if given == "" {
		raw, err := os.ReadFile(filepath.Join(dataDir, realms.MasterKeyFile))
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no master key: set LATCHKEY_MASTER_KEY, or give the --data directory of the server (it holds %s)", realms.MasterKeyFile)
		}
		if err != nil {
			return nil, err
		}
		given = strings.TrimSpace(string(raw))
	}
	key, _, err := realms.LoadMasterKey(dataDir, given) // parses given; writes nothing
	return key, err
}
