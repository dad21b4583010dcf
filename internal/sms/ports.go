package sms

import (
	"context"
	"math"
	"time"
)

// Provider sends one message through an SMS provider. Implementations
// classify every failure as an *Error of kind KindTransient, KindAmbiguous,
// KindRejected, KindProviderAccount or KindPartial; with KindPartial the
// Receipt names the first part that was accepted.
type Provider interface {
	Send(ctx context.Context, m Message) (Receipt, error)
}

// DefaultMargin is the default fraction a Limiter stretches every slot by
// (SMS_RATE_MARGIN): calls may reach the provider up to that many seconds
// after their slot starts without breaking the 1-second bound. A margin of
// zero is a margin of zero: no slack, and no readiness bound (see
// ReadyWindow).
const DefaultMargin = 0.05

// SpacingHold is how long a limiter keeps to a stricter slot spacing that
// another instance stored in the shared state after that instance last
// took a slot there. Instances configured with different rates (or
// margins), as during a rollout of a new SMS_RATE_LIMIT, thus all space
// their slots by the stricter of the two; once the stricter configuration
// has taken no slot for SpacingHold, the others return to their own. It
// exceeds the longest invocation of either function, so that an old
// invocation still running keeps its spacing in force.
const SpacingHold = 2 * time.Minute

// SlotInterval is the spacing of the slots of a limiter granting rate
// slots per second with margin: (1/rate)·(1+margin), to the nanosecond.
func SlotInterval(rate, margin float64) time.Duration {
	return time.Duration(math.Round(float64(time.Second) * (1 + margin) / rate))
}

// Limiter hands out provider send slots shared by the whole deployment,
// and counts the segments of the slots it grants against the daily
// segment budget when it has one.
type Limiter interface {
	// Reserve takes the next free slot if it starts no later than
	// now+maxWait and reports when it starts; the caller must not call the
	// provider before then. When the next free slot is further away, Reserve
	// takes nothing and returns ok == false. It is ReserveN(ctx, 1, 1,
	// maxWait).
	Reserve(ctx context.Context, maxWait time.Duration) (at time.Time, ok bool, err error)
	// ReserveN takes n consecutive slots (n >= 1) if the first starts no
	// later than now+maxWait, counts segments against the daily budget in
	// the same write, and reports when the first slot starts: a message of
	// n segments sent at once in SMS_RATE_UNIT=segments. When the budget
	// cannot take segments more, it takes nothing and fails with
	// DailyBudgetError; a grant is never refunded.
	ReserveN(ctx context.Context, n, segments int, maxWait time.Duration) (at time.Time, ok bool, err error)
}

// Queue hands messages to the asynchronous path (SQS in AWS).
type Queue interface {
	Enqueue(ctx context.Context, m QueuedMessage) error
}

// ClaimState is what Ledger.Claim found.
type ClaimState int

// The outcomes of Ledger.Claim.
const (
	// Claimed: the caller now holds the key until the lease lapses or it
	// calls Complete or Release.
	Claimed ClaimState = iota + 1
	// Held: another caller holds the key and its lease has not lapsed.
	Held
	// Done: the key was completed; Claim.Outcome holds what was stored.
	Done
	// Mismatch: the key exists with a different fingerprint.
	Mismatch
)

// Claim is the answer of Ledger.Claim.
type Claim struct {
	State ClaimState
	// Outcome is what Complete stored (State == Done).
	Outcome []byte
}

// Ledger records who is working on a key (an idempotency key, a queued
// message id) and what came of it. Keys are opaque and already scoped by
// the caller. Records expire after the keep duration given to Complete (or
// the claim's lease while pending); implementations check expiry themselves
// and never rely on storage TTL for correctness.
type Ledger interface {
	// Claim takes key for the caller for lease, unless it is held by a
	// live lease or already done. fingerprint identifies the request; a
	// different fingerprint on an existing record gives Mismatch.
	Claim(ctx context.Context, key, fingerprint string, lease time.Duration) (Claim, error)
	// Complete marks key done with outcome, kept for keep.
	Complete(ctx context.Context, key, fingerprint string, outcome []byte, keep time.Duration) error
	// Release gives up a pending claim so that a retry can take the key at
	// once. It never removes a completed record.
	Release(ctx context.Context, key string) error
}
