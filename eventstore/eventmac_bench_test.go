package eventstore

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkeyhq/latchkey/domain"
)

// BenchmarkEventMAC measures what the MAC costs per event, with and without
// it in the same run: "write" builds one event's message (envelope, JSON,
// headers, and the MAC), "read" judges and decodes one stored message as
// every reader does; "mac/sign" and "mac/check" are the MAC alone. A
// typical token.issued event, the bulk of any history.
func BenchmarkEventMAC(b *testing.B) {
	client := domain.ClientRef(uuid.NewString())
	meta := Meta{Actor: ClientActor(client.ID), ClientID: client.ID, RequestID: uuid.NewString(), IP: "127.0.0.1", Time: time.Unix(1_800_000_000, 0)}
	event := domain.TokenIssued{JTI: uuid.NewString(), Hash: "0123456789abcdefghijkl", Subject: client.ID, Scope: "read write",
		GrantType: "client_credentials", Kid: "kid", IssuedAt: 1_800_000_000, ExpiresAt: 1_800_003_600}
	for _, mode := range []struct {
		name string
		key  []byte
	}{{"none", nil}, {"mac", []byte("a benchmark's event MAC key, 32B")}} {
		s := &Store{}
		if mode.key != nil {
			s.macs = newMACs(mode.key, func(ForeignMessage) { b.Fatal("foreign") })
		}
		b.Run("write/"+mode.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.buildMsg("acme", client, meta, event); err != nil {
					b.Fatal(err)
				}
			}
		})
		m, err := s.buildMsg("acme", client, meta, event)
		if err != nil {
			b.Fatal(err)
		}
		if mode.key != nil {
			mac := m.Header.Get(headerMAC)
			b.Run("mac/sign", func(b *testing.B) {
				b.SetBytes(int64(len(m.Data)))
				for b.Loop() {
					_ = s.macs.sum(m.Subject, m.Data)
				}
			})
			b.Run("mac/check", func(b *testing.B) {
				b.SetBytes(int64(len(m.Data)))
				for b.Loop() {
					if !s.macs.valid(m.Subject, m.Data, mac) {
						b.Fatal("invalid")
					}
				}
			})
		}
		b.Run("read/"+mode.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(m.Data)))
			for b.Loop() {
				if _, foreign := s.judge("acme", 1, 7, m.Subject, m.Data, m.Header.Get(headerMAC)); foreign {
					b.Fatal("foreign")
				}
				if _, err := DecodeMessage(m.Data, 7); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
