package realms

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
)

// KeyStore keeps secrets encrypted at rest: signing keys and password
// hashes. They never appear in an event; events carry only kid and public
// JWK, or the fact that a password changed. Each value is sealed with
// AES-GCM under the master key into a bucket every replica reads
// (eventstore opens it). The store of signing keys also hashes client
// secrets, under a key derived from the same master key.
type KeyStore struct {
	kv      jetstream.KeyValue
	aead    cipher.AEAD
	secrets domain.SecretHasher
	// userCodes hashes the device flow's user codes; nonces is the MAC key
	// of DPoP nonces (proofs.go). Both are derived from the master key.
	userCodes domain.SecretHasher
	nonces    []byte
	// csrfKey signs the browser's CSRF values (csrf.go).
	csrfKey []byte
}

// OpenKeyStore opens (creating if needed) the store of signing keys.
func OpenKeyStore(ctx context.Context, store *eventstore.Store, masterKey []byte) (*KeyStore, error) {
	secretKey, err := eventstore.DeriveKey(masterKey, eventstore.PurposeClientSecrets)
	if err != nil {
		return nil, err
	}
	userCodeKey, err := eventstore.DeriveKey(masterKey, eventstore.PurposeUserCodes)
	if err != nil {
		return nil, err
	}
	nonceKey, err := eventstore.DeriveKey(masterKey, eventstore.PurposeDPoPNonces)
	if err != nil {
		return nil, err
	}
	csrfKey, err := eventstore.DeriveKey(masterKey, eventstore.PurposeBrowserCSRF)
	if err != nil {
		return nil, err
	}
	ks, err := openSealed(ctx, masterKey, store.OpenKeyBucket)
	if err != nil {
		return nil, err
	}
	ks.secrets, ks.userCodes, ks.nonces, ks.csrfKey = domain.NewSecretHasher(secretKey), domain.NewSecretHasher(userCodeKey), nonceKey, csrfKey
	return ks, nil
}

// OpenPasswordStore opens (creating if needed) the store of password
// hashes.
func OpenPasswordStore(ctx context.Context, store *eventstore.Store, masterKey []byte) (*KeyStore, error) {
	return openSealed(ctx, masterKey, store.OpenPasswordBucket)
}

func openSealed(ctx context.Context, masterKey []byte, bucket func(context.Context) (jetstream.KeyValue, error)) (*KeyStore, error) {
	block, err := aes.NewCipher(masterKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	kv, err := bucket(ctx)
	if err != nil {
		return nil, err
	}
	return &KeyStore{kv: kv, aead: aead}, nil
}

func keyName(realm, kid string) string { return realm + "." + kid }

// Put seals and stores a private key (PKCS #8 DER). The realm and kid are
// bound into the seal, so a sealed key cannot be moved to another name.
func (ks *KeyStore) Put(ctx context.Context, realm, kid string, der []byte) error {
	nonce := make([]byte, ks.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	sealed := ks.aead.Seal(nonce, nonce, der, []byte(keyName(realm, kid)))
	_, err := ks.kv.Put(ctx, keyName(realm, kid), sealed)
	return err
}

// Get opens a private key.
func (ks *KeyStore) Get(ctx context.Context, realm, kid string) ([]byte, error) {
	entry, err := ks.kv.Get(ctx, keyName(realm, kid))
	if err != nil {
		return nil, fmt.Errorf("key %s of realm %s: %w", kid, realm, err)
	}
	der, err := ks.open(keyName(realm, kid), entry.Value())
	if err != nil {
		return nil, fmt.Errorf("key store: cannot open key %s: %w", kid, err)
	}
	return der, nil
}

// open unseals a stored value; its name is bound into the seal.
func (ks *KeyStore) open(name string, sealed []byte) ([]byte, error) {
	n := ks.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealed value too short")
	}
	plain, err := ks.aead.Open(nil, sealed[:n], sealed[n:], []byte(name))
	if err != nil {
		return nil, ErrWrongMasterKey
	}
	return plain, nil
}

// ErrWrongMasterKey: the master key does not open what the store holds.
var ErrWrongMasterKey = errors.New("the master key does not open the sealed keys already stored: it is not the key they were sealed with")

// CheckMasterKey opens one sealed key of the store, if it holds any: a
// server started with another master key than the one its keys were
// sealed with must stop at once, not serve until it first has to sign
// (and seal new keys under the wrong one meanwhile).
func (ks *KeyStore) CheckMasterKey(ctx context.Context) error {
	lister, err := ks.kv.ListKeys(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = lister.Stop() }()
	name, found := <-lister.Keys()
	if !found {
		return nil // a new store: nothing sealed yet
	}
	entry, err := ks.kv.Get(ctx, name)
	if err != nil {
		return err
	}
	if _, err := ks.open(name, entry.Value()); err != nil {
		return fmt.Errorf("key store: %s: %w", name, err)
	}
	return nil
}

// Delete removes a sealed value.
func (ks *KeyStore) Delete(ctx context.Context, realm, name string) error {
	return ks.kv.Delete(ctx, keyName(realm, name))
}

// seal encrypts a value for the browser to carry (it cannot read or
// change it), bound to a purpose.
func (ks *KeyStore) seal(purpose string, plaintext []byte) (string, error) {
	nonce := make([]byte, ks.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(ks.aead.Seal(nonce, nonce, plaintext, []byte(purpose))), nil
}

// unseal reverses seal; anything altered or sealed for another purpose
// fails.
func (ks *KeyStore) unseal(purpose, sealed string) ([]byte, error) {
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	n := ks.aead.NonceSize()
	if err != nil || len(raw) < n {
		return nil, errors.New("malformed sealed value")
	}
	return ks.aead.Open(nil, raw[:n], raw[n:], []byte(purpose))
}
