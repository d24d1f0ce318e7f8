package chaos_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/chaos"
)

// FuzzBodyFaults reads bodies of any content through TruncateBody and
// SlowBody, with reads of any size: the bytes delivered are a prefix of the
// body, all of it unless the cut falls inside it, and the error says which.
func FuzzBodyFaults(f *testing.F) {
	f.Add([]byte("hello, world"), int64(5), 3, 4)
	f.Add([]byte(""), int64(0), 1, 1)
	f.Add([]byte("abc"), int64(3), 1, 100)
	f.Add([]byte("abcdef"), int64(100), 7, 2)
	f.Fuzz(func(t *testing.T, body []byte, cut int64, chunk, readSize int) {
		if cut < 0 || chunk < 1 || chunk > 1<<16 || readSize < 1 || readSize > 1<<16 {
			t.Skip()
		}
		next := rtFunc(func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 200, Body: io.NopCloser(bytes.NewReader(body)), Request: r}, nil
		})
		rt := chaos.Transport(next,
			chaos.Fault{Action: chaos.SlowBody(chunk, 0)},
			chaos.Fault{Action: chaos.TruncateBody(cut)},
		)
		req, _ := http.NewRequestWithContext(context.Background(), "GET", "http://fuzz.test/", nil)
		resp, err := rt.RoundTrip(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		got := []byte{}
		buf := make([]byte, readSize)
		for {
			n, err := resp.Body.Read(buf)
			require.LessOrEqual(t, n, chunk)
			got = append(got, buf[:n]...)
			if err == io.EOF {
				assert.Equal(t, string(body), string(got), "a body no longer than the cut arrives whole")
				assert.LessOrEqual(t, int64(len(body)), cut)
				return
			}
			if err != nil {
				require.ErrorIs(t, err, io.ErrUnexpectedEOF)
				assert.Equal(t, string(body[:cut]), string(got), "a cut body arrives up to the cut")
				assert.Greater(t, int64(len(body)), cut)
				return
			}
		}
	})
}
