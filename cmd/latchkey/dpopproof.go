package main

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/uuid"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms/dpop"
)

// dpopProof prints a DPoP proof (RFC 9449) for one request, made with a
// private key from a PEM file, so that a shell script (curl) can use
// DPoP-bound tokens; --jkt prints the key's thumbprint instead, for
// dpop_jkt. Each request needs a fresh proof: its jti works once.
func dpopProof(args []string, stdout io.Writer, now time.Time) error {
	fs := flag.NewFlagSet("dpop-proof", flag.ContinueOnError)
	keyFile := fs.String("key", "", "PEM file of the private key: EC P-256 (ES256), RSA of at least 2048 bits (RS256) or Ed25519 (EdDSA) (required)")
	method := fs.String("htm", "POST", "the request's method")
	target := fs.String("htu", "", "the request's URL, without query or fragment (required unless --jkt)")
	token := fs.String("access-token", "", "the access token the request carries (sets ath)")
	nonce := fs.String("nonce", "", "the nonce the server gave last (its DPoP-Nonce header)")
	jkt := fs.Bool("jkt", false, "print the key's JWK thumbprint (dpop_jkt) instead of a proof")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: latchkey dpop-proof --key <pem> --htu <url> [--htm POST] [--access-token <token>] [--nonce <nonce>]\n"+
			"       latchkey dpop-proof --key <pem> --jkt\n\n"+
			"Prints a DPoP proof (RFC 9449) for one request, or the key's thumbprint.\n\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, map[string]error{}); err != nil {
		return err
	}
	if *keyFile == "" || *target == "" && !*jkt {
		return usageError(errors.New("--key and --htu are required"))
	}
	key, err := readSigner(*keyFile)
	if err != nil {
		return err
	}
	p, err := dpop.NewProver(key)
	if err != nil {
		return err
	}
	if *jkt {
		_, err = fmt.Fprintln(stdout, p.JKT())
		return err
	}
	c := dpop.ProofClaims{JTI: uuid.NewString(), Method: *method, URL: *target, IAT: now.Unix(), Nonce: *nonce}
	if *token != "" {
		c.ATH = domain.AccessTokenHash(*token)
	}
	proof, err := p.Proof(c)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, proof)
	return err
}

// readSigner reads a private key from a PEM file: PKCS #8 (what openssl
// genpkey writes), SEC 1 EC or PKCS #1 RSA.
func readSigner(path string) (crypto.Signer, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	var key any
	if key, err = x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		if key, err = x509.ParseECPrivateKey(block.Bytes); err != nil {
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		}
	}
	signer, ok := key.(crypto.Signer)
	if err != nil || !ok {
		return nil, fmt.Errorf("%s: not a private key this command reads (PKCS #8, SEC 1 EC or PKCS #1 RSA)", path)
	}
	return signer, nil
}
