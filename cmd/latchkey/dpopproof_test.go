package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms/dpop"
)

// dpop-proof makes proofs the server accepts, with each kind of key and
// PEM a shell user has: what it prints parses, names the request, the
// token (ath) and the nonce, and its key is the one --jkt prints.
func TestDPoPProofCommand(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	sec1, _ := x509.MarshalECPrivateKey(ec)
	dir := t.TempDir()
	now := time.Now()
	for name, pemBytes := range map[string][]byte{
		"ES256 PKCS8": pkcs8(ec), "ES256 SEC1": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}),
		"RS256 PKCS1": pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}),
		"EdDSA PKCS8": pkcs8(ed),
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".pem")
		if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
			t.Fatal(err)
		}
		var out, jkt bytes.Buffer
		url := "https://id.example.test/realms/acme/protocol/openid-connect/userinfo"
		if err := dpopProof([]string{"--key", path, "--htm", "GET", "--htu", url, "--access-token", "tok", "--nonce", "n-1"}, &out, now); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := dpopProof([]string{"--key", path, "--jkt"}, &jkt, now); err != nil {
			t.Fatalf("%s --jkt: %v", name, err)
		}
		p, err := dpop.Parse(strings.TrimSpace(out.String()))
		if err != nil {
			t.Fatalf("%s: the proof printed does not parse: %v", name, err)
		}
		if oerr := domain.CheckDPoPProof(p, domain.DPoPTarget{Method: "GET", URL: url, AccessToken: "tok"}, now); oerr != nil || p.Nonce != "n-1" {
			t.Fatalf("%s: proof %+v refused: %v", name, p, oerr)
		}
		if p.JKT != strings.TrimSpace(jkt.String()) {
			t.Fatalf("%s: proof key %s, --jkt printed %s", name, p.JKT, jkt.String())
		}
	}
	if err := dpopProof([]string{"--key", filepath.Join(dir, "ES256-PKCS8.pem")}, &bytes.Buffer{}, now); !errors.Is(err, errUsage) {
		t.Fatalf("no --htu: %v, want a usage error", err)
	}
}
