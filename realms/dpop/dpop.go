// Package dpop reads DPoP proofs (RFC 9449): it verifies a proof's
// signature with the public key its header carries and returns what the
// proof says, with the key's JWK thumbprint (RFC 7638). Whether the proof
// fits the request (htm, htu, iat, ath) is domain.CheckDPoPProof's rule;
// whether its jti was seen before, and its nonce, are the caller's: the
// token endpoint spends jtis on the store every replica shares, a resource
// server in its own memory.
package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"strings"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-json-experiment/json"

	"github.com/latchkeyhq/latchkey/domain"
)

// MaxProofLength bounds a proof read (a 4096-bit RSA key's proof is about
// 1.5 KiB).
const MaxProofLength = 8 << 10

// minRSABits is the smallest RSA key a proof may be signed with.
const minRSABits = 2048

var algs = []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA}

func refused(desc string) *domain.OAuthError {
	return &domain.OAuthError{Code: domain.ErrInvalidDPoPProof, Description: desc}
}

// claims are a proof's claims, read with JSON v2's rules: exact-case names
// and no duplicates, so a claim cannot be read two ways.
type claims struct {
	JTI   string   `json:"jti"`
	HTM   string   `json:"htm"`
	HTU   string   `json:"htu"`
	IAT   *float64 `json:"iat"`
	ATH   *string  `json:"ath"`
	Nonce string   `json:"nonce"`
}

// Parse verifies a compact proof's signature with the public key in its
// header (jwk: EC P-256, RSA of at least 2048 bits, or Ed25519, as its alg
// says) and returns what it says. Any failure is invalid_dpop_proof.
func Parse(raw string) (domain.DPoPProof, error) {
	if raw == "" || len(raw) > MaxProofLength {
		return domain.DPoPProof{}, refused("the DPoP header is empty or too large")
	}
	var h header
	var payload []byte
	var err error
	if alg, ok := compactAlg(raw); ok && alg == algEd25519 {
		h, payload, err = verifyEd25519(raw)
	} else {
		h, payload, err = verifyJOSE(raw)
	}
	if err != nil {
		return domain.DPoPProof{}, err
	}
	key := h.key
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return domain.DPoPProof{}, refused("the proof's claims cannot be read")
	}
	thumb, err := key.Thumbprint(crypto.SHA256)
	if err != nil {
		return domain.DPoPProof{}, refused("the proof's key has no thumbprint")
	}
	p := domain.DPoPProof{
		Typ: h.typ, Alg: h.alg, JKT: base64.RawURLEncoding.EncodeToString(thumb),
		JTI: c.JTI, HTM: c.HTM, HTU: c.HTU, Nonce: c.Nonce,
	}
	if c.IAT != nil {
		p.IAT, p.HasIAT = int64(*c.IAT), true
	}
	if c.ATH != nil {
		p.ATH, p.HasATH = *c.ATH, true
	}
	return p, nil
}

// algEd25519 is the fully specified name of EdDSA over Ed25519 (RFC
// 9864), which go-jose does not know.
const algEd25519 = "Ed25519"

// header is what a proof's protected header says: its alg, typ and
// public key.
type header struct {
	alg, typ string
	key      *jose.JSONWebKey
}

// verifyJOSE verifies a proof signed with ES256, RS256 or EdDSA.
func verifyJOSE(raw string) (header, []byte, error) {
	jws, err := jose.ParseSignedCompact(raw, algs)
	if err != nil || len(jws.Signatures) != 1 {
		return header{}, nil, notSigned()
	}
	p := jws.Signatures[0].Protected
	typ, _ := p.ExtraHeaders[jose.HeaderType].(string)
	h := header{alg: p.Algorithm, typ: typ, key: p.JSONWebKey}
	if err := h.check(); err != nil {
		return header{}, nil, err
	}
	payload, err := jws.Verify(h.key)
	if err != nil {
		return header{}, nil, badSignature()
	}
	return h, payload, nil
}

