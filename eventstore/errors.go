package eventstore

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go"
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

// JetStream error codes an append can meet. 10071: a failed
// Nats-Expected-Last-Subject-Sequence check (the stored last message
// differs); 10164 (replicated streams) also while another write checked
// against the same subject is still in flight, which can follow a
// writer's own acknowledged write for a moment. 10158: a message id still
// in flight (a retried write whose first attempt is not settled); 10201:
// a retried atomic batch already stored.
const (
	codeWrongLastSequence           = 10071
	codeWrongLastSequenceReplicated = 10164
	codeDuplicateInFlight           = 10158
	codeBatchDuplicate              = 10201
)

// errInFlight is JetStream's 10164 on a replicated stream: the expected
// version was checked while a write of the subject was still in flight.
// It is a conflict only if it persists.
var errInFlight = errors.New("eventstore: a write of the aggregate is in flight")

// errDuplicateInFlight: the first attempt of a retried write is still in
// flight; the next attempt learns how it ended.
var errDuplicateInFlight = errors.New("eventstore: the first attempt of this write is in flight")

// errBatchStored: a retried atomic batch had been stored by an attempt
// whose answer was lost.
var errBatchStored = errors.New("eventstore: the batch was stored by an earlier attempt")

// asConflict maps JetStream's error codes: 10071 is a conflict, 10164 a
// write in flight (retried before it counts as one).
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
	case codeDuplicateInFlight:
		return errDuplicateInFlight
	case codeBatchDuplicate:
		return errBatchStored
	}
	return err
}

// unanswered reports a write that got no answer, or one that says the
// stream cannot take it now: nobody listens on the subject (no stream
// leader, during an election), the answer timed out (a leader that died
// with the request), the connection is between servers, or the server
// answered with an error of its own. The write may or may not have been
// stored: it is sent again with the same message ids, which JetStream
// deduplicates.
func unanswered(err error) bool {
	if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, jetstream.ErrAsyncPublishTimeout) || errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, nats.ErrDisconnected) || errors.Is(err, errDuplicateInFlight) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.Code >= 500
}
