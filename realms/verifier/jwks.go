package verifier

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sync"
	"time"
)

// minRefreshGap rate-limits JWKS fetches caused by unknown kids, so tokens
// with made-up kids cannot turn the verifier into a request amplifier.
const minRefreshGap = 5 * time.Second

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	N   string `json:"n"`
	E   string `json:"e"`
}

type publicKey struct {
	key crypto.PublicKey
	alg string
}

type keySet struct {
	url  string
	http *http.Client

	mu          sync.RWMutex
	keys        map[string]publicKey
	lastRefresh time.Time
}

func newKeySet(url string, c *http.Client) *keySet {
	return &keySet{url: url, http: c, keys: map[string]publicKey{}}
}

func (ks *keySet) get(kid string) (crypto.PublicKey, string, bool) {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	k, ok := ks.keys[kid]
	return k.key, k.alg, ok
}

// ruleKey returns the ES256 key of the JWKS that a revocation rule stored
// at stored names. A kid unknown to the JWKS as last fetched is looked up
// again in one fetched after the rule was stored, waiting out the rate
// limit if need be: the realm may have rotated its keys since, and a real
// revocation must not be lost to a stale copy of its keys.
func (ks *keySet) ruleKey(kid string, stored time.Time) (*ecdsa.PublicKey, bool) {
	key, _, ok := ks.get(kid)
	if !ok {
		ks.mu.RLock()
		last := ks.lastRefresh
		ks.mu.RUnlock()
		if last.Before(stored) {
			time.Sleep(time.Until(last.Add(minRefreshGap)))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_ = ks.refresh(ctx)
			cancel()
			key, _, ok = ks.get(kid)
		}
	}
	ec, isEC := key.(*ecdsa.PublicKey)
	return ec, ok && isEC && ec.Curve == elliptic.P256()
}

// refreshFor fetches the JWKS again if the last fetch is old enough, then
// looks kid up.
func (ks *keySet) refreshFor(kid string) (crypto.PublicKey, string, bool) {
	ks.mu.RLock()
	recent := time.Since(ks.lastRefresh) < minRefreshGap
	ks.mu.RUnlock()
	if !recent {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = ks.refresh(ctx)
	}
	return ks.get(kid)
}

func (ks *keySet) refresh(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ks.url, nil)
	if err != nil {
		return err
	}
	resp, err := ks.http.Do(req)
	if err != nil {
		return fmt.Errorf("verifier: fetching JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("verifier: JWKS answered HTTP %d", resp.StatusCode)
	}
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil {
		return fmt.Errorf("verifier: JWKS: %w", err)
	}
	keys := map[string]publicKey{}
	for _, k := range doc.Keys {
		if pub, err := k.public(); err == nil {
			keys[k.Kid] = publicKey{key: pub, alg: k.Alg}
		}
	}
	ks.mu.Lock()
	ks.keys, ks.lastRefresh = keys, time.Now()
	ks.mu.Unlock()
	return nil
}

func (k jwk) public() (crypto.PublicKey, error) {
	dec := base64.RawURLEncoding.DecodeString
	switch k.Kty {
	case "EC":
		x, err1 := dec(k.X)
		y, err2 := dec(k.Y)
		if err1 != nil || err2 != nil || k.Crv != "P-256" || len(x) != 32 || len(y) != 32 {
			return nil, fmt.Errorf("bad EC key %q", k.Kid)
		}
		return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	case "RSA":
		n, err1 := dec(k.N)
		e, err2 := dec(k.E)
		if err1 != nil || err2 != nil || len(e) > 4 {
			return nil, fmt.Errorf("bad RSA key %q", k.Kid)
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, nil
	}
	return nil, fmt.Errorf("unsupported key type %q", k.Kty)
}
