package eventstore

import (
	"bytes"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
)

// A stored message body — whatever a writer with stream access put there —
// decodes without panicking (FuzzDecodeMessage: as encoding/json would);
// each envelope it yields writes out as a fixed point (encode, decode,
// encode gives the same), and its payload decodes or fails without
// panicking. Seeds are below and in testdata/fuzz.
func FuzzEnvelopeRoundTrip(f *testing.F) {
	meta := Meta{Actor: ActorSystem, ClientID: "c1", RequestID: "r1", IP: "192.0.2.1", Time: time.Date(2026, 3, 1, 12, 0, 0, 5, time.UTC)}
	var group [][]byte
	for _, p := range []domain.Payload{
		domain.RealmCreated{Name: "acme"},
		domain.ClientCreated{ClientID: "c1", ClientSettings: domain.ClientSettings{Name: "backend", Scopes: []string{"read"}}, SecretHash: "h"},
		domain.TokenIssued{JTI: "j1", Subject: "c1", Scope: "read", ExpiresAt: 9},
	} {
		env, err := newEnvelope("acme", domain.RealmRef("acme"), meta, p)
		if err != nil {
			f.Fatal(err)
		}
		body, err := encodeEnvelope(env)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
		group = append(group, body)
	}
	f.Add(bytes.Join(group, []byte{'\n'})) // a group commit of token events
	f.Add([]byte(`{"type":"token.issued","data":{"jti":1}}`))
	f.Add([]byte("{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		envs, err := DecodeMessage(data, 7)
		if err != nil {
			return
		}
		for _, e := range envs {
			if e.Seq != 7 {
				t.Fatalf("envelope without its sequence: %+v", e)
			}
			_, _ = e.Payload()
			e.Seq = 0
			once, err := encodeEnvelope(e)
			if err != nil {
				continue // a time outside what JSON can carry: never written by us
			}
			back, err := DecodeMessage(once, 0)
			if err != nil || len(back) != 1 {
				t.Fatalf("%s does not decode again: %v", once, err)
			}
			if twice, _ := encodeEnvelope(back[0]); !bytes.Equal(twice, once) {
				t.Fatalf("%s encodes again as %s", once, twice)
			}
		}
	})
}
