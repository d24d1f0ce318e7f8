package timelimit_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/timelimit"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// ctxBody is a response body that fails once the request's context ends,
// as the body of a real HTTP/1 or HTTP/2 response does.
type ctxBody struct {
	ctx context.Context
	r   io.Reader
}

func (b *ctxBody) Read(p []byte) (int, error) {
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	return b.r.Read(p)
}

func (b *ctxBody) Close() error { return nil }

// backend answers each attempt with the next status of codes and records
// the attempts' contexts.
type backend struct {
	codes []int
	ctxs  []context.Context
}

func (b *backend) RoundTrip(req *http.Request) (*http.Response, error) {
	code := b.codes[len(b.ctxs)]
	b.ctxs = append(b.ctxs, req.Context())
	return &http.Response{
		StatusCode: code,
		Body:       &ctxBody{ctx: req.Context(), r: strings.NewReader("hello")},
		Request:    req,
	}, nil
}

func TestTransportBodyOutlivesRoundTrip(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		be := &backend{codes: []int{200}}
		l := timelimit.New(time.Second, timelimit.Config{})
		client := &http.Client{Transport: resilience.Transport(be, l)}

		resp, err := client.Get("http://svc.example/")
		require.NoError(t, err)
		require.Len(t, be.ctxs, 1)
		attempt := be.ctxs[0]
		require.NoError(t, attempt.Err(), "the attempt's context lives while the body is open")

		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		assert.Equal(t, "hello", string(body))
		require.NoError(t, resp.Body.Close())
		assert.Equal(t, context.Canceled, attempt.Err(), "closing the body releases the timer")
		assert.Equal(t, context.Canceled, context.Cause(attempt))
		assert.Equal(t, timelimit.Metrics{}, l.Metrics())
	})
}

func TestTransportLimitCoversBody(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		be := &backend{codes: []int{200}}
		client := &http.Client{Transport: resilience.Transport(be, timelimit.New(time.Second, timelimit.Config{}))}
		resp, err := client.Get("http://svc.example/")
		require.NoError(t, err)
		defer resp.Body.Close()

		time.Sleep(time.Second) // the reader is too slow
		synctest.Wait()         // for the timer to fire
		_, err = io.ReadAll(resp.Body)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.ErrorIs(t, context.Cause(be.ctxs[0]), timelimit.ErrTimeout)
	})
}

func TestTransportPerAttempt(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		be := &backend{codes: []int{503, 503, 200}}
		client := &http.Client{Transport: resilience.Transport(be, retrying(3), timelimit.New(time.Second, timelimit.Config{}))}
		resp, err := client.Get("http://svc.example/")
		require.NoError(t, err)
		require.Len(t, be.ctxs, 3)
		assert.Equal(t, context.Canceled, be.ctxs[0].Err(), "superseded attempts are released")
		assert.Equal(t, context.Canceled, be.ctxs[1].Err())
		require.NoError(t, be.ctxs[2].Err())

		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		assert.Equal(t, "hello", string(body))
		require.NoError(t, resp.Body.Close())
		assert.Equal(t, context.Canceled, be.ctxs[2].Err())
	})
}

func TestTransportTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var attempt context.Context
		hang := roundTripFunc(func(req *http.Request) (*http.Response, error) {
			attempt = req.Context()
			<-req.Context().Done()
			return nil, req.Context().Err()
		})
		client := &http.Client{Transport: resilience.Transport(hang, timelimit.New(time.Second, timelimit.Config{}))}
		t0 := time.Now()
		_, err := client.Get("http://svc.example/")
		assert.Equal(t, time.Second, time.Since(t0))
		require.ErrorIs(t, err, timelimit.ErrTimeout)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Error(t, attempt.Err())
	})
}

func TestHandlerAnswers503(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done() // a handler that honours its request's context
		})
		h := resilience.Handler(slow, timelimit.New(time.Second, timelimit.Config{}))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil))
		assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	})
}
