package retry

import "time"

// The presets follow one rule: retry interactive operations, where a person
// waits, immediately or at a short regular interval, and give up soon;
// retry background operations, where nobody waits, with exponential backoff
// for a long time. They are starting points to adjust, not tuned values.
// Each returns a fresh Config, with a Budget of its own; a Budget is meant
// to be shared, so to make several Retry for one downstream, build them all
// from one Config.

// Interactive returns a Config for calls a person is waiting for: at most 2
// retries, about 50 ms apart (equal jitter: 25 to 50 ms), no Retry-After
// wait above 1 s (it gives up instead), and no retry later than 2 s after
// the call began, whatever the caller's deadline. A [TokenBudget] of 10
// tokens with a ratio of 0.1 stops retries when most calls fail, since then
// retrying only delays the answer.
func Interactive() Config {
	return Config{
		MaxRetries:   2,
		InitialDelay: 50 * time.Millisecond,
		Multiplier:   1,
		MaxDelay:     time.Second,
		Jitter:       JitterEqual,
		MaxElapsed:   2 * time.Second,
		Budget:       NewTokenBudget(10, 0.1),
	}
}

// Background returns a Config for work nobody waits for (queue consumers,
// batch jobs, synchronization): up to 10 retries with full-jitter
// exponential backoff from 1 s, doubling up to 5 min between attempts, for
// at most 15 min in total (the default of backoff.ExponentialBackOff), and
// Retry-After waits up to 5 min honoured. A [TokenBudget] of 100 tokens with
// a ratio of 0.1 still stops a fleet of workers from hammering a downstream
// that is down.
func Background() Config {
	return Config{
		MaxRetries:   10,
		InitialDelay: time.Second,
		Multiplier:   2,
		MaxDelay:     5 * time.Minute,
		Jitter:       JitterFull,
		MaxElapsed:   15 * time.Minute,
		Budget:       NewTokenBudget(100, 0.1),
	}
}
