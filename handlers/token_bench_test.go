package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// BenchmarkClientCredentialsToken measures the whole token path in-process:
// form parsing, client authentication, ES256 signing, the token.issued
// event acknowledged by a real JetStream server and applied to the read
// models. "fsync" is production (every acknowledged write on disk);
// "nofsync" is the baseline of the same run without fsync: the ratio is
// what durability costs after group commit.
func BenchmarkClientCredentialsToken(b *testing.B) {
	for _, mode := range []struct {
		name   string
		noSync bool
	}{{"fsync", false}, {"nofsync", true}} {
		b.Run(mode.name, func(b *testing.B) { benchmarkToken(b, newFixtureWith(b, mode.noSync)) })
	}
}

func benchmarkToken(b *testing.B, f *fixture) {
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
