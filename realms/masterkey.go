package realms

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// MasterKeyFile is where a generated master key is kept under the data dir.
const MasterKeyFile = "master.key"

// LoadMasterKey returns the 32-byte key that encrypts signing keys at rest:
// from fromEnv (base64, base64url or hex) when set, otherwise from
// <dataDir>/master.key, generated with mode 0600 on first use. generated
// is the path of a file it has just written ("" otherwise): if the key
// turns out not to open the store's sealed keys, remove it.
func LoadMasterKey(dataDir, fromEnv string) (key []byte, generated string, err error) {
	if fromEnv != "" {
		key, err = parseMasterKey(fromEnv)
		return key, "", err
	}
	path := filepath.Join(dataDir, MasterKeyFile)
	raw, err := os.ReadFile(path)
	if err == nil {
		key, err = parseMasterKey(string(raw))
		return key, "", err
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, "", err
	}
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, "", err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, "", err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, "", err
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		return nil, "", err
	}
	return key, path, f.Close()
}

func parseMasterKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, dec := range []func(string) ([]byte, error){
		base64.StdEncoding.DecodeString, base64.RawURLEncoding.DecodeString, hex.DecodeString,
	} {
		if k, err := dec(s); err == nil && len(k) == 32 {
			return k, nil
		}
	}
	return nil, fmt.Errorf("master key must be 32 bytes, as base64 or hex")
}
