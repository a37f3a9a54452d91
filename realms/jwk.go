package realms

// JSON Web Keys: generating a realm's keys, describing and parsing them.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"

	"github.com/latchkeyhq/latchkey/domain"
)

// JWK is a public JSON Web Key (RFC 7517) as published in JWKS.
type JWK struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

// newKey generates a private key for alg and describes its public half.
func newKey(alg string) (crypto.Signer, domain.KeyAdded, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case domain.AlgES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case domain.AlgRS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return nil, domain.KeyAdded{}, fmt.Errorf("unsupported algorithm %s", alg)
	}
	if err != nil {
		return nil, domain.KeyAdded{}, err
	}
	jwk, err := publicJWK(priv.Public(), alg)
	if err != nil {
		return nil, domain.KeyAdded{}, err
	}
	raw, err := json.Marshal(jwk)
	if err != nil {
		return nil, domain.KeyAdded{}, err
	}
	return priv, domain.KeyAdded{Kid: jwk.Kid, Alg: alg, Use: "sig", PublicJWK: raw}, nil
}

// publicJWK describes a public key; its kid is the RFC 7638 thumbprint.
func publicJWK(pub crypto.PublicKey, alg string) (JWK, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	var jwk JWK
	var thumbInput string
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		ecdh, err := k.ECDH()
		if err != nil {
			return JWK{}, err
		}
		point := ecdh.Bytes() // 0x04 || X || Y, 32 bytes each for P-256
		jwk = JWK{Kty: "EC", Crv: "P-256", X: b64(point[1:33]), Y: b64(point[33:])}
		thumbInput = fmt.Sprintf(`{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}`, jwk.X, jwk.Y)
	case *rsa.PublicKey:
		jwk = JWK{Kty: "RSA", N: b64(k.N.Bytes()), E: b64(big.NewInt(int64(k.E)).Bytes())}
		thumbInput = fmt.Sprintf(`{"e":"%s","kty":"RSA","n":"%s"}`, jwk.E, jwk.N)
	default:
		return JWK{}, fmt.Errorf("unsupported public key %T", pub)
	}
	sum := sha256.Sum256([]byte(thumbInput))
	jwk.Kid, jwk.Alg, jwk.Use = b64(sum[:]), alg, "sig"
	return jwk, nil
}

// parsePrivateKey reads a PKCS #8 key back from the key store.
func parsePrivateKey(der []byte) (crypto.Signer, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("stored key %T cannot sign", k)
	}
	return s, nil
}

func marshalPrivateKey(k crypto.Signer) ([]byte, error) { return x509.MarshalPKCS8PrivateKey(k) }

// parseJWK turns a published key back into a public key, to verify tokens.
func parseJWK(raw []byte) (crypto.PublicKey, error) {
	var jwk JWK
	if err := json.Unmarshal(raw, &jwk); err != nil {
		return nil, err
	}
	dec := base64.RawURLEncoding.DecodeString
	switch jwk.Kty {
	case "EC":
		x, err1 := dec(jwk.X)
		y, err2 := dec(jwk.Y)
		if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
			return nil, fmt.Errorf("bad EC key %s", jwk.Kid)
		}
		point := append(append([]byte{4}, x...), y...)
		return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	case "RSA":
		n, err1 := dec(jwk.N)
		e, err2 := dec(jwk.E)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("bad RSA key %s", jwk.Kid)
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, nil
	}
	return nil, fmt.Errorf("unsupported key type %q", jwk.Kty)
}
