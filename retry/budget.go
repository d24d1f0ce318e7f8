package retry

import (
	"fmt"
	"math"
	"sync/atomic"
)

// Budget limits retries across all the calls that share it, so that an
// outage of a downstream cannot multiply the load on it by the number of
// retries. Share one Budget between every [Retry] that calls the same
// downstream (put it in each Config).
//
// A Retry calls Request once at the start of each Do, Success after each
// attempt that succeeded, Failure after each attempt that failed with an
// error worth retrying (not after permanent errors, errors Retryable
// rejects, failures after the caller's context ended, or local rejections
// such as an open breaker's, which are not failures of the dependency; a
// panic counts as a failure), and Withdraw before each retry, as the last
// check once every other limit allowed it (a retry after waiting for a
// local rejection, with Config.WaitOnRejection, too). The first attempt of a call never asks: a call
// with the budget spent still runs once.
//
// Implementations must be safe for concurrent use and should not block:
// Request and Success run on the success path of every call. [TokenBudget]
// and [RatioBudget] are the two provided.
type Budget interface {
	// Request records that a call starts.
	Request()
	// Success records an attempt that succeeded.
	Success()
	// Failure records an attempt that failed with a retryable error.
	Failure()
	// Withdraw reports whether one more retry may be made now, and
	// counts it when it may.
	Withdraw() bool
}

// tokenScale is the fixed-point scale of TokenBudget: tokens are counted in
// thousandths, the precision gRPC specifies for tokenRatio.
const tokenScale = 1000

// TokenBudget is the retry throttle of gRPC (proposal A6): a bucket of
// tokens that starts full at MaxTokens. Each failed attempt takes one token,
// each successful attempt puts back TokenRatio (up to MaxTokens), and no
// retry is allowed while the bucket holds MaxTokens/2 tokens or fewer. With
// MaxTokens 10 and TokenRatio 0.1, retries stop after about five failures
// in a row, and come back once successes outnumber failures ten to one.
//
// During an outage no attempt succeeds, so the bucket stays below the
// threshold and each call makes one attempt: the load on the downstream
// stays close to the load of the callers, whatever MaxRetries says.
//
// It is lock-free (one atomic integer, counted in thousandths of a token)
// and safe for concurrent use; share one between every Retry that calls the
// same downstream. The zero value is not usable: create it with
// [NewTokenBudget].
type TokenBudget struct {
	tokens    atomic.Int64 // thousandths of a token
	max       int64
	ratio     int64
	threshold int64
}

// NewTokenBudget returns a full TokenBudget. maxTokens must be in
// (0, 1e9] and tokenRatio in (0, maxTokens]; both are rounded to
// thousandths (gRPC's precision). gRPC allows maxTokens up to 1000; 10 with
// a tokenRatio of 0.1 is a common choice.
func NewTokenBudget(maxTokens, tokenRatio float64) *TokenBudget {
	if !(maxTokens > 0 && maxTokens <= 1e9) {
		panic(fmt.Sprintf("retry: token budget maxTokens %v not in (0, 1e9]", maxTokens))
	}
	if !(tokenRatio > 0 && tokenRatio <= maxTokens) {
		panic(fmt.Sprintf("retry: token budget tokenRatio %v not in (0, maxTokens]", tokenRatio))
	}
	b := &TokenBudget{
		max:   int64(math.Round(maxTokens * tokenScale)),
		ratio: int64(math.Round(tokenRatio * tokenScale)),
	}
	if b.max == 0 || b.ratio == 0 {
		panic("retry: token budget values below 0.001 token")
	}
	b.threshold = b.max / 2
	b.tokens.Store(b.max)
	return b
}

// Request does nothing: a token budget counts attempts, not calls.
func (b *TokenBudget) Request() {}

// Success puts TokenRatio tokens back, up to MaxTokens.
func (b *TokenBudget) Success() {
	for {
		v := b.tokens.Load()
		if v >= b.max { // full: the usual case, and no write
			return
		}
		n := min(v+b.ratio, b.max)
		if b.tokens.CompareAndSwap(v, n) {
			return
		}
	}
}

// Failure takes one token, down to zero.
func (b *TokenBudget) Failure() {
	for {
		v := b.tokens.Load()
		if v <= 0 {
			return
		}
		n := max(v-tokenScale, 0)
		if b.tokens.CompareAndSwap(v, n) {
			return
		}
	}
}

// Withdraw reports whether the bucket holds more than MaxTokens/2 tokens.
// It takes nothing: in gRPC's design the failure that led to the retry has
// already paid.
func (b *TokenBudget) Withdraw() bool { return b.tokens.Load() > b.threshold }

// Tokens returns the number of tokens in the bucket.
func (b *TokenBudget) Tokens() float64 { return float64(b.tokens.Load()) / tokenScale }
