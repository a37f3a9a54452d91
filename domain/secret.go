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

// SecretMatches compares a presented secret with the client's current
// secret and, during a rotation overlap, its previous one, in constant time:
// both comparisons are always made. A nil client compares against stand-in
// hashes and always fails.
func SecretMatches(c *Client, presented string, now int64) bool {
	current, previous := unknownClientHash, unknownClientHash
	if c != nil && c.SecretHash != "" {
		current = c.SecretHash
	}
	previousValid := c != nil && c.PreviousSecretHash != "" && now < c.PreviousSecretExpires
	if previousValid {
		previous = c.PreviousSecretHash
	}
	h := []byte(HashSecret(presented))
	okCurrent := subtle.ConstantTimeCompare([]byte(current), h) == 1
	okPrevious := subtle.ConstantTimeCompare([]byte(previous), h) == 1
	if c == nil || c.SecretHash == "" {
		return false
	}
	return okCurrent || (okPrevious && previousValid)
}
