package eventstore

import (
	"bytes"

	"encoding/json"
	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"
	"time"

	"github.com/google/uuid"

	"github.com/latchkeyhq/latchkey/domain"
)

// Envelope is one event as stored: JSON, one per JetStream message.
type Envelope struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	Realm     string    `json:"realm"`
	Aggregate string    `json:"aggregate"`
	Time      time.Time `json:"time"`
	Actor     string    `json:"actor"`
	// OnBehalfOf is the user who authorized the client, for actions done
	// through a user-delegated token.
	OnBehalfOf string `json:"on_behalf_of,omitempty"`
	ClientID   string `json:"client_id"`
	RequestID  string `json:"request_id"`
	IP         string `json:"ip"`
	// Via names the compatibility alias the request came through
	// ("seacat PUT /client/{client_id}"); empty for Latchkey's own paths.
	Via  string          `json:"via,omitempty"`
	Data json.RawMessage `json:"data"`
	// Seq is the stream sequence, set on read; never stored.
	Seq uint64 `json:"seq,omitempty"`
	// decoded is the payload when the envelope was read for folding
	// (DecodeForFolds): decoded with the envelope, Data left empty.
	decoded domain.Payload
}

// Meta says who did something, through which client, from where and when.
type Meta struct {
	Actor      string
	OnBehalfOf string
	ClientID   string
	RequestID  string
	IP         string
	// Via: the compatibility alias used (a route, never a value from the
	// request).
	Via  string
	Time time.Time
}

// Actor forms for Meta.Actor.
const ActorSystem = "system"

// ClientActor is the actor string of an OAuth client.
func ClientActor(id string) string { return "client:" + id }

// UserActor is the actor string of a user.
func UserActor(id string) string { return "user:" + id }

// newEnvelope wraps a payload for one aggregate with its metadata.
func newEnvelope(realm string, agg domain.AggregateRef, meta Meta, p domain.Payload) (Envelope, error) {
	data, err := json.Marshal(p)
	if err != nil {
		return Envelope{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Envelope{}, err
	}
	return Envelope{
		ID:         id.String(),
		Type:       p.EventType(),
		Realm:      realm,
		Aggregate:  agg.String(),
		Time:       meta.Time.UTC(),
		Actor:      meta.Actor,
		OnBehalfOf: meta.OnBehalfOf,
		ClientID:   meta.ClientID,
		RequestID:  meta.RequestID,
		IP:         meta.IP,
		Via:        meta.Via,
		Data:       data,
	}, nil
}

// Payload decodes the envelope's data into its typed payload. token.issued,
// the bulk of any history, is read with the faster decoder (same result).
func (e *Envelope) Payload() (domain.Payload, error) {
	if e.decoded != nil {
		return e.decoded, nil
	}
	if e.Type == domain.TypeTokenIssued {
		var p domain.TokenIssued
		if err := jsonv2.Unmarshal(e.Data, &p, v1Semantics); err == nil {
			return p, nil
		}
	}
	return domain.DecodePayload(e.Type, e.Data)
}

// A message body holds one envelope, or several separated by '\n' when
// token events were group-committed. Encoded JSON never contains a raw
// newline, so the split is unambiguous and a one-event body is plain JSON.

func encodeEnvelope(e Envelope) ([]byte, error) { return json.Marshal(e) }

// v1Semantics makes the decoder of github.com/go-json-experiment/json (the
// candidate encoding/json/v2, several times faster) read exactly as
// encoding/json does: case-insensitive names, duplicates and invalid UTF-8
// allowed. Histories are read in bulk (read models, replay, rebuild).
var v1Semantics = jsonv1.DefaultOptionsV1()

// DecodeMessage reads a stored message body into its envelopes, each
// stamped with the message's stream sequence.
func DecodeMessage(data []byte, seq uint64) ([]Envelope, error) {
	out := make([]Envelope, 0, 1)
	for line := range bytes.SplitSeq(data, []byte{'\n'}) {
		var e Envelope
		if err := jsonv2.Unmarshal(line, &e, v1Semantics); err != nil {
			return nil, err
		}
		e.Seq = seq
		out = append(out, e)
	}
	return out, nil
}

// tokenForFolds is a token.issued envelope as the read models need it:
// the metadata folds read, and the payload decoded in the same pass.
type tokenForFolds struct {
	Type      string             `json:"type"`
	Aggregate string             `json:"aggregate"`
	Time      time.Time          `json:"time"`
	ClientID  string             `json:"client_id"`
	Data      domain.TokenIssued `json:"data"`
}

// DecodeForFolds reads a stored message body for the read models, which
// every replica folds from the whole cluster's history. A token.issued
// envelope, the bulk of it, is decoded in one pass into the fields folds
// read (type, aggregate, time, client_id) and its payload, with Data left
// empty: Payload returns the payload. Any other envelope is decoded in
// full, as by DecodeMessage.
func DecodeForFolds(data []byte, seq uint64) ([]Envelope, error) {
	out := make([]Envelope, 0, 1)
	for line := range bytes.SplitSeq(data, []byte{'\n'}) {
		var t tokenForFolds
		if jsonv2.Unmarshal(line, &t, v1Semantics) == nil && t.Type == domain.TypeTokenIssued {
			out = append(out, Envelope{Type: t.Type, Aggregate: t.Aggregate, Time: t.Time, ClientID: t.ClientID, Seq: seq, decoded: t.Data})
			continue
		}
		var e Envelope
		if err := jsonv2.Unmarshal(line, &e, v1Semantics); err != nil {
			return nil, err
		}
		e.Seq = seq
		out = append(out, e)
	}
	return out, nil
}
