package domain

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"hash"
	"io"
	"strings"
	"sync"
)

// HashSecret is how codes, refresh tokens and session cookies are stored:
// SHA-256, hex. Each has 256 random bits, so a fast unkeyed hash is as
// strong as any here and keeps their endpoints cheap. Client secrets were
// stored so too; they now are SecretHasher's HMAC (a secret someone chose
// may be weak), and HashSecret only checks the ones stored before.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// SecretHasher hashes client secrets for storage: HMAC-SHA-256 under a key
// derived from the master key, which no copy of the stream holds. A weak
// secret (one given through the environment, say) then cannot be guessed
// offline from a copy of the events. The key is passed in: domain keeps
// no secret of its own.
type SecretHasher struct {
	macs    *sync.Pool // hash.Hash keyed with the key: no allocation per hash
	standIn string     // the hash an unknown client is compared with
}

// NewSecretHasher returns the hasher of one key.
func NewSecretHasher(key []byte) SecretHasher {
	if len(key) == 0 {
		panic("domain: SecretHasher without a key")
	}
	h := SecretHasher{macs: &sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}}
	h.standIn = h.Hash(unknownClientSecret)
	return h
}

// secretHashPrefix marks the hashes SecretHasher makes; a hash without it
// is an unsalted SHA-256 (HashSecret) stored before.
const secretHashPrefix = "hmac-sha256:"

// Hash is the stored form of a client secret.
func (h SecretHasher) Hash(secret string) string {
	if h.macs == nil {
		panic("domain: SecretHasher without a key")
	}
	mac := h.macs.Get().(hash.Hash)
	mac.Reset()
	io.WriteString(mac, secret)
	var sum [sha256.Size]byte
	mac.Sum(sum[:0])
	h.macs.Put(mac)
	var out [len(secretHashPrefix) + 2*sha256.Size]byte // on the stack: one allocation, the string
	hex.Encode(out[copy(out[:], secretHashPrefix):], sum[:])
	return string(out[:])
}

// IsLegacySecretHash reports a hash stored before secrets were HMAC'd: an
// unsalted SHA-256, to be replaced on the secret's next successful use.
func IsLegacySecretHash(stored string) bool {
	return stored != "" && !strings.HasPrefix(stored, secretHashPrefix)
}

// unknownClientSecret stands in for a missing client so that an unknown
// client id costs the same comparison as a wrong secret.
const unknownClientSecret = "latchkey: no such client"

// SecretMatch says whether a presented secret matched one of a client's
// stored hashes, and, when that hash is a legacy one, which (Stale), so
// that it can be replaced by its HMAC (DecideRehashSecret).
type SecretMatch struct {
	OK    bool
	Stale string
}

// Match compares a presented secret with the client's current secret and,
// during a rotation overlap, its previous one, in constant time: both
// comparisons are always made, each in the form its stored hash has. A nil
// client compares against a stand-in and never matches.
func (h SecretHasher) Match(c *Client, presented string, now int64) SecretMatch {
	current, previous := h.standIn, h.standIn
	if c != nil && c.SecretHash != "" {
		current = c.SecretHash
	}
	previousValid := c != nil && c.PreviousSecretHash != "" && now < c.PreviousSecretExpires
	if previousValid {
		previous = c.PreviousSecretHash
	}
	p := presentedHashes{hasher: h, secret: presented}
	okCurrent := p.matches(current)
	okPrevious := p.matches(previous)
	var m SecretMatch
	switch {
	case c == nil || c.SecretHash == "":
	case okCurrent:
		m.OK = true
		if IsLegacySecretHash(current) {
			m.Stale = current
		}
	case okPrevious && previousValid:
		m.OK = true
		if IsLegacySecretHash(previous) {
			m.Stale = previous
		}
	}
	return m
}

// presentedHashes are a presented secret's hashes in either form, each
// made once, when a stored hash of that form is compared.
type presentedHashes struct {
	hasher          SecretHasher
	secret          string
	hmac, sha       string
	hasHMAC, hasSHA bool
}

// matches compares the presented secret with one stored hash of either
// form, in constant time.
func (p *presentedHashes) matches(stored string) bool {
	if IsLegacySecretHash(stored) {
		if !p.hasSHA {
			p.sha, p.hasSHA = HashSecret(p.secret), true
		}
		return subtle.ConstantTimeCompare([]byte(stored), []byte(p.sha)) == 1
	}
	if !p.hasHMAC {
		p.hmac, p.hasHMAC = p.hasher.Hash(p.secret), true
	}
	return subtle.ConstantTimeCompare([]byte(stored), []byte(p.hmac)) == 1
}
