package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
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

// BenchmarkIntrospect measures RFC 7662 introspection of an active token:
// client authentication, the hash lookup in the tokens read model and the
// response. No signature is verified on this path.
func BenchmarkIntrospect(b *testing.B) {
	f := newFixture(b)
	setAuth := func(r *http.Request) { r.SetBasicAuth(f.client, f.secret) }
	rec := f.post("/realms/acme/protocol/openid-connect/token", url.Values{"grant_type": {"client_credentials"}}, setAuth)
	token := accessToken(b, rec)
	form := url.Values{"token": {token}}
	b.ReportAllocs()
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if rec := f.post("/realms/acme/protocol/openid-connect/token/introspect", form, setAuth); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"active":true`) {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
}
