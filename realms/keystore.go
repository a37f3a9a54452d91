package realms

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// keyBucket holds realms' private signing keys, each sealed with AES-GCM
// under the master key. Every replica reads the same bucket.
const keyBucket = "LK_KEYS"

// KeyStore keeps private signing keys encrypted at rest. They never appear
// in an event; events carry only kid and public JWK.
type KeyStore struct {
	kv   jetstream.KeyValue
	aead cipher.AEAD
}

// OpenKeyStore opens (creating if needed) the key bucket.
func OpenKeyStore(ctx context.Context, js jetstream.JetStream, masterKey []byte, replicas int) (*KeyStore, error) {
	block, err := aes.NewCipher(masterKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:   keyBucket,
		Storage:  jetstream.FileStorage,
		Replicas: max(replicas, 1),
		History:  1,
	})
	if err != nil {
		return nil, fmt.Errorf("key store: %w", err)
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
	sealed := entry.Value()
	n := ks.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("key store: sealed key too short")
	}
	der, err := ks.aead.Open(nil, sealed[:n], sealed[n:], []byte(keyName(realm, kid)))
	if err != nil {
		return nil, fmt.Errorf("key store: cannot open key %s (wrong master key?): %w", kid, err)
	}
	return der, nil
}
