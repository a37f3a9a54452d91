package projections_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/eventstore"
	"github.com/latchkeyhq/latchkey/projections"
)

// BenchmarkFoldTokenEvent measures what every replica pays for each
// token.issued event of the whole cluster: decoding the stored message and
// folding its events into every read model, as the runner does
// (decode=folds, eventstore.DecodeForFolds), and as a reader of whole
// envelopes would (decode=message, DecodeMessage then Payload). "1" is a
// message holding one token event; "16" a group-committed message of 16
// (the cost is reported per event).
func BenchmarkFoldTokenEvent(b *testing.B) {
	decoders := []struct {
		name   string
		decode func([]byte, uint64) ([]eventstore.Envelope, error)
	}{{"folds", eventstore.DecodeForFolds}, {"message", eventstore.DecodeMessage}}
	for _, perMsg := range []int{1, 16} {
		for _, d := range decoders {
			b.Run(fmt.Sprintf("decode=%s/%d", d.name, perMsg), func(b *testing.B) { benchmarkFold(b, d.decode, perMsg) })
		}
	}
}

func benchmarkFold(b *testing.B, decode func([]byte, uint64) ([]eventstore.Envelope, error), perMsg int) {
	{
		{
			const clients = 50
			msgs := make([][]byte, 4096)
			for i := range msgs {
				var body bytes.Buffer
				for j := range perMsg {
					if j > 0 {
						body.WriteByte('\n')
					}
					body.Write(tokenEnvelope(b, fmt.Sprint("client-", (i*perMsg+j)%clients)))
				}
				msgs[i] = body.Bytes()
			}
			m := projections.NewModels()
			folds := m.Folds()
			b.ReportAllocs()
			b.ResetTimer()
			seq := uint64(0)
			for i := 0; i < b.N; i += perMsg {
				seq++
				envs, err := decode(msgs[seq%uint64(len(msgs))], seq)
				if err != nil {
					b.Fatal(err)
				}
				for ev := range projections.DecodeEvents(envs, nil) {
					for _, f := range folds {
						f.Apply(ev)
					}
				}
			}
		}
	}
}

// tokenEnvelope is one token.issued envelope as the token endpoint writes
// it (a fresh jti each time).
func tokenEnvelope(b *testing.B, client string) []byte {
	now := time.Now()
	p := domain.TokenIssued{
		JTI: uuid.NewString(), Hash: domain.TokenHash(uuid.NewString()), Subject: client, Scope: "read write",
		GrantType: domain.GrantClientCredentials, Kid: "kid-es256-0123456789", Preset: domain.PresetReadOnly,
		IssuedAt: now.Unix(), ExpiresAt: now.Add(time.Hour).Unix(),
	}
	data, err := json.Marshal(p)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := json.Marshal(eventstore.Envelope{
		ID: uuid.NewString(), Type: p.EventType(), Realm: "acme", Aggregate: domain.ClientRef(client).String(), Time: now.UTC(),
		Actor: eventstore.ClientActor(client), ClientID: client, RequestID: uuid.NewString(), IP: "10.1.2.3", Data: data,
	})
	if err != nil {
		b.Fatal(err)
	}
	return raw
}
