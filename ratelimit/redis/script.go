package redis

import goredis "github.com/redis/go-redis/v9"

// The scripts keep one number per bucket under its key: the theoretical
// arrival time (TAT) of GCRA, in microseconds of the Redis server's clock
// (TIME), so that the clocks of the clients never matter. The key expires
// when the bucket would be full again: an absent key is a full bucket.
// Every decision is one EVALSHA round trip (EVAL after a restart of Redis
// empties its script cache).

// takeScript decides a call of cost tokens.
//
//	KEYS[1] the bucket
//	ARGV[1] interval: microseconds per token (may have decimals)
//	ARGV[2] burst
//	ARGV[3] cost
//	ARGV[4] max wait in microseconds: a call that would have to wait at
//	        most this long is admitted and its tokens reserved
//
// It returns {admitted 0/1, remaining tokens, wait µs (admitted: how long
// to wait before acting; refused: when to retry), µs until full}.
var takeScript = goredis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local maxwait = tonumber(ARGV[4])
local tolerance = interval * burst
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
local new = tat + interval * cost
local wait = new - tolerance - now
if wait > maxwait then
  return {0, math.max(0, math.floor((now + tolerance - tat) / interval)), math.ceil(wait), math.ceil(tat - now)}
end
if cost > 0 then
  redis.call('SET', KEYS[1], string.format('%.0f', new), 'PX', math.max(1, math.ceil((new - now) / 1000)))
end
return {1, math.max(0, math.floor((now + tolerance - new) / interval)), math.max(0, math.ceil(wait)), math.ceil(new - now)}
`)

// refundScript gives back the tokens of a reservation whose caller stopped
// waiting. ARGV[1] interval, ARGV[2] cost, as for takeScript.
var refundScript = goredis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat then return 0 end
local new = tat - tonumber(ARGV[1]) * tonumber(ARGV[2])
if new <= now then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], string.format('%.0f', new), 'PX', math.max(1, math.ceil((new - now) / 1000)))
end
return 1
`)

// pauseScript makes the bucket admit nothing for ARGV[3] microseconds and
// hold one token when the pause ends. ARGV[1] interval, ARGV[2] burst.
var pauseScript = goredis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local new = now + tonumber(ARGV[3]) + interval * (tonumber(ARGV[2]) - 1)
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat and tat >= new then return 0 end
redis.call('SET', KEYS[1], string.format('%.0f', new), 'PX', math.max(1, math.ceil((new - now) / 1000)))
return 1
`)