// verifyEd25519 verifies a proof whose alg is Ed25519: the same checks
// as verifyJOSE, the signature checked with crypto/ed25519 over the
// compact form's first two parts (RFC 7515 §5.2).
func verifyEd25519(raw string) (header, []byte, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return header{}, nil, notSigned()
	}
	protected, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	payload, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	var fields struct {
		Alg  string           `json:"alg"`
		Typ  string           `json:"typ"`
		JWK  *jose.JSONWebKey `json:"jwk"`
		Crit []string         `json:"crit"`
	}
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(protected, &fields) != nil || len(fields.Crit) > 0 {
		return header{}, nil, notSigned()
	}
	h := header{alg: fields.Alg, typ: fields.Typ, key: fields.JWK}
	if err := h.check(); err != nil {
		return header{}, nil, err
	}
	if !ed25519.Verify(h.key.Key.(ed25519.PublicKey), []byte(parts[0]+"."+parts[1]), sig) {
		return header{}, nil, badSignature()
	}
	return h, payload, nil
}

// check refuses a header without a valid public key, or whose key does
// not suit its alg.
func (h header) check() error {
	if h.key == nil || !h.key.Valid() || !h.key.IsPublic() {
		return refused("the proof's header must carry its public key (jwk)")
	}
	if !fits(h.key.Key, h.alg) {
		return refused("the proof's key does not suit its alg " + h.alg)
	}
	return nil
}

// compactAlg reads the alg of a compact JWS's header, unverified: which
// verification applies.
func compactAlg(raw string) (string, bool) {
	first, _, ok := strings.Cut(raw, ".")
	if !ok {
		return "", false
	}
	protected, err := base64.RawURLEncoding.DecodeString(first)
	if err != nil {
		return "", false
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(protected, &h) != nil {
		return "", false
	}
	return h.Alg, true
}

func notSigned() error {
	return refused("the DPoP proof is not a JWS signed with " + strings.Join(domain.DPoPAlgs, ", "))
}

func badSignature() error {
	return refused("the proof's signature does not verify with its own key")
}

// fits reports whether a public key suits a signing algorithm.
func fits(key any, alg string) bool {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		return alg == string(jose.ES256) && k.Curve.Params().BitSize == 256
	case *rsa.PublicKey:
		return alg == string(jose.RS256) && k.N.BitLen() >= minRSABits
	case ed25519.PublicKey:
		return alg == string(jose.EdDSA) || alg == algEd25519
	}
	return false
}

// Thumbprint is the JWK thumbprint (RFC 7638, SHA-256, base64url) of a
// public key: what cnf.jkt and dpop_jkt hold.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	k := jose.JSONWebKey{Key: pub}
	sum, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// Prover makes proofs with one key, as a Go client does: an ES256 P-256
// key, an RS256 RSA key or an Ed25519 key.
type Prover struct {
	signer jose.Signer
	jkt    string
}

// NewProver returns a prover of key (a *ecdsa.PrivateKey, *rsa.PrivateKey
// or ed25519.PrivateKey).
func NewProver(key crypto.Signer) (*Prover, error) {
	alg := jose.ES256
	switch key.(type) {
	case *rsa.PrivateKey:
		alg = jose.RS256
	case ed25519.PrivateKey:
		alg = jose.EdDSA
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key},
		(&jose.SignerOptions{EmbedJWK: true}).WithType(domain.DPoPProofType))
	if err != nil {
		return nil, err
	}
	jkt, err := Thumbprint(key.Public())
	if err != nil {
		return nil, err
	}
	return &Prover{signer: s, jkt: jkt}, nil
}

// JKT is the thumbprint of the prover's key.
func (p *Prover) JKT() string { return p.jkt }

// ProofClaims are what a proof says beyond its key.
type ProofClaims struct {
	JTI    string `json:"jti"`
	Method string `json:"htm"`
	URL    string `json:"htu"`
	IAT    int64  `json:"iat"`
	// ATH is the hash of the access token sent with it (AccessTokenHash).
	ATH   string `json:"ath,omitempty"`
	Nonce string `json:"nonce,omitempty"`
}

// Proof signs a proof saying c.
func (p *Prover) Proof(c ProofClaims) (string, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	jws, err := p.signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}
