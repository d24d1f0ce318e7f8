package kafka

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/resiliencekit/resilience/outbox"
)

// Config configures a [Publisher]. The zero value is ready to use.
type Config struct {
	// Topic returns the Kafka topic of m. Default: m.Topic.
	Topic func(m *outbox.Message) string
	// IDHeader names the record header that carries the message ID.
	// Default "Message-Id".
	IDHeader string
}

// Publisher produces outbox messages to Kafka and waits for their acks. It
// implements [outbox.Publisher]. Create one with [New]; it is safe for
// concurrent use and holds no resources of its own (nothing to close).
type Publisher struct {
	cl    *kgo.Client
	cfg   Config
	flush bool // the client lingers: flush after handing it a batch
}

// New returns a Publisher producing with cl. The caller keeps ownership of
// cl. New panics if cl is nil, does not require acks from all in-sync
// replicas, has idempotent writes disabled, or is transactional (records
// produced outside a transaction would fail).
func New(cl *kgo.Client, cfg Config) *Publisher {
	if cl == nil {
		panic("outbox/kafka: nil client")
	}
	if acks, _ := cl.OptValue(kgo.RequiredAcks).(kgo.Acks); acks != kgo.AllISRAcks() {
		panic("outbox/kafka: the client must require acks from all in-sync replicas (kgo.RequiredAcks(kgo.AllISRAcks()))")
	}
	if off, _ := cl.OptValue(kgo.DisableIdempotentWrite).(bool); off {
		panic("outbox/kafka: the client must keep idempotent writes (no kgo.DisableIdempotentWrite)")
	}
	if id, _ := cl.OptValue(kgo.TransactionalID).(string); id != "" {
		panic("outbox/kafka: transactional clients are not supported")
	}
	if cfg.IDHeader == "" {
		cfg.IDHeader = "Message-Id"
	}
	linger, _ := cl.OptValue(kgo.ProducerLinger).(time.Duration)
	return &Publisher{cl: cl, cfg: cfg, flush: linger > 0}
}

type result struct {
	idx int
	err error
}

// Publish implements [outbox.Publisher]: it produces msgs and writes the
// outcome of msgs[i] to errs[i] — nil once Kafka acknowledged the record. It
// returns when every message has an outcome or ctx ends, whichever comes
// first; in the latter case records may still be in flight in the client
// (referring to the payloads of msgs). It panics if len(errs) != len(msgs).
func (p *Publisher) Publish(ctx context.Context, msgs []outbox.Message, errs []error) {
	if len(errs) != len(msgs) {
		panic("outbox/kafka: len(errs) != len(msgs)")
	}
	n := len(msgs)
	if n == 0 {
		return
	}
	clear(errs)
	records := make([]kgo.Record, n)
	results := make(chan result, n) // room for every promise, even after we return
	hdrs := 1
	for i := range msgs {
		hdrs += len(msgs[i].Headers) + 1
	}
	headers := make([]kgo.RecordHeader, 0, hdrs)
	for i := range msgs {
		m := &msgs[i]
		r := &records[i]
		if p.cfg.Topic != nil {
			r.Topic = p.cfg.Topic(m)
		} else {
			r.Topic = m.Topic
		}
		// A nil key would be spread over partitions; the empty key is a
		// key like any other.
		r.Key = []byte(m.Key)
		if r.Key == nil {
			r.Key = []byte{}
		}
		r.Value = m.Payload
		start := len(headers)
		for k, v := range m.Headers {
			headers = append(headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
		}
		headers = append(headers, kgo.RecordHeader{Key: p.cfg.IDHeader, Value: []byte(m.ID)})
		r.Headers = headers[start:len(headers):len(headers)]
	}
	for i := range records {
		idx := i
		p.cl.Produce(ctx, &records[i], func(_ *kgo.Record, err error) {
			results <- result{idx, err}
		})
	}
	if p.flush {
		// The batch is complete: do not wait for the linger. Flush also
		// waits for records other producers buffered in the client.
		_ = p.cl.Flush(ctx) // ctx is checked below
	}

	have := make([]bool, n)
	var failed bool
	for done := 0; done < n; done++ {
		select {
		case r := <-results:
			have[r.idx] = true
			if r.err != nil {
				failed = true
				errs[r.idx] = &Error{ID: msgs[r.idx].ID, Topic: records[r.idx].Topic, Err: r.err, kind: kindOf(r.err)}
			}
		case <-ctx.Done():
			for i := range msgs {
				if !have[i] {
					errs[i] = &Error{ID: msgs[i].ID, Topic: records[i].Topic, Err: ctx.Err()}
				}
			}
			failed = true
			done = n
		}
	}
	if failed {
		markFollowers(msgs, errs)
	}
}

// markFollowers turns the failure of a message that follows a failed
// message of its key into a failure matching outbox.ErrNotSent: the client
// failed it because the earlier one failed.
func markFollowers(msgs []outbox.Message, errs []error) {
	failedKeys := make(map[string]bool)
	for i := range msgs {
		k := msgs[i].Key
		if errs[i] == nil {
			continue
		}
		if failedKeys[k] {
			errs[i] = notSent{errs[i]}
			continue
		}
		failedKeys[k] = true
	}
}
