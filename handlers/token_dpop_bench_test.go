package handlers_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkeyhq/latchkey/realms/dpop"
)

// BenchmarkClientCredentialsTokenDPoP is the token path of
// BenchmarkClientCredentialsToken without and with a DPoP proof, in the
// same run: the ratio is what binding a token to a key costs the server.
// "fsync" is production; "nofsync" leaves the CPU's share. The proofs
// (ES256, the common choice) are made before the timer starts: signing is
// the client's work. Checking one costs the server a signature
// verification, the key's thumbprint and the jti's single use: a create
// in a JetStream key-value bucket every replica shares, held in memory.
func BenchmarkClientCredentialsTokenDPoP(b *testing.B) {
	for _, mode := range []struct {
		name   string
		noSync bool
	}{{"fsync", false}, {"nofsync", true}} {
		b.Run(mode.name+"/bearer", func(b *testing.B) { benchmarkToken(b, newFixtureWith(b, mode.noSync)) })
		b.Run(mode.name+"/dpop", func(b *testing.B) { benchmarkDPoPToken(b, newFixtureWith(b, mode.noSync)) })
	}
}

func benchmarkDPoPToken(b *testing.B, f *fixture) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	prover, err := dpop.NewProver(key)
	if err != nil {
		b.Fatal(err)
	}
	htu := testPublicURL + "/realms/acme/protocol/openid-connect/token"
	proofs := make([]string, b.N)
	for i := range proofs {
		if proofs[i], err = prover.Proof(dpop.ProofClaims{JTI: uuid.NewString(), Method: http.MethodPost, URL: htu, IAT: time.Now().Unix()}); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	form := url.Values{"grant_type": {"client_credentials"}}
	b.ReportAllocs()
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			proof := proofs[next.Add(1)-1]
			rec := f.post("/realms/acme/protocol/openid-connect/token", form, func(r *http.Request) {
				r.SetBasicAuth(f.client, f.secret)
				r.Header.Set("DPoP", proof)
			})
			if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"token_type":"DPoP"`) {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
}
