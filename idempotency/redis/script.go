package redis

import goredis "github.com/redis/go-redis/v9"

// Each record is one hash under its key, with the fields
//
//	token  the token of the Acquire that created it
//	fp     its fingerprint
//	done   "1" once completed, "0" while in progress
//	exp    its Expires, in Unix milliseconds of the caller's clock
//	out    its outcome (absent while in progress)
//
// and a Redis expiry (PEXPIREAT) of exp plus Config.Grace, by which Redis
// reclaims it. Every decision compares exp with the now passed in ARGV,
// never with the server's TIME. Each script names one key, declared in
// KEYS, so the scripts run on Redis Cluster too. The values that reach
// PEXPIREAT are computed by the caller and passed through as strings, so
// no Lua number is ever formatted.

// acquireScript creates a record in progress unless a live one is stored.
//
//	KEYS[1] the record
//	ARGV[1] now (ms)
//	ARGV[2] token
//	ARGV[3] fingerprint
//	ARGV[4] exp (ms)
//	ARGV[5] exp plus the grace (ms), for PEXPIREAT
//
// It returns 1 when it created the record, and otherwise the live record
// as {token, fp, done, exp, out}, with "" for an absent field, so that
// every element is a string whatever the client's RESP version.
var acquireScript = goredis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'token', 'fp', 'done', 'exp', 'out')
local exp = tonumber(v[4])
if exp and exp > tonumber(ARGV[1]) then
  return {v[1] or '', v[2] or '', v[3] or '', v[4], v[5] or ''}
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'token', ARGV[2], 'fp', ARGV[3], 'done', '0', 'exp', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
return 1
`)

// completeScript stores the outcome of the record in progress held by a
// token.
//
//	KEYS[1] the record
//	ARGV[1] token
//	ARGV[2] fingerprint
//	ARGV[3] exp (ms)
//	ARGV[4] exp plus the grace (ms)
//	ARGV[5] outcome
//
// It returns 1, or 0 when the record is not in progress under the token.
var completeScript = goredis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'token', 'done')
if v[1] ~= ARGV[1] or v[2] ~= '0' then return 0 end
redis.call('HSET', KEYS[1], 'fp', ARGV[2], 'done', '1', 'exp', ARGV[3], 'out', ARGV[5])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
return 1
`)

// extendScript moves the end of the lease of the record in progress held by
// a token.
//
//	KEYS[1] the record
//	ARGV[1] token
//	ARGV[2] exp (ms)
//	ARGV[3] exp plus the grace (ms)
//
// It returns 1, or 0 when the record is not in progress under the token.
var extendScript = goredis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'token', 'done')
if v[1] ~= ARGV[1] or v[2] ~= '0' then return 0 end
redis.call('HSET', KEYS[1], 'exp', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 1
`)

// releaseScript deletes the record in progress held by a token.
//
//	KEYS[1] the record
//	ARGV[1] token
//
// It returns 1, or 0 when the record is not in progress under the token.
var releaseScript = goredis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'token', 'done')
if v[1] ~= ARGV[1] or v[2] ~= '0' then return 0 end
redis.call('DEL', KEYS[1])
return 1
`)
