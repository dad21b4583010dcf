package conformance

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/sms"
)

// NewLedgerFunc builds a fresh, empty ledger reading time from clock.
type NewLedgerFunc func(t *testing.T, clock sms.Clock) sms.Ledger

// Ledger runs the ledger conformance suite against the ledgers that
// newLedger builds. Times move in whole milliseconds, the ledger's
// resolution.
func Ledger(t *testing.T, newLedger NewLedgerFunc) {
	t.Run("Scenarios", func(t *testing.T) { ledgerScenarios(t, newLedger) })
	t.Run("OutcomeIsCopied", func(t *testing.T) { ledgerOutcomeCopied(t, newLedger) })
	t.Run("ConcurrentClaimsHaveOneWinner", func(t *testing.T) { ledgerConcurrent(t, newLedger) })
	t.Run("InvalidArguments", func(t *testing.T) { ledgerInvalid(t, newLedger) })
}

// step is one action in a ledger scenario.
type step struct {
	op          string // "claim", "complete", "release" or "advance"
	key         string // defaults to "k1"
	fp          string // fingerprint
	d           time.Duration
	outcome     string // complete: what to store; claim: what Done must carry
	want        sms.ClaimState
	wantOutcome bool // claim: check the outcome too
}

func claim(fp string, lease time.Duration, want sms.ClaimState) step {
	return step{op: "claim", fp: fp, d: lease, want: want}
}

func claimDone(fp, outcome string) step {
	return step{op: "claim", fp: fp, d: lease, want: sms.Done, outcome: outcome, wantOutcome: true}
}

func complete(fp, outcome string, keep time.Duration) step {
	return step{op: "complete", fp: fp, d: keep, outcome: outcome}
}

func release() step                 { return step{op: "release"} }
func advance(d time.Duration) step  { return step{op: "advance", d: d} }
func onKey(key string, s step) step { s.key = key; return s }
func stateName(s sms.ClaimState) string {
	switch s {
	case sms.Claimed:
		return "Claimed"
	case sms.Held:
		return "Held"
	case sms.Done:
		return "Done"
	case sms.Mismatch:
		return "Mismatch"
	}
	return fmt.Sprintf("ClaimState(%d)", int(s))
}

const (
	lease = 30 * time.Second
	keep  = 24 * time.Hour
)

func ledgerScenarios(t *testing.T, newLedger NewLedgerFunc) {
	const ms = time.Millisecond
	tests := []struct {
		name  string
		steps []step
	}{
		{"fresh key is claimed", []step{
			claim("a", lease, sms.Claimed),
		}},
		{"claimed key is held for the same request", []step{
			claim("a", lease, sms.Claimed),
			claim("a", lease, sms.Held),
			advance(lease - ms),
			claim("a", lease, sms.Held),
		}},
		{"claimed key with another fingerprint is a mismatch", []step{
			claim("a", lease, sms.Claimed),
			claim("b", lease, sms.Mismatch),
		}},
		{"completed key is done with its outcome", []step{
			claim("a", lease, sms.Claimed),
			complete("a", `{"messageId":"SM1"}`, keep),
			claimDone("a", `{"messageId":"SM1"}`),
			claimDone("a", `{"messageId":"SM1"}`),
		}},
		{"completed key with another fingerprint is a mismatch", []step{
			claim("a", lease, sms.Claimed),
			complete("a", "r", keep),
			claim("b", lease, sms.Mismatch),
		}},
		{"binary outcome survives", []step{
			complete("a", "\x00\xff\x01bin\n", keep),
			claimDone("a", "\x00\xff\x01bin\n"),
		}},
		{"empty outcome", []step{
			claim("a", lease, sms.Claimed),
			complete("a", "", keep),
			claimDone("a", ""),
		}},
		{"release frees the key at once", []step{
			claim("a", lease, sms.Claimed),
			release(),
			claim("a", lease, sms.Claimed),
			claim("a", lease, sms.Held),
		}},
		{"release frees the key for another fingerprint", []step{
			claim("a", lease, sms.Claimed),
			release(),
			claim("b", lease, sms.Claimed),
		}},
		{"release never removes a done record", []step{
			claim("a", lease, sms.Claimed),
			complete("a", "r", keep),
			release(),
			claimDone("a", "r"),
		}},
		{"release of an unknown key is harmless", []step{
			release(),
			claim("a", lease, sms.Claimed),
		}},
		{"lease lapses after its end, not at it", []step{
			claim("a", lease, sms.Claimed),
			advance(lease),
			claim("a", lease, sms.Held),
			advance(ms),
			claim("a", lease, sms.Claimed),
			claim("a", lease, sms.Held),
		}},
		{"lapsed claim frees the key for another fingerprint", []step{
			claim("a", 5*time.Second, sms.Claimed),
			advance(5*time.Second + ms),
			claim("b", lease, sms.Claimed),
			claim("a", lease, sms.Mismatch),
		}},
		{"done record expires after keep, not at it", []step{
			claim("a", lease, sms.Claimed),
			complete("a", "r", keep),
			advance(keep),
			claimDone("a", "r"),
			advance(ms),
			claim("a", lease, sms.Claimed),
		}},
		{"expired done record frees the key for another fingerprint", []step{
			complete("a", "r", time.Hour),
			claim("b", lease, sms.Mismatch),
			advance(time.Hour + ms),
			claim("b", lease, sms.Claimed),
		}},
		{"keep counts from completion, not from the claim", []step{
			claim("a", lease, sms.Claimed),
			advance(20 * time.Second),
			complete("a", "r", time.Minute),
			advance(time.Minute),
			claimDone("a", "r"),
		}},
		{"complete after the lease lapsed", []step{
			claim("a", time.Second, sms.Claimed),
			advance(5 * time.Second),
			complete("a", "late", keep),
			claimDone("a", "late"),
		}},
		{"complete after another caller took over", []step{
			claim("a", time.Second, sms.Claimed),
			advance(2 * time.Second),
			claim("a", lease, sms.Claimed),
			complete("a", "second", keep),
			claimDone("a", "second"),
		}},
		{"complete without a claim", []step{
			complete("a", "r", keep),
			claimDone("a", "r"),
		}},
		{"keys are independent", []step{
			onKey("k1", claim("a", lease, sms.Claimed)),
			onKey("k2", claim("a", lease, sms.Claimed)),
			onKey("k2", complete("a", "two", keep)),
			onKey("k1", claim("a", lease, sms.Held)),
			onKey("k1", release()),
			onKey("k2", claimDone("a", "two")),
			onKey("k1", claim("b", lease, sms.Claimed)),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := NewClock(epoch)
			l := newLedger(t, clock)
			ctx := context.Background()
			for i, s := range tt.steps {
				key := s.key
				if key == "" {
					key = "k1"
				}
				switch s.op {
				case "advance":
					clock.Advance(s.d)
				case "release":
					if err := l.Release(ctx, key); err != nil {
						t.Fatalf("step %d: Release(%q) error = %v", i, key, err)
					}
				case "complete":
					if err := l.Complete(ctx, key, s.fp, []byte(s.outcome), s.d); err != nil {
						t.Fatalf("step %d: Complete(%q) error = %v", i, key, err)
					}
				case "claim":
					c, err := l.Claim(ctx, key, s.fp, s.d)
					if err != nil {
						t.Fatalf("step %d: Claim(%q, %q) error = %v", i, key, s.fp, err)
					}
					if c.State != s.want {
						t.Fatalf("step %d (t+%v): Claim(%q, %q) = %s, want %s", i, clock.Now().Sub(epoch), key, s.fp, stateName(c.State), stateName(s.want))
					}
					if s.wantOutcome && string(c.Outcome) != s.outcome {
						t.Fatalf("step %d: Claim(%q) outcome = %q, want %q", i, key, c.Outcome, s.outcome)
					}
					if !s.wantOutcome && c.Outcome != nil {
						t.Fatalf("step %d: Claim(%q) outcome = %q, want none with state %s", i, key, c.Outcome, stateName(c.State))
					}
				default:
					t.Fatalf("step %d: unknown op %q", i, s.op)
				}
			}
		})
	}
}

