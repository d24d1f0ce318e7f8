// Package resiliencetest checks a [resilience.Policy] against the contract
// written on that interface. Import it in your own tests to check a policy
// you wrote (a [resilience.PolicyFunc], a wrapper around a client library)
// the way every policy of this module is checked:
//
//	func TestMyPolicyContract(t *testing.T) {
//		resiliencetest.Run(t, func() resilience.Policy { return mypolicy.New() }, resiliencetest.Config{})
//	}
//
// [Run] calls the factory once per check, so that each check starts from a
// fresh policy, and runs each check as a subtest named after it, in virtual
// time (testing/synctest): a policy that waits an hour costs no real time,
// and "at once" means that no virtual time passes. After each call a check
// lets a second of virtual time pass, to see a call of op that a broken
// policy left to run later; a policy that counts over a time window sees
// its calls a second apart. The checks are:
//
//   - [CheckSequential] (rule 1): one Do never runs op concurrently with
//     itself, even when op fails and is called again — unless the policy is
//     a [resilience.ConcurrentPolicy] that says it may (a hedge), for which
//     this check and that part of the hammer hold nothing.
//   - [CheckWaitsForOp] (rule 1): Do does not return before the last op
//     returned, and never calls op after it returned.
//   - [CheckContext] (rule 2): op's context carries the caller's values and
//     is cancelled when the caller's is.
//   - [CheckCancel] (rule 2): when the caller's context is cancelled, Do
//     returns at once — while op runs, between attempts, while it waits for
//     admission behind another call, and when the context is done on entry —
//     and starts no attempt after the cancel.
//   - [CheckErrors] (rule 3): op's success is Do's success, and the error
//     of op's last call is found in Do's error with errors.Is (of one of its
//     calls, for a concurrent policy).
//   - [CheckPanic] (rule 4): a panic in op reaches the caller of Do with the
//     same value, and the policy still admits calls afterwards (no permit
//     leaked), several times in a row.
//   - [CheckDeferRelease] (rule 5): under [resilience.Transport], the body
//     of a response stays readable after RoundTrip returned, which is what
//     a policy that derives a per-attempt context gets by handing its
//     cancel to [resilience.DeferRelease]; and once the body is closed, a
//     context the policy derived for the attempt is done (its cancel ran).
//   - [CheckHammer]: many concurrent callers with successes, errors,
//     panics and cancelled contexts, checking rule 1 for every call; run it
//     with -race.
//
// A check that cannot apply to a policy by design is skipped with a reason
// in [Config.Skip]: a policy that rejects every call never calls op, so it
// skips the checks that need op to run. A check that needs op to run and
// finds it was never called fails and says so, so that a policy does not
// pass by rejecting everything unnoticed.
//
// Some failures cannot be reported as such: a policy that runs op on a
// goroutine of its own and lets op's panic escape there crashes the test
// binary, and one that blocks forever makes synctest report a deadlock.
// Both still fail the test.
//
// When the policy returned by the factory has a Close() method, Run calls
// it at the end of each check, inside the bubble, so that goroutines it
// started end with the check.
package resiliencetest
