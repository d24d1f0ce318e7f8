package redis

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/resiliencekit/resilience/cache"
)

// Defaults for the zero fields of [Config].
const (
	DefaultPrefix = "cache:"
	DefaultTTL    = time.Minute
)

// Config holds the settings of a [Store]. The zero value works for string
// and integer keys and JSON-encodable values, under DefaultPrefix.
type Config[K comparable, V any] struct {
	// Prefix is put before every key in Redis, so that caches sharing a
	// Redis do not collide. Zero means DefaultPrefix.
	Prefix string

	// Channel is the pub/sub channel of invalidations. Zero means Prefix
	// followed by "invalidate".
	Channel string

	// TTL is how long a copy lives in Redis, counted from when its value was
	// loaded from the source (not from when it was copied). Set it to the
	// TTL of the local caches, so a copy is never older than they accept.
	// Zero means DefaultTTL; negative values panic.
	TTL time.Duration

	// Key turns a key into the text used in Redis keys and invalidation
	// messages; ParseKey turns that text back. Both may be nil for keys
	// whose kind is a string or an integer; otherwise New panics without
	// them.
	Key      func(K) string
	ParseKey func(string) (K, error)

	// Marshal and Unmarshal encode values for Redis. Nil means
	// encoding/json. Set both or neither.
	Marshal   func(V) ([]byte, error)
	Unmarshal func([]byte, *V) error

	// OnError is told of every Redis failure the store absorbed: a failed
	// read or write of a copy, a failed subscription, an undecodable copy
	// or message. Its ctx is that of the call that met the failure: the
	// ctx given to Get or Set (a cache's load context, which keeps the
	// values of the Get that started the load), or the ctx given to Run
	// for the invalidation channel. Nil means they are dropped (the cache
	// goes to the source in their stead). It must not block.
	OnError func(ctx context.Context, err error)

	// PurgeOnReconnect empties the local cache when Run subscribes again
	// after losing its subscription, since invalidations published in
	// between were missed. Without it, a copy that missed its invalidation
	// stays until its local TTL ends.
	PurgeOnReconnect bool
}

// Store is a cache.Store in Redis with invalidation over pub/sub. Make one
// with [New]. It is safe for concurrent use; its only goroutine is the one
// that calls [Store.Run].
type Store[K comparable, V any] struct {
	client           goredis.UniversalClient
	prefix, channel  string
	ttl              time.Duration
	key              func(K) string
	parse            func(string) (K, error)
	marshal          func(V) ([]byte, error)
	unmarshal        func([]byte, *V) error
	onError          func(context.Context, error)
	purgeOnReconnect bool
}

var _ cache.Store[string, int] = (*Store[string, int])(nil)

// New returns a store that keeps copies in Redis through client. It panics
// if client is nil or cfg is incomplete (see [Config]).
func New[K comparable, V any](client goredis.UniversalClient, cfg Config[K, V]) *Store[K, V] {
	if client == nil {
		panic("redis: nil client")
	}
	if cfg.TTL < 0 {
		panic(fmt.Sprintf("redis: negative Config.TTL %v", cfg.TTL))
	}
	if (cfg.Marshal == nil) != (cfg.Unmarshal == nil) {
		panic("redis: set both Config.Marshal and Config.Unmarshal, or neither")
	}
	s := &Store[K, V]{
		client:           client,
		prefix:           cfg.Prefix,
		channel:          cfg.Channel,
		ttl:              cfg.TTL,
		key:              cfg.Key,
		parse:            cfg.ParseKey,
		marshal:          cfg.Marshal,
		unmarshal:        cfg.Unmarshal,
		onError:          cfg.OnError,
		purgeOnReconnect: cfg.PurgeOnReconnect,
	}
	if s.prefix == "" {
		s.prefix = DefaultPrefix
	}
	if s.channel == "" {
		s.channel = s.prefix + "invalidate"
	}
	if s.ttl == 0 {
		s.ttl = DefaultTTL
	}
	if s.marshal == nil {
		s.marshal = func(v V) ([]byte, error) { return json.Marshal(v) }
		s.unmarshal = func(b []byte, v *V) error { return json.Unmarshal(b, v) }
	}
	if s.key == nil || s.parse == nil {
		key, parse, ok := defaultKeys[K]()
		if !ok {
			panic(fmt.Sprintf("redis: Config.Key and Config.ParseKey are required for key type %s",
				reflect.TypeFor[K]()))
		}
		if s.key == nil {
			s.key = key
		}
		if s.parse == nil {
			s.parse = parse
		}
	}
	if s.onError == nil {
		s.onError = func(context.Context, error) {}
	}
	return s
}

// defaultKeys returns key codecs for keys of string and integer kinds.
func defaultKeys[K comparable]() (func(K) string, func(string) (K, error), bool) {
	t := reflect.TypeFor[K]()
	switch t.Kind() {
	case reflect.String:
		return func(k K) string { return reflect.ValueOf(k).String() },
			func(s string) (K, error) {
				var k K
				reflect.ValueOf(&k).Elem().SetString(s)
				return k, nil
			}, true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return func(k K) string { return strconv.FormatInt(reflect.ValueOf(k).Int(), 10) },
			func(s string) (K, error) {
				var k K
				n, err := strconv.ParseInt(s, 10, t.Bits())
				reflect.ValueOf(&k).Elem().SetInt(n)
				return k, err
			}, true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return func(k K) string { return strconv.FormatUint(reflect.ValueOf(k).Uint(), 10) },
			func(s string) (K, error) {
				var k K
				n, err := strconv.ParseUint(s, 10, t.Bits())
				reflect.ValueOf(&k).Elem().SetUint(n)
				return k, err
			}, true
	}
	return nil, nil, false
}