func ledgerOutcomeCopied(t *testing.T, newLedger NewLedgerFunc) {
	ctx := context.Background()
	clock := NewClock(epoch)
	l := newLedger(t, clock)
	outcome := []byte("original")
	if err := l.Complete(ctx, "k", "a", outcome, keep); err != nil {
		t.Fatalf("Complete error = %v", err)
	}
	copy(outcome, "mutated!")
	for range 2 {
		c, err := l.Claim(ctx, "k", "a", lease)
		if err != nil {
			t.Fatalf("Claim error = %v", err)
		}
		if got, want := string(c.Outcome), "original"; got != want {
			t.Fatalf("Claim outcome = %q, want %q", got, want)
		}
		copy(c.Outcome, "mutated!")
	}
}

func ledgerConcurrent(t *testing.T, newLedger NewLedgerFunc) {
	const workers = 16
	clock := NewClock(epoch)
	l := newLedger(t, clock)
	var (
		mu     sync.Mutex
		states = map[sms.ClaimState]int{}
		wg     sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			c, err := l.Claim(context.Background(), "contended", "a", lease)
			if err != nil {
				t.Errorf("Claim error = %v", err)
				return
			}
			mu.Lock()
			states[c.State]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if got, want := states[sms.Claimed], 1; got != want {
		t.Errorf("Claimed = %d, want %d (states %v)", got, want, states)
	}
	if got, want := states[sms.Held], workers-1; got != want {
		t.Errorf("Held = %d, want %d (states %v)", got, want, states)
	}
}

func ledgerInvalid(t *testing.T, newLedger NewLedgerFunc) {
	ctx := context.Background()
	clock := NewClock(epoch)
	l := newLedger(t, clock)
	tests := []struct {
		name string
		call func() error
	}{
		{"claim empty key", func() error { _, err := l.Claim(ctx, "", "a", lease); return err }},
		{"claim zero lease", func() error { _, err := l.Claim(ctx, "k", "a", 0); return err }},
		{"claim negative lease", func() error { _, err := l.Claim(ctx, "k", "a", -time.Second); return err }},
		{"complete empty key", func() error { return l.Complete(ctx, "", "a", nil, keep) }},
		{"complete zero keep", func() error { return l.Complete(ctx, "k", "a", []byte("r"), 0) }},
		{"release empty key", func() error { return l.Release(ctx, "") }},
	}
	for _, tt := range tests {
		err := tt.call()
		if err == nil {
			t.Errorf("%s: error = nil, want one", tt.name)
			continue
		}
		if got, want := sms.KindOf(err), sms.KindInternal; got != want {
			t.Errorf("%s: kind = %v, want %v", tt.name, got, want)
		}
	}
	// None of them wrote anything.
	c, err := l.Claim(ctx, "k", "a", lease)
	if err != nil || c.State != sms.Claimed {
		t.Errorf("Claim after invalid calls = %s, %v; want Claimed", stateName(c.State), err)
	}
}
