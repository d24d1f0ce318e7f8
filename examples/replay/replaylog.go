package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/resiliencekit/resilience/breaker"
	"github.com/resiliencekit/resilience/fallback"
	"github.com/resiliencekit/resilience/outbox"
)

// maxLoggedBody bounds the body of a request the log takes: a request
// with a larger one is not accepted for replay, and its caller gets the
// breaker's error.
const maxLoggedBody = 64 << 10

// loggedRequest is the payload of an outbox message: a request as the
// worker sends it again.
type loggedRequest struct {
	Method string      `json:"method"`
	URL    string      `json:"url"`
	Header http.Header `json:"header"`
	Body   []byte      `json:"body,omitempty"`
}

// replayLog is the client's log of the requests it could not send: the
// outbox table in the client's own database.
type replayLog struct {
	outbox *outbox.Outbox
	topic  string // the NATS subject of the logged requests
	// notify wakes the relay after a commit, so that a logged request is
	// published within milliseconds rather than at the next poll.
	notify *outbox.LocalNotifier
}

// policy returns the fallback that logs what the breaker refuses. It goes
// outside the breaker in the client's transport.
func (l *replayLog) policy() *fallback.Fallback[*http.Response] {
	return fallback.NewHTTP(l.respond, fallback.HTTPConfig{
		Name:  "log-and-replay",
		Match: refusedByBreaker,
	})
}

// refusedByBreaker matches the failure of a request that the open breaker
// refused (breaker.ErrOpen, a local rejection). Such a request never left
// the process, so billing cannot have acted on it, and sending it later
// cannot count it twice. Other failures (a 503, a timeout) reached billing,
// which may or may not have recorded them: they go to the caller. With the
// Idempotency-Key that every replay carries, logging those too would be
// safe; this example keeps to what the breaker refused.
//
// fallback.DefaultMatch keeps the rule that a caller who gave up (its own
// cancel or deadline) is not told that its request was accepted.
func refusedByBreaker(ctx context.Context, err error) bool {
	return errors.Is(err, breaker.ErrOpen) && fallback.DefaultMatch(ctx, err)
}

// respond answers a refused request: it writes the request into the outbox,
// in a transaction of the client's database, and answers 202 Accepted. Once
// the transaction has committed, the request is as safe as the database;
// the relay takes it from there to JetStream, and the worker replays it.
// When the request cannot be logged, respond fails, and the caller gets
// the breaker's error together with this one (a *fallback.SubstituteError).
func (l *replayLog) respond(req *http.Request, _ error) (*http.Response, error) {
	body, err := readBody(req)
	if err != nil {
		return nil, err
	}
	id := outbox.NewID()
	// Every replay carries an Idempotency-Key, so that billing can spot a
	// request it has seen: the caller's, or else the message ID.
	key := req.Header.Get("Idempotency-Key")
	if key == "" {
		key = id
	}
	logged := loggedRequest{
		Method: req.Method,
		URL:    req.URL.String(),
		Header: http.Header{"Idempotency-Key": {key}},
		Body:   body,
	}
	// Only the headers the replay needs are logged: credentials, in
	// particular, do not belong in a table (a real worker authenticates
	// itself when it replays).
	if ct := req.Header.Get("Content-Type"); ct != "" {
		logged.Header.Set("Content-Type", ct)
	}
	payload, err := json.Marshal(logged)
	if err != nil {
		return nil, err
	}

	ctx := req.Context()
	tx, err := l.outbox.DB().BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op once committed
	// The replays need no order among themselves (JetStream's redeliveries
	// would not keep one anyway), so each request is a key of its own.
	if err := l.outbox.Add(ctx, tx, outbox.Message{ID: id, Topic: l.topic, Key: key, Payload: payload}); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	l.notify.Notify()

	return &http.Response{
		StatusCode: http.StatusAccepted,
		Header: http.Header{
			"Content-Type": {"text/plain; charset=utf-8"},
			"Replay-Id":    {id},
		},
		Body: io.NopCloser(strings.NewReader("accepted for replay\n")),
	}, nil
}

// readBody reads the body of req anew, with GetBody: the body itself
// belongs to the transport. http.NewRequest sets GetBody for a body from a
// bytes.Reader, bytes.Buffer or strings.Reader.
func readBody(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	if req.GetBody == nil {
		return nil, errors.New("replay log: the request's body cannot be read again (no GetBody)")
	}
	rc, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, maxLoggedBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxLoggedBody {
		return nil, fmt.Errorf("replay log: the request's body is over %d bytes", maxLoggedBody)
	}
	return body, nil
}