// ErrCorrupt is matched by the error of Get for a copy in Redis that is not
// in this store's format.
var ErrCorrupt = errors.New("redis: corrupt cache entry")

// A copy in Redis is the Unix time in nanoseconds at which its value was
// loaded (8 bytes, big-endian), followed by the encoded value.

// Get returns the copy of key in Redis and the time its value was loaded
// from the source. It returns an error matching cache.ErrNotFound when Redis
// holds no copy, and any other error (also passed to Config.OnError) when
// Redis failed or the copy cannot be decoded.
func (s *Store[K, V]) Get(ctx context.Context, key K) (V, time.Time, error) {
	var v V
	b, err := s.client.Get(ctx, s.prefix+s.key(key)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return v, time.Time{}, fmt.Errorf("redis: %s%s: %w", s.prefix, s.key(key), cache.ErrNotFound)
	}
	if err != nil {
		return v, time.Time{}, s.report(ctx, fmt.Errorf("redis: get %s%s: %w", s.prefix, s.key(key), err))
	}
	if len(b) < 8 {
		return v, time.Time{}, s.report(ctx, fmt.Errorf("%w: %s%s is %d bytes long", ErrCorrupt, s.prefix, s.key(key), len(b)))
	}
	if err := s.unmarshal(b[8:], &v); err != nil {
		return v, time.Time{}, s.report(ctx, fmt.Errorf("%w: %s%s: %v", ErrCorrupt, s.prefix, s.key(key), err))
	}
	return v, time.Unix(0, int64(binary.BigEndian.Uint64(b[:8]))), nil
}

// Set stores a copy of value as the value of key, loaded from the source at
// loadedAt, to expire Config.TTL after loadedAt (a copy already that old is
// not stored). Errors are also passed to Config.OnError.
func (s *Store[K, V]) Set(ctx context.Context, key K, value V, loadedAt time.Time) error {
	left := s.ttl - time.Since(loadedAt)
	if left < time.Millisecond { // Redis expiries are in milliseconds
		return nil
	}
	enc, err := s.marshal(value)
	if err != nil {
		return s.report(ctx, fmt.Errorf("redis: encode %s%s: %w", s.prefix, s.key(key), err))
	}
	b := make([]byte, 8, 8+len(enc))
	binary.BigEndian.PutUint64(b, uint64(loadedAt.UnixNano()))
	b = append(b, enc...)
	if err := s.client.Set(ctx, s.prefix+s.key(key), b, left).Err(); err != nil {
		return s.report(ctx, fmt.Errorf("redis: set %s%s: %w", s.prefix, s.key(key), err))
	}
	return nil
}

// Invalidate deletes the copies of keys from Redis and publishes them on
// the invalidation channel, so that every replica running Run evicts them
// from its local cache (this process's own included, if it runs Run). Call
// it after changing the data at the source. It returns Redis's error, if
// any: then some replicas may keep their copies until their TTL ends.
func (s *Store[K, V]) Invalidate(ctx context.Context, keys ...K) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, k := range keys {
			ks := s.key(k)
			p.Del(ctx, s.prefix+ks)
			p.Publish(ctx, s.channel, ks)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis: invalidate: %w", err)
	}
	return nil
}

// Local is the local cache that Run evicts keys from. A *cache.Cache[K, V]
// is one.
type Local[K comparable] interface {
	Delete(key K)
	Purge()
}

// Backoff bounds of Run between attempts to subscribe again, and how long
// a quiet subscription waits before it pings Redis to check the connection.
const (
	minBackoff  = 100 * time.Millisecond
	maxBackoff  = 5 * time.Second
	healthCheck = 30 * time.Second
)

// Run subscribes to the invalidation channel and evicts each key published
// on it from local, until ctx ends; then it returns nil. When the
// subscription fails (Redis restarted, the connection broke or stopped
// answering pings) Run reports the error to Config.OnError and subscribes
// again on a new connection, backing off from 100 ms up to 5 s; with
// Config.PurgeOnReconnect it empties local once subscribed again, since it
// may have missed invalidations. Run starts no goroutine: it runs on the
// caller's.
func (s *Store[K, V]) Run(ctx context.Context, local Local[K]) error {
	backoff := minBackoff
	lost := false
	for {
		err := s.session(ctx, local, &lost, &backoff)
		if ctx.Err() != nil {
			return nil
		}
		s.report(ctx, fmt.Errorf("redis: invalidation channel %s: %w", s.channel, err))
		lost = true
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// session runs one subscription until it fails or ctx ends.
func (s *Store[K, V]) session(ctx context.Context, local Local[K], lost *bool, backoff *time.Duration) error {
	ps := s.client.Subscribe(ctx, s.channel) // an error here shows in Receive
	defer ps.Close()
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() }) // unblocks Receive
	defer stop()
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, healthCheck)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !pinged {
				if err := ps.Ping(ctx); err != nil {
					return err
				}
				pinged = true
				continue
			}
			return err
		}
		pinged = false
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Kind == "subscribe" {
				if *lost && s.purgeOnReconnect {
					local.Purge()
				}
				*lost, *backoff = false, minBackoff
			}
		case *goredis.Message:
			k, err := s.parse(m.Payload)
			if err != nil {
				s.report(ctx, fmt.Errorf("redis: invalidation of %q: %w", m.Payload, err))
				continue
			}
			local.Delete(k)
		}
	}
}

func (s *Store[K, V]) report(ctx context.Context, err error) error {
	s.onError(ctx, err)
	return err
}
