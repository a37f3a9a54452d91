package eventstore

import (
	"errors"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrConflict: the aggregate changed since its state was read. The caller
// reloads and decides again, or answers 409.
var ErrConflict = errors.New("eventstore: concurrent update of the aggregate")

// ErrNoRealm: the realm has no stream.
var ErrNoRealm = errors.New("eventstore: realm has no stream")

// ErrUnavailable: the realm's stream exists but could not take the write
// now (for example a cluster electing a new stream leader); retry later.
var ErrUnavailable = errors.New("eventstore: the realm's stream is unavailable; retry")

// JetStream error codes for a failed Nats-Expected-Last-Subject-Sequence
// check: 10071 when the stored last message differs; 10164 (replicated
// streams) also while another write of the subject is still in flight,
// which can follow a writer's own acknowledged write for a moment.
const (
	codeWrongLastSequence           = 10071
	codeWrongLastSequenceReplicated = 10164
)

// asConflict maps JetStream's wrong-last-sequence errors: 10071 is a
// conflict, 10164 a write in flight (retried before it counts as one).
func asConflict(err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return conflictCode(int(apiErr.ErrorCode), err)
	}
	return err
}

func conflictCode(code int, err error) error {
	switch code {
	case codeWrongLastSequence:
		return ErrConflict
	case codeWrongLastSequenceReplicated:
		return errInFlight
	}
	return err
}
