package handlers_test

import (
	"net/http"
	"net/url"
	"testing"
)

// BenchmarkClientCredentialsToken measures the whole token path in-process:
// form parsing, client authentication, ES256 signing and the token.issued
// event acknowledged by a real JetStream server with fsync on every write.
// Run with -cpu to vary the parallelism of requests.
func BenchmarkClientCredentialsToken(b *testing.B) {
	f := newFixture(b)
	form := url.Values{"grant_type": {"client_credentials"}}
	setAuth := func(r *http.Request) { r.SetBasicAuth(f.client, f.secret) }
	b.ReportAllocs()
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if rec := f.post("/realms/acme/protocol/openid-connect/token", form, setAuth); rec.Code != http.StatusOK {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
}
