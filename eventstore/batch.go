package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// JetStream atomic batch publish headers (nats-server 2.12+). The client
// library has no API for them yet, so the protocol is spoken here: every
// message carries the batch id and its position, the last one commits, and
// only the commit is acknowledged. On a single server with fsync on every
// write the commit is one fsync for the whole batch.
const (
	headerBatchID     = "Nats-Batch-Id"
	headerBatchSeq    = "Nats-Batch-Sequence"
	headerBatchCommit = "Nats-Batch-Commit"
)

// batchAck is the commit's answer: the last sequence and the message count,
// or an API error.
type batchAck struct {
	Seq   uint64 `json:"seq"`
	Count uint64 `json:"count"`
	Error *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
}

// publishAtomic stores msgs all-or-nothing and returns the last sequence.
// Each attempt is a new batch; the messages' ids make a batch that an
// earlier attempt stored fail as a whole (10201), and nothing is stored
// twice.
func (s *Store) publishAtomic(ctx context.Context, realm string, msgs []*nats.Msg) (uint64, error) {
	id := nuid.Next()
	for i, m := range msgs {
		m.Header.Set(headerBatchID, id)
		m.Header.Set(headerBatchSeq, strconv.Itoa(i+1))
	}
	last := msgs[len(msgs)-1]
	last.Header.Set(headerBatchCommit, "1")
	for _, m := range msgs[:len(msgs)-1] {
		if err := s.nc.PublishMsg(m); err != nil {
			return 0, err
		}
	}
	resp, err := s.nc.RequestMsgWithContext(ctx, last)
	if err != nil {
		return 0, err
	}
	var ack batchAck
	if err := json.Unmarshal(resp.Data, &ack); err != nil {
		return 0, fmt.Errorf("eventstore: batch ack: %w", err)
	}
	if ack.Error != nil {
		err := conflictCode(ack.Error.ErrCode, fmt.Errorf("eventstore: batch refused: %s (%d)", ack.Error.Description, ack.Error.ErrCode))
		if errors.Is(err, errBatchStored) {
			// An earlier attempt stored it and its answer was lost: the
			// stream's last sequence is at or after it.
			return s.LastSeq(ctx, realm)
		}
		if ack.Error.Code >= 500 {
			return 0, &jetstream.APIError{Code: ack.Error.Code, ErrorCode: jetstream.ErrorCode(ack.Error.ErrCode), Description: ack.Error.Description}
		}
		return 0, err
	}
	if ack.Count != uint64(len(msgs)) {
		return 0, fmt.Errorf("eventstore: batch stored %d of %d messages", ack.Count, len(msgs))
	}
	return ack.Seq, nil
}
