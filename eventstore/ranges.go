package eventstore

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

const (
	// readerIdle: a reader's consumer left behind (its process killed
	// mid-read) is removed by the server after this.
	readerIdle = time.Minute
	// rangeFetchWait bounds one wait for messages the stream already holds.
	rangeFetchWait = 5 * time.Second
)

// ReadRange returns the realm's messages lo..hi as stored, in stream order
// (rules included; bodies not decoded): a short read, such as one window
// of a history read backwards; foreign ones are marked. Messages removed from the range are not
// waited for. The consumer it reads with is deleted before it returns, so
// paging through a long history leaves none behind (a stream allows 1,000).
func (s *Store) ReadRange(ctx context.Context, realm string, lo, hi uint64) ([]RawMsg, error) {
	lo = max(lo, 1)
	if hi < lo {
		return nil, nil
	}
	from, _, err := s.MACBoundary(ctx, realm)
	if err != nil {
		return nil, err
	}
	cons, err := s.js.CreateConsumer(ctx, StreamName(realm), jetstream.ConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       lo,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		Replicas:          1,
		InactiveThreshold: readerIdle,
	})
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, ErrNoRealm
		}
		return nil, err
	}
	defer s.dropConsumer(realm, cons)
	want := min(cons.CachedInfo().NumPending, hi-lo+1)
	out := make([]RawMsg, 0, want)
	for read := uint64(0); read < want; {
		batch, err := cons.Fetch(int(min(want-read, MaxPage)), jetstream.FetchMaxWait(rangeFetchWait))
		if err != nil {
			return nil, err
		}
		got := 0
		for m := range batch.Messages() {
			got++
			var raw RawMsg
			if err := fillRaw(&raw, m); err != nil {
				return nil, err
			}
			if raw.Seq > hi {
				continue // beyond the range (messages in it were removed)
			}
			s.judgeRaw(realm, from, &raw)
			out = append(out, raw)
		}
		if err := batch.Error(); err != nil {
			return nil, err
		}
		if got == 0 {
			break // the rest expired while being read: the range ends here
		}
		read += uint64(got)
	}
	return out, nil
}
