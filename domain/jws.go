package domain

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"strings"
)

// Checkpoints and revocation rules are signed with the realm's ES256 key as
// compact JWS with a detached payload (RFC 7515, appendix F):
// "<protected header>..<signature>", the payload being the bytes signed
// (a checkpoint's body, a rule's message).

// jwsHeader is the protected header.
type jwsHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
	// Subject binds a revocation rule's signature to the NATS subject it
	// is published on.
	Subject string `json:"subject,omitempty"`
}

// signDetached signs payload under header h (its Alg is set to ES256);
// what names the signed thing in errors.
func signDetached(what string, h jwsHeader, payload []byte, signer crypto.Signer, rand io.Reader) (string, error) {
	pub, ok := signer.Public().(*ecdsa.PublicKey)
	if !ok || pub.Curve.Params().BitSize != 256 {
		return "", fmt.Errorf("%s: ES256 needs a P-256 key", what)
	}
	h.Alg = AlgES256
	hdr, err := json.Marshal(h)
	if err != nil {
		return "", err
	}
	protected := b64.EncodeToString(hdr)
	digest := sha256.Sum256([]byte(protected + "." + b64.EncodeToString(payload)))
	der, err := signer.Sign(rand, digest[:], crypto.SHA256)
	if err != nil {
		return "", err
	}
	var sig struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(der, &sig); err != nil {
		return "", fmt.Errorf("%s: signature: %w", what, err)
	}
	raw := make([]byte, 64)
	sig.R.FillBytes(raw[:32])
	sig.S.FillBytes(raw[32:])
	return protected + ".." + b64.EncodeToString(raw), nil
}

// splitDetached reads a detached JWS's header and signature.
func splitDetached(what, jws string) (jwsHeader, []byte, error) {
	var h jwsHeader
	protected, sig, ok := strings.Cut(jws, "..")
	if !ok || strings.Contains(sig, ".") {
		return h, nil, fmt.Errorf("%s: jws is not a detached compact JWS", what)
	}
	raw, err := b64.DecodeString(protected)
	if err != nil || json.Unmarshal(raw, &h) != nil {
		return h, nil, fmt.Errorf("%s: bad jws header", what)
	}
	s, err := b64.DecodeString(sig)
	if err != nil {
		return h, nil, fmt.Errorf("%s: bad jws signature encoding", what)
	}
	return h, s, nil
}

// verifyES256 checks an ES256 signature (R || S) over a detached JWS's
// protected header and payload.
func verifyES256(pub *ecdsa.PublicKey, jws string, payload []byte, sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	protected, _, _ := strings.Cut(jws, "..")
	digest := sha256.Sum256([]byte(protected + "." + b64.EncodeToString(payload)))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	return ecdsa.Verify(pub, digest[:], r, s)
}
