package sms

import (
	"context"
	"testing"
	"time"
)

// breakerStep is one thing that happens to a breaker in a scenario: time
// passes, then (unless only time passes) a caller asks to call and, when
// allowed, reports an outcome.
type breakerStep struct {
	after   time.Duration // the clock moves this far first
	outcome Outcome       // 0: only ask (and give the turn back unused when allowed)
	// wantOK and wantProbe are what Allow must answer.
	wantOK, wantProbe bool
	// wantState is the state after the step.
	wantState BreakerState
}

func TestBreakerStateMachine(t *testing.T) {
	fail := func(after time.Duration, want BreakerState) breakerStep {
		return breakerStep{after: after, outcome: OutcomeFailure, wantOK: true, wantState: want}
	}
	ok := func(after time.Duration) breakerStep {
		return breakerStep{after: after, outcome: OutcomeSuccess, wantOK: true, wantState: BreakerClosed}
	}
	skipped := func(after time.Duration, want BreakerState) breakerStep {
		return breakerStep{after: after, wantState: want}
	}
	fiveFailures := []breakerStep{
		fail(0, BreakerClosed), fail(time.Second, BreakerClosed), fail(time.Second, BreakerClosed),
		fail(time.Second, BreakerClosed), fail(time.Second, BreakerOpen),
	}
	tests := []struct {
		name  string
		steps []breakerStep
	}{
		{"five failures within the window open it", fiveFailures},
		{"four failures do not", fiveFailures[:4]},
		{"failures spread beyond the window do not", []breakerStep{
			fail(0, BreakerClosed), fail(3*time.Second, BreakerClosed), fail(3*time.Second, BreakerClosed),
			fail(3*time.Second, BreakerClosed), fail(3*time.Second, BreakerClosed), fail(3*time.Second, BreakerClosed),
		}},
		{"failures under half of the calls do not", []breakerStep{
			ok(0), ok(0), ok(0), ok(0), ok(0), ok(0),
			fail(0, BreakerClosed), fail(0, BreakerClosed), fail(0, BreakerClosed), fail(0, BreakerClosed), fail(0, BreakerClosed),
			// Six calls of twelve: half.
			fail(0, BreakerOpen),
		}},
		{"no call counts nothing", []breakerStep{
			fail(0, BreakerClosed), fail(0, BreakerClosed), fail(0, BreakerClosed), fail(0, BreakerClosed),
			{outcome: OutcomeNoCall, wantOK: true, wantState: BreakerClosed},
			fail(0, BreakerOpen),
		}},
		{"open skips until the cool-down has passed", append(fiveFailures[:5:5],
			skipped(time.Second, BreakerOpen), skipped(28*time.Second, BreakerOpen),
		)},
		{"after the cool-down one probe; its success closes", append(fiveFailures[:5:5],
			breakerStep{after: 30 * time.Second, outcome: OutcomeSuccess, wantOK: true, wantProbe: true, wantState: BreakerClosed},
			// A fresh count: four failures do not open it again.
			fail(0, BreakerClosed), fail(0, BreakerClosed), fail(0, BreakerClosed), fail(0, BreakerClosed),
		)},
		{"a failed probe opens it for another cool-down", append(fiveFailures[:5:5],
			breakerStep{after: 30 * time.Second, outcome: OutcomeFailure, wantOK: true, wantProbe: true, wantState: BreakerOpen},
			skipped(29*time.Second, BreakerOpen),
			breakerStep{after: time.Second, outcome: OutcomeSuccess, wantOK: true, wantProbe: true, wantState: BreakerClosed},
		)},
		{"a probe that made no call gives its turn to the next caller", append(fiveFailures[:5:5],
			breakerStep{after: 30 * time.Second, outcome: OutcomeNoCall, wantOK: true, wantProbe: true, wantState: BreakerHalfOpen},
			breakerStep{outcome: OutcomeSuccess, wantOK: true, wantProbe: true, wantState: BreakerClosed},
		)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			b := NewBreaker(BreakerConfig{Clock: clock})
			for i, s := range tt.steps {
				_ = clock.Sleep(context.Background(), s.after)
				gotOK, gotProbe := b.Allow()
				if gotOK != s.wantOK || gotProbe != s.wantProbe {
					t.Fatalf("step %d: Allow() = %v, probe %v; want %v, probe %v", i, gotOK, gotProbe, s.wantOK, s.wantProbe)
				}
				if gotOK && s.outcome != 0 {
					b.Record(gotProbe, s.outcome)
				}
				if got := b.State(); got != s.wantState {
					t.Fatalf("step %d: state %v, want %v", i, got, s.wantState)
				}
			}
		})
	}
}

// TestBreakerOneProbeAtATime: while the probe is under way every other
// caller is turned away, and calls allowed before the breaker opened that
// end after it do not close it.
func TestBreakerOneProbeAtATime(t *testing.T) {
	clock := newFakeClock()
	b := NewBreaker(BreakerConfig{Clock: clock, Failures: 2, CoolDown: time.Second})
	ok1, _ := b.Allow()
	ok2, _ := b.Allow()
	late, _ := b.Allow() // allowed while closed, ends after the breaker opened
	if !ok1 || !ok2 || !late {
		t.Fatal("a closed breaker turned a caller away")
	}
	b.Record(false, OutcomeFailure)
	if state, changed := b.Record(false, OutcomeFailure); state != BreakerOpen || !changed {
		t.Fatalf("after two failures: %v (changed %v), want open", state, changed)
	}
	if state, changed := b.Record(false, OutcomeSuccess); state != BreakerOpen || changed {
		t.Errorf("a late success moved the open breaker to %v (changed %v)", state, changed)
	}
	_ = clock.Sleep(context.Background(), time.Second)
	okProbe, probe := b.Allow()
	if !okProbe || !probe {
		t.Fatalf("after the cool-down Allow() = %v, probe %v; want the probe", okProbe, probe)
	}
	for i := range 3 {
		if ok, _ := b.Allow(); ok {
			t.Fatalf("caller %d let through while the probe is under way", i)
		}
	}
	if state, changed := b.Record(true, OutcomeSuccess); state != BreakerClosed || !changed {
		t.Errorf("after the probe succeeded: %v (changed %v), want closed", state, changed)
	}
	if ok, probe := b.Allow(); !ok || probe {
		t.Errorf("closed again: Allow() = %v, probe %v; want a plain call", ok, probe)
	}
}

func TestBreakerOutcomeOfDispatch(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Outcome
	}{
		{"sent", nil, OutcomeSuccess},
		{"refused about the message", E(KindRejected, "invalid number"), OutcomeSuccess},
		{"partial", E(KindPartial, "part 2 failed"), OutcomeSuccess},
		{"503", E(KindTransient, "unavailable", FailoverSafe()), OutcomeFailure},
		{"500", E(KindAmbiguous, "failed while handling"), OutcomeFailure},
		{"account", E(KindProviderAccount, "credentials", FailoverSafe()), OutcomeFailure},
		{"no connection ready", E(KindTransient, "not ready", Cause(ErrConnNotReady), FailoverSafe()), OutcomeFailure},
		{"named by its route", &routeError{provider: "twilio", err: E(KindTransient, "unavailable", FailoverSafe())}, OutcomeFailure},
		{"no slot", errNoSlot, OutcomeNoCall},
		{"limiter unreachable", E(KindUnavailable, "table"), OutcomeNoCall},
		{"too little time", tooLate(time.Millisecond), OutcomeNoCall},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := breakerOutcome(tt.err); got != tt.want {
				t.Errorf("breakerOutcome(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
