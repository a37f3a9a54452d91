package eventstore

import (
	"crypto/hkdf"
	"crypto/sha256"
)

// Purpose names what a key derived from the master key is for. Each
// purpose gets its own key, so that no key serves two uses: whoever learns
// one (a resource server's NATS password, say) learns nothing of the others.
type Purpose string

// The purposes, as HKDF info labels. A label never changes once keys made
// with it are in use: the realm users' passwords, the MACs on stored
// events and the stored client-secret hashes would no longer verify.
const (
	// PurposeNATSRealmUsers: the passwords of the rs-<realm> NATS users.
	PurposeNATSRealmUsers Purpose = "latchkey nats realm users v1"
	// PurposeEventMAC: the MAC on every message Latchkey appends.
	PurposeEventMAC Purpose = "latchkey event mac v1"
	// PurposeClientSecrets: the HMAC client secrets are stored as.
	PurposeClientSecrets Purpose = "latchkey client secrets v1"
	// PurposeDPoPNonces: the MAC of the DPoP nonces the server gives.
	PurposeDPoPNonces Purpose = "latchkey dpop nonces v1"
	// PurposeUserCodes: the HMAC user codes of the device flow are stored
	// as (34.5 bits: an unkeyed hash would fall to a search).
	PurposeUserCodes Purpose = "latchkey user codes v1"
	// PurposeBrowserCSRF: the HMAC on the browser's CSRF values.
	PurposeBrowserCSRF Purpose = "latchkey browser csrf v1"
	// PurposeConsoleSessions: the AES-GCM key console sessions are sealed
	// with.
	PurposeConsoleSessions Purpose = "latchkey console sessions v1"
)

// DeriveKey derives the 32-byte key for one purpose from the master key
// (HKDF-SHA-256, the purpose as info). Every subkey comes from here, so
// nothing new has to be stored or backed up: whoever holds the master key
// can derive them again.
func DeriveKey(masterKey []byte, p Purpose) ([]byte, error) {
	return hkdf.Key(sha256.New, masterKey, nil, string(p), 32)
}
