package domain

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
)

// HashSecret is how client secrets are stored: SHA-256, hex. A secret has
// 256 random bits, so a fast hash is as strong as a slow one here and keeps
// the token endpoint cheap.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// unknownClientHash stands in for a missing client so that an unknown
// client id costs the same comparison as a wrong secret.
var unknownClientHash = HashSecret("latchkey: no such client")

// SecretMatches compares a presented secret with a stored hash in constant
// time. A nil client compares against a dummy hash and always fails.
func SecretMatches(c *Client, presented string) bool {
	stored := unknownClientHash
	if c != nil && c.SecretHash != "" {
		stored = c.SecretHash
	}
	ok := subtle.ConstantTimeCompare([]byte(stored), []byte(HashSecret(presented))) == 1
	return ok && c != nil && c.SecretHash != ""
}
