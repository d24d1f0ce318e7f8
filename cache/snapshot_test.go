package cache_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/cache"
)

type profile struct {
	Name string
	Tags []string
}

func TestSaveLoadRoundTrip(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		cfg := cache.Config{TTL: time.Minute, StaleIfError: time.Hour, NegativeTTL: time.Minute}
		load := func(_ context.Context, k string) (profile, error) {
			if k == "ghost" {
				return profile{}, cache.ErrNotFound
			}
			return profile{Name: k, Tags: []string{"t-" + k}}, nil
		}
		c1 := cache.New(load, cfg)
		defer c1.Close()
		ctx := context.Background()
		for _, k := range []string{"ann", "bob"} {
			_, err := c1.Get(ctx, k)
			require.NoError(t, err)
		}
		_, err := c1.Get(ctx, "ghost")
		require.ErrorIs(t, err, cache.ErrNotFound)
		time.Sleep(30 * time.Second)
		c1.Set("cat", profile{Name: "cat"})

		var buf bytes.Buffer
		n, err := c1.Save(&buf)
		require.NoError(t, err)
		assert.Equal(t, 3, n, "not-found results are not saved")

		// A restarted process whose source is down answers from the snapshot.
		time.Sleep(10 * time.Minute)
		c2 := cache.New(func(context.Context, string) (profile, error) { return profile{}, errDown }, cfg)
		defer c2.Close()
		n, err = c2.Load(bytes.NewReader(buf.Bytes()))
		require.NoError(t, err)
		assert.Equal(t, 3, n)
		e, err := c2.GetEntry(ctx, "ann")
		require.NoError(t, err)
		assert.Equal(t, profile{Name: "ann", Tags: []string{"t-ann"}}, e.Value)
		assert.True(t, e.Stale)
		assert.ErrorIs(t, e.Err, errDown)
		assert.Equal(t, 10*time.Minute+30*time.Second, e.Age, "the age counts from the first load")
		e, err = c2.GetEntry(ctx, "cat")
		require.NoError(t, err)
		assert.Equal(t, 10*time.Minute, e.Age)

		// Past every window, nothing is loaded.
		time.Sleep(time.Hour)
		c3 := cache.New(load, cfg)
		defer c3.Close()
		n, err = c3.Load(bytes.NewReader(buf.Bytes()))
		require.NoError(t, err)
		assert.Zero(t, n)
		assert.Zero(t, c3.Len())
	})
}

func TestLoadKeepsNewerValues(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := cache.New(noLoad, cache.Config{})
		defer c.Close()
		c.Set("a", 1)
		c.Set("b", 1)
		var buf bytes.Buffer
		_, err := c.Save(&buf)
		require.NoError(t, err)
		time.Sleep(time.Second)
		c.Set("a", 2)
		c.Delete("b")
		n, err := c.Load(&buf)
		require.NoError(t, err)
		assert.Equal(t, 1, n, "only b: a holds a newer value")
		v, err := c.Get(context.Background(), "a")
		require.NoError(t, err)
		assert.Equal(t, 2, v)
	})
}

// snapshot returns a valid snapshot of a cache of string→int with n keys.
func snapshot(t testing.TB, n int) []byte {
	c := cache.New(noLoad, cache.Config{})
	defer c.Close()
	for i := range n {
		c.Set(strings.Repeat("k", i+1), i)
	}
	var buf bytes.Buffer
	_, err := c.Save(&buf)
	require.NoError(t, err)
	return buf.Bytes()
}

// frame wraps payload as a snapshot with a correct length and checksum.
func frame(payload []byte) []byte {
	out := []byte("resilience-cache v1\n")
	out = binary.BigEndian.AppendUint64(out, uint64(len(payload)))
	out = append(out, payload...)
	return binary.BigEndian.AppendUint32(out, crc32.Checksum(payload, crc32.MakeTable(crc32.Castagnoli)))
}

func TestLoadRejectsBadInput(t *testing.T) {
	t.Parallel()
	good := snapshot(t, 3)
	const headLen = len("resilience-cache v1\n")
	payload := good[headLen+8 : len(good)-4]
	corrupt := bytes.Clone(good)
	corrupt[headLen+8+len(payload)/2] ^= 0xff
	withTrailing := frame(append(bytes.Clone(payload), 0))

	otherTypes := func() []byte {
		c := cache.New(func(context.Context, int) (string, error) { return "", nil }, cache.Config{})
		defer c.Close()
		c.Set(1, "x")
		var buf bytes.Buffer
		_, err := c.Save(&buf)
		require.NoError(t, err)
		return buf.Bytes()
	}()

	tests := []struct {
		name  string
		input []byte
		want  string
	}{
		{"empty", nil, "truncated in the header"},
		{"not a snapshot", []byte("{\"json\": true}\n and more text"), "not a cache snapshot"},
		{"short garbage", []byte("xyz"), "not a cache snapshot"},
		{"newer version", append([]byte("resilience-cache v2\n"), good[headLen:]...), `version "2" is not supported`},
		{"header only", good[:headLen], "truncated in the length"},
		{"truncated payload", good[:len(good)/2], "truncated: payload has"},
		{"no checksum", good[:len(good)-4], "truncated in the checksum"},
		{"corrupted", corrupt, "checksum mismatch"},
		{"other types", otherTypes, "it holds int keys and string values, the cache string and int"},
		{"trailing bytes in payload", withTrailing, "1 bytes after the last record"},
		{"payload not gob", frame([]byte("hello")), "header"},
		{"missing records", frame(payload[:len(payload)-3]), "record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := cache.New(noLoad, cache.Config{})
			defer c.Close()
			n, err := c.Load(bytes.NewReader(tt.input))
			require.ErrorIs(t, err, cache.ErrBadSnapshot)
			assert.Contains(t, err.Error(), tt.want)
			assert.Zero(t, n)
			assert.Zero(t, c.Len(), "nothing is stored from a bad snapshot")
		})
	}

	t.Run("reader error", func(t *testing.T) {
		t.Parallel()
		c := cache.New(noLoad, cache.Config{})
		defer c.Close()
		_, err := c.Load(&failingReader{data: good[:headLen+10]})
		require.ErrorIs(t, err, errDown)
		assert.NotErrorIs(t, err, cache.ErrBadSnapshot)
	})
}

type failingReader struct{ data []byte }

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, errDown
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestSaveReportsWriterError(t *testing.T) {
	t.Parallel()
	c := cache.New(noLoad, cache.Config{})
	defer c.Close()
	c.Set("a", 1)
	_, err := c.Save(errWriter{})
	require.ErrorIs(t, err, errDown)
}

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, errDown }

// FuzzLoad feeds Load arbitrary bytes, raw and framed with a correct
// checksum (so that the gob decoder sees them): Load must never panic, and
// it either stores records or returns an error and stores nothing.
func FuzzLoad(f *testing.F) {
	good := snapshot(f, 3)
	f.Add(good)
	f.Add(good[len("resilience-cache v1\n")+8 : len(good)-4])
	f.Add([]byte{})
	f.Add([]byte("resilience-cache v1\n\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, input := range [][]byte{data, frame(data)} {
			c := cache.New(noLoad, cache.Config{})
			n, err := c.Load(bytes.NewReader(input))
			if err != nil {
				if !errors.Is(err, cache.ErrBadSnapshot) {
					t.Fatalf("error %v does not match ErrBadSnapshot", err)
				}
				if c.Len() != 0 || n != 0 {
					t.Fatalf("a failed Load stored %d entries", c.Len())
				}
			}
			c.Close()
		}
	})
}
