package cache

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"fmt"
	"hash/crc32"
	"io"
	"reflect"
	"strings"
)

// A snapshot, as Save writes it and Load reads it, is
//
//	"resilience-cache v1\n"   format and version, in text
//	uint64, big-endian        length of the payload in bytes
//	payload                   gob stream: one snapHeader, then Count snapRecords
//	uint32, big-endian        CRC-32C (Castagnoli) of the payload
//
// The length and checksum let Load reject a truncated or damaged snapshot
// before it stores anything.
const (
	snapMagic   = "resilience-cache v"
	snapVersion = 1
)

var (
	snapHead   = fmt.Sprintf("%s%d\n", snapMagic, snapVersion)
	crcTable   = crc32.MakeTable(crc32.Castagnoli)
	errNoMagic = fmt.Errorf("%w: not a cache snapshot (no %q header)", ErrBadSnapshot, snapHead)
)

type snapHeader struct {
	Key, Value string // type names, to report a mismatch clearly
	Count      int
}

type snapRecord[K comparable, V any] struct {
	Key      K
	Value    V
	LoadedAt int64 // Unix nanoseconds
}

// Save writes the values the cache holds, with the time each was loaded, to
// w, and returns how many it wrote. Values past every freshness window and
// not-found results are left out. Load reads them back, in this process or
// in a restarted one, so that a service can answer from its last known data
// while its source is down ("offline mode"); the windows of each value keep
// counting from the time it was first loaded.
//
// Keys and values are encoded with encoding/gob: their types must be
// encodable by it (exported fields; concrete types behind interfaces
// registered with gob.Register). The snapshot is built in memory before it
// is written. Save runs while the cache is in use and sees each entry as
// it is at the moment it reaches it.
func (c *Cache[K, V]) Save(w io.Writer) (int, error) {
	now := c.now()
	var payload bytes.Buffer
	var recs []snapRecord[K, V]
	for k, e := range c.store.All() {
		if e.err == nil && now < e.end {
			recs = append(recs, snapRecord[K, V]{Key: k, Value: e.value, LoadedAt: e.loadedAt})
		}
	}
	enc := gob.NewEncoder(&payload)
	if err := enc.Encode(snapHeader{Key: typeName[K](), Value: typeName[V](), Count: len(recs)}); err != nil {
		return 0, fmt.Errorf("cache: save: %w", err)
	}
	for i := range recs {
		if err := enc.Encode(&recs[i]); err != nil {
			return 0, fmt.Errorf("cache: save key %v: %w", recs[i].Key, err)
		}
	}
	out := make([]byte, 0, len(snapHead)+8+payload.Len()+4)
	out = append(out, snapHead...)
	out = binary.BigEndian.AppendUint64(out, uint64(payload.Len()))
	out = append(out, payload.Bytes()...)
	out = binary.BigEndian.AppendUint32(out, crc32.Checksum(payload.Bytes(), crcTable))
	if _, err := w.Write(out); err != nil {
		return 0, fmt.Errorf("cache: save: %w", err)
	}
	return len(recs), nil
}

// Load reads a snapshot written by Save and stores its values, each with
// the time it was loaded, and returns how many it stored. Values that are
// past every freshness window by now are skipped, and so is a value when the
// cache already holds one for its key that was loaded later.
//
// Load reads and checks the whole snapshot before it stores anything: on any
// error the cache is left as it was. Errors about the input match
// ErrBadSnapshot and say what is wrong (not a snapshot, unsupported version,
// other key or value type, truncated, checksum mismatch, undecodable
// record); an error of r is returned wrapped. Load reads r only up to the
// end of the snapshot.
func (c *Cache[K, V]) Load(r io.Reader) (int, error) {
	recs, err := decodeSnapshot[K, V](r)
	if err != nil {
		return 0, err
	}
	now := c.now()
	n := 0
	for i := range recs {
		rec := &recs[i]
		e := positive(&c.s, rec.Value, rec.LoadedAt)
		if now >= e.end {
			continue
		}
		sh := c.shard(rec.Key)
		sh.mu.Lock()
		if old, ok := c.store.GetIfPresent(rec.Key); !ok || old.loadedAt < rec.LoadedAt {
			c.store.Set(rec.Key, e)
			n++
		}
		sh.mu.Unlock()
	}
	return n, nil
}

func decodeSnapshot[K comparable, V any](r io.Reader) ([]snapRecord[K, V], error) {
	head := make([]byte, len(snapHead))
	if n, err := io.ReadFull(r, head); err != nil {
		if n > 0 && !strings.HasPrefix(snapHead, string(head[:n])) {
			return nil, errNoMagic
		}
		return nil, readError("header", err)
	}
	if string(head) != snapHead {
		if rest, ok := strings.CutPrefix(string(head), snapMagic); ok {
			return nil, fmt.Errorf("%w: version %q is not supported (this package reads version %d)",
				ErrBadSnapshot, strings.TrimRight(rest, "\n"), snapVersion)
		}
		return nil, errNoMagic
	}
	var size [8]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, readError("length", err)
	}
	n := binary.BigEndian.Uint64(size[:])
	// Read what is there rather than allocating what the header claims.
	payload, err := io.ReadAll(io.LimitReader(r, int64(min(n, 1<<62))))
	if err != nil {
		return nil, fmt.Errorf("cache: load: %w", err)
	}
	if uint64(len(payload)) < n {
		return nil, fmt.Errorf("%w: truncated: payload has %d of %d bytes", ErrBadSnapshot, len(payload), n)
	}
	var sum [4]byte
	if _, err := io.ReadFull(r, sum[:]); err != nil {
		return nil, readError("checksum", err)
	}
	if got, want := crc32.Checksum(payload, crcTable), binary.BigEndian.Uint32(sum[:]); got != want {
		return nil, fmt.Errorf("%w: checksum mismatch (corrupted data)", ErrBadSnapshot)
	}

	pr := bytes.NewReader(payload)
	dec := gob.NewDecoder(pr)
	var h snapHeader
	if err := dec.Decode(&h); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrBadSnapshot, err)
	}
	if h.Key != typeName[K]() || h.Value != typeName[V]() {
		return nil, fmt.Errorf("%w: it holds %s keys and %s values, the cache %s and %s",
			ErrBadSnapshot, h.Key, h.Value, typeName[K](), typeName[V]())
	}
	if h.Count < 0 || h.Count > len(payload) {
		return nil, fmt.Errorf("%w: impossible record count %d", ErrBadSnapshot, h.Count)
	}
	recs := make([]snapRecord[K, V], h.Count)
	for i := range recs {
		if err := dec.Decode(&recs[i]); err != nil {
			return nil, fmt.Errorf("%w: record %d of %d: %v", ErrBadSnapshot, i+1, h.Count, err)
		}
	}
	if pr.Len() != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last record", ErrBadSnapshot, pr.Len())
	}
	return recs, nil
}

func readError(part string, err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: truncated in the %s", ErrBadSnapshot, part)
	}
	return fmt.Errorf("cache: load: %w", err)
}

func typeName[T any]() string { return reflect.TypeFor[T]().String() }
