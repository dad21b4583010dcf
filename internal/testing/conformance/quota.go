package conformance

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/sms"
)

// QuotaStore is what the quota suite tests: the domain's store and the
// suppression list kept in it.
type QuotaStore interface {
	sms.QuotaStore
	sms.Suppressor
	// Unsuppress takes a number off the list and reports whether it was on
	// it.
	Unsuppress(ctx context.Context, number string) (bool, error)
}

// QuotaSpec is the store a suite asks a factory for.
type QuotaSpec struct {
	// State names the state the store keeps its counts in. Stores built
	// with the same State share it, as the instances of one deployment
	// share the table; a State not used before holds nothing.
	State string
	// Limits are the store's recipient and caller limits.
	Limits sms.QuotaLimits
	// Clock is the store's time source.
	Clock sms.Clock
}

// NewQuotaStoreFunc builds the store spec describes.
type NewQuotaStoreFunc func(t *testing.T, spec QuotaSpec) QuotaStore

// Quota runs the quota store conformance suite against the stores that
// newStore builds.
func Quota(t *testing.T, newStore NewQuotaStoreFunc) {
	t.Run("CountsUpToTheLimit", func(t *testing.T) { quotaUpToLimit(t, newStore) })
	t.Run("CountingIsIdempotentPerMessage", func(t *testing.T) { quotaIdempotent(t, newStore) })
	t.Run("GiveBackFreesOnePlace", func(t *testing.T) { quotaGiveBack(t, newStore) })
	t.Run("WindowsAreFixedAndAlignedToUTC", func(t *testing.T) { quotaWindows(t, newStore) })
	t.Run("IdsOfTheWindowBeforeAreKnown", func(t *testing.T) { quotaPreviousWindow(t, newStore) })
	t.Run("SuppressionList", func(t *testing.T) { quotaSuppression(t, newStore) })
	t.Run("SuppressionListNeedsTheRecipientLimit", func(t *testing.T) { quotaSuppressionLimitsOff(t, newStore) })
	t.Run("CallerLimit", func(t *testing.T) { quotaCaller(t, newStore) })
	t.Run("CallerRefusalGivesTheRecipientPlaceBack", func(t *testing.T) { quotaCallerGivesBack(t, newStore) })
	t.Run("ExactUnderConcurrencyAcrossInstances", func(t *testing.T) { quotaConcurrent(t, newStore) })
}

// quotaStart is 12:03 UTC: the 10-minute window holding it is
// [12:00, 12:10).
var quotaStart = epoch.Add(3 * time.Minute)

// quotaFixture is one store of a fresh state with its clock.
type quotaFixture struct {
	t     *testing.T
	clock *Clock
	store QuotaStore
}

func newQuotaFixture(t *testing.T, newStore NewQuotaStoreFunc, limits sms.QuotaLimits) *quotaFixture {
	t.Helper()
	clock := NewClock(quotaStart)
	return &quotaFixture{t: t, clock: clock, store: newStore(t, QuotaSpec{State: freshState(), Limits: limits, Clock: clock})}
}

// count counts id to to (no caller) and returns the verdict.
func (f *quotaFixture) count(to, id string) sms.QuotaVerdict {
	f.t.Helper()
	return f.countAs(to, id, "")
}

// countAs counts id to to by caller and returns the verdict.
func (f *quotaFixture) countAs(to, id, caller string) sms.QuotaVerdict {
	f.t.Helper()
	v, err := f.store.Count(context.Background(), sms.Usage{MessageID: id, To: to, Caller: caller})
	if err != nil {
		f.t.Fatalf("Count(%s, %s, %q) error = %v", to, id, caller, err)
	}
	return v
}

// want checks a verdict's outcome, and for a refusal its limit.
func (f *quotaFixture) want(v sms.QuotaVerdict, outcome sms.QuotaOutcome, limit string, what string) {
	f.t.Helper()
	if v.Outcome != outcome {
		f.t.Fatalf("%s: outcome = %v, want %v (verdict %+v)", what, v.Outcome, outcome, v)
	}
	if outcome == sms.QuotaExceeded && v.Limit != limit {
		f.t.Fatalf("%s: limit = %q, want %q", what, v.Limit, limit)
	}
}

func (f *quotaFixture) giveBack(to, id, caller string, at time.Time) {
	f.t.Helper()
	if err := f.store.GiveBack(context.Background(), sms.Usage{MessageID: id, To: to, Caller: caller}, at); err != nil {
		f.t.Fatalf("GiveBack(%s, %s) error = %v", to, id, err)
	}
}

// perTen is a limit of n messages per 10 minutes.
func perTen(n int) sms.Limit { return sms.Limit{Count: n, Window: 10 * time.Minute} }

const (
	numberA = "+14155550101"
	numberB = "+14155550102"
)

func quotaUpToLimit(t *testing.T, newStore NewQuotaStoreFunc) {
	f := newQuotaFixture(t, newStore, sms.QuotaLimits{Recipient: perTen(3)})
	for i := range 3 {
		f.want(f.count(numberA, fmt.Sprint("m", i)), sms.QuotaAccepted, "", fmt.Sprintf("message %d", i+1))
	}
	v := f.count(numberA, "m3")
	f.want(v, sms.QuotaExceeded, sms.LimitRecipient, "fourth message")
	if want := epoch.Add(10 * time.Minute); !v.RetryAt.Equal(want) {
		t.Errorf("RetryAt = %v, want the window's end %v", v.RetryAt, want)
	}
	// Another number has its own places.
	f.want(f.count(numberB, "m4"), sms.QuotaAccepted, "", "another number")
	// A refused message took nothing: still refused, and so is the next.
	f.want(f.count(numberA, "m3"), sms.QuotaExceeded, sms.LimitRecipient, "the refused message again")
}

func quotaIdempotent(t *testing.T, newStore NewQuotaStoreFunc) {
	f := newQuotaFixture(t, newStore, sms.QuotaLimits{Recipient: perTen(2)})
	for i := range 5 {
		f.want(f.count(numberA, "same"), sms.QuotaAccepted, "", fmt.Sprintf("count %d of one message", i+1))
	}
	f.want(f.count(numberA, "other"), sms.QuotaAccepted, "", "a second message")
	f.want(f.count(numberA, "third"), sms.QuotaExceeded, sms.LimitRecipient, "a third message")
	// Ids are compared whole, whatever their length.
	long := fmt.Sprintf("%0200d", 7)
	g := newQuotaFixture(t, newStore, sms.QuotaLimits{Recipient: perTen(2)})
	g.want(g.count(numberA, long), sms.QuotaAccepted, "", "a long id")
	g.want(g.count(numberA, long+"x"), sms.QuotaAccepted, "", "the long id and one more character")
	g.want(g.count(numberA, long), sms.QuotaAccepted, "", "the long id again")
}

func quotaGiveBack(t *testing.T, newStore NewQuotaStoreFunc) {
	f := newQuotaFixture(t, newStore, sms.QuotaLimits{Recipient: perTen(2)})
	a := f.count(numberA, "a")
	b := f.count(numberA, "b")
	f.want(f.count(numberA, "c"), sms.QuotaExceeded, sms.LimitRecipient, "over the limit")
	f.giveBack(numberA, "b", "", b.At)
	f.want(f.count(numberA, "c"), sms.QuotaAccepted, "", "after a place was given back")
	f.giveBack(numberA, "a", "", a.At)
	f.giveBack(numberA, "a", "", a.At) // the second frees nothing
	f.giveBack(numberA, "never-counted", "", a.At)
	f.want(f.count(numberA, "d"), sms.QuotaAccepted, "", "after a's place was given back")
	f.want(f.count(numberA, "e"), sms.QuotaExceeded, sms.LimitRecipient, "a second give-back of one message frees nothing")
	// A message given back counts again.
	f.want(f.count(numberA, "b"), sms.QuotaExceeded, sms.LimitRecipient, "a given-back message needs a place again")
}

func quotaWindows(t *testing.T, newStore NewQuotaStoreFunc) {
	f := newQuotaFixture(t, newStore, sms.QuotaLimits{Recipient: perTen(1)})
	f.want(f.count(numberA, "w1"), sms.QuotaAccepted, "", "first window")
	f.clock.Set(epoch.Add(10*time.Minute - time.Millisecond))
	v := f.count(numberA, "w1b")
	f.want(v, sms.QuotaExceeded, sms.LimitRecipient, "the last instant of the window")
	if want := epoch.Add(10 * time.Minute); !v.RetryAt.Equal(want) {
		t.Errorf("RetryAt = %v, want %v", v.RetryAt, want)
	}
	f.clock.Set(epoch.Add(10 * time.Minute))
	f.want(f.count(numberA, "w2"), sms.QuotaAccepted, "", "the next window's first instant")
	f.want(f.count(numberA, "w2b"), sms.QuotaExceeded, sms.LimitRecipient, "the next window is full")

	// A day's window starts at midnight UTC.
	g := newQuotaFixture(t, newStore, sms.QuotaLimits{Recipient: sms.Limit{Count: 1, Window: 24 * time.Hour}})
	g.want(g.count(numberA, "d1"), sms.QuotaAccepted, "", "a day")
	v = g.count(numberA, "d1b")
	g.want(v, sms.QuotaExceeded, sms.LimitRecipient, "the day is full")
	if want := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC); !v.RetryAt.Equal(want) {
		t.Errorf("RetryAt = %v, want midnight UTC %v", v.RetryAt, want)
	}
}

func quotaPreviousWindow(t *testing.T, newStore NewQuotaStoreFunc) {
	f := newQuotaFixture(t, newStore, sms.QuotaLimits{Recipient: perTen(2)})
	f.want(f.count(numberA, "a"), sms.QuotaAccepted, "", "a in the first window")
	f.clock.Advance(10 * time.Minute)
	// a was counted in the window before: known, it takes no place now.
	f.want(f.count(numberA, "a"), sms.QuotaAccepted, "", "a again in the second window")
	f.want(f.count(numberA, "b"), sms.QuotaAccepted, "", "b in the second window")
	f.want(f.count(numberA, "c"), sms.QuotaAccepted, "", "c in the second window")
	f.want(f.count(numberA, "d"), sms.QuotaExceeded, sms.LimitRecipient, "the second window holds b and c")
	f.clock.Advance(10 * time.Minute)
	f.want(f.count(numberA, "e"), sms.QuotaAccepted, "", "e in the third window")
	// a's window is two windows back, and the second window counted
	// messages: a is a new message again.
	f.want(f.count(numberA, "a"), sms.QuotaAccepted, "", "a in the third window")
	f.want(f.count(numberA, "b"), sms.QuotaAccepted, "", "b (counted in the window before) in the third window")
	f.want(f.count(numberA, "f"), sms.QuotaExceeded, sms.LimitRecipient, "the third window holds e and a")
}

func quotaSuppression(t *testing.T, newStore NewQuotaStoreFunc) {
	ctx := context.Background()
	f := newQuotaFixture(t, newStore, sms.QuotaLimits{Recipient: perTen(2)})
	f.want(f.count(numberA, "before"), sms.QuotaAccepted, "", "before the opt-out")
	if err := f.store.Suppress(ctx, numberA); err != nil {
		t.Fatalf("Suppress error = %v", err)
	}
	if err := f.store.Suppress(ctx, numberA); err != nil {
		t.Fatalf("Suppress again error = %v", err)
	}
	f.want(f.count(numberA, "after"), sms.QuotaOptedOut, "", "a new message to a suppressed number")
	f.want(f.count(numberA, "before"), sms.QuotaOptedOut, "", "a message counted before the opt-out")
	f.want(f.count(numberB, "other"), sms.QuotaAccepted, "", "another number")
	// The list outlasts every window.
	f.clock.Advance(72 * time.Hour)
	f.want(f.count(numberA, "days-later"), sms.QuotaOptedOut, "", "three days later")
	on, err := f.store.Unsuppress(ctx, numberA)
	if err != nil || !on {
		t.Fatalf("Unsuppress = %v, %v; want true, nil", on, err)
	}
	on, err = f.store.Unsuppress(ctx, numberA)
	if err != nil || on {
		t.Fatalf("Unsuppress again = %v, %v; want false, nil", on, err)
	}
	if on, err := f.store.Unsuppress(ctx, "+14155550199"); err != nil || on {
		t.Fatalf("Unsuppress of a number never seen = %v, %v; want false, nil", on, err)
	}
	// Refusals while suppressed took no place.
	f.want(f.count(numberA, "x1"), sms.QuotaAccepted, "", "after the number is taken off the list")
	f.want(f.count(numberA, "x2"), sms.QuotaAccepted, "", "the window's second place")
	f.want(f.count(numberA, "x3"), sms.QuotaExceeded, sms.LimitRecipient, "the limit still holds")
	// A number suppressed after it was counted, and one first seen
	// through its opt-out.
	for _, n := range []string{numberB, "+14155550177"} {
		if err := f.store.Suppress(ctx, n); err != nil {
			t.Fatalf("Suppress(%s) error = %v", n, err)
		}
		f.want(f.count(n, "y"), sms.QuotaOptedOut, "", "a message to "+n+" after its opt-out")
	}
}

func quotaSuppressionLimitsOff(t *testing.T, newStore NewQuotaStoreFunc) {
	ctx := context.Background()
	f := newQuotaFixture(t, newStore, sms.QuotaLimits{})
	for i := range 20 {
		f.want(f.countAs(numberA, fmt.Sprint("m", i), "caller"), sms.QuotaAccepted, "", "with the limits off")
	}
	if err := f.store.Suppress(ctx, numberA); err != nil {
		t.Fatalf("Suppress error = %v", err)
	}
	// The list lives in the recipient limit's item: with the limit off it
	// is not consulted (and costs nothing), but it is kept.
	f.want(f.count(numberA, "m20"), sms.QuotaAccepted, "", "a suppressed number with the limits off")
	on, err := f.store.Unsuppress(ctx, numberA)
	if err != nil || !on {
		t.Fatalf("Unsuppress with the limits off = %v, %v; want true, nil", on, err)
	}
}

func quotaCaller(t *testing.T, newStore NewQuotaStoreFunc) {
	f := newQuotaFixture(t, newStore, sms.QuotaLimits{Caller: sms.Limit{Count: 2, Window: time.Hour}})
	f.want(f.countAs("+14155550111", "c1", "alice"), sms.QuotaAccepted, "", "alice's first")
	f.want(f.countAs("+14155550112", "c2", "alice"), sms.QuotaAccepted, "", "alice's second")
	v := f.countAs("+14155550113", "c3", "alice")
	f.want(v, sms.QuotaExceeded, sms.LimitCaller, "alice's third")
	if want := epoch.Add(time.Hour); !v.RetryAt.Equal(want) {
		t.Errorf("RetryAt = %v, want the hour's end %v", v.RetryAt, want)
	}
	f.want(f.countAs("+14155550113", "c4", "bob"), sms.QuotaAccepted, "", "bob has his own places")
	// Producers' messages have no caller.
	for i := range 5 {
		f.want(f.count("+14155550114", fmt.Sprint("p", i)), sms.QuotaAccepted, "", "a producer's message")
	}
	// Giving back frees the caller's place.
	g := newQuotaFixture(t, newStore, sms.QuotaLimits{Caller: sms.Limit{Count: 1, Window: time.Hour}})
	v = g.countAs(numberA, "g1", "carol")
	g.want(g.countAs(numberB, "g2", "carol"), sms.QuotaExceeded, sms.LimitCaller, "carol's second")
	g.giveBack(numberA, "g1", "carol", v.At)
	g.want(g.countAs(numberB, "g2", "carol"), sms.QuotaAccepted, "", "carol's second after a give-back")
	g.clock.Advance(time.Hour)
	g.want(g.countAs(numberB, "g3", "carol"), sms.QuotaAccepted, "", "carol's next hour")
}

func quotaCallerGivesBack(t *testing.T, newStore NewQuotaStoreFunc) {
	f := newQuotaFixture(t, newStore, sms.QuotaLimits{Recipient: perTen(2), Caller: sms.Limit{Count: 1, Window: time.Hour}})
	f.want(f.countAs(numberA, "r1", "dave"), sms.QuotaAccepted, "", "dave's first")
	f.want(f.countAs(numberA, "r2", "dave"), sms.QuotaExceeded, sms.LimitCaller, "dave's second")
	// r2's recipient place went back with the caller's refusal.
	f.want(f.countAs(numberA, "r3", "erin"), sms.QuotaAccepted, "", "erin's message to the same number")
	f.want(f.countAs(numberA, "r4", "frank"), sms.QuotaExceeded, sms.LimitRecipient, "the number's third")
}

func quotaConcurrent(t *testing.T, newStore NewQuotaStoreFunc) {
	const (
		workers        = 24
		recipientLimit = 7
		callerLimit    = 11
	)
	clock := NewClock(quotaStart)
	state := freshState()
	limits := sms.QuotaLimits{Recipient: perTen(recipientLimit), Caller: sms.Limit{Count: callerLimit, Window: time.Hour}}
	instances := []QuotaStore{
		newStore(t, QuotaSpec{State: state, Limits: limits, Clock: clock}),
		newStore(t, QuotaSpec{State: state, Limits: limits, Clock: clock}),
	}
	type result struct {
		id       string
		outcomes [2]sms.QuotaOutcome
	}
	// Every message to one number, each counted twice, once by each
	// instance, at the same time; then messages of one caller to distinct
	// numbers.
	results := make([]result, workers)
	var wg sync.WaitGroup
	for i := range workers {
		results[i].id = fmt.Sprint("msg-", i)
		for k, st := range instances {
			wg.Go(func() {
				v, err := st.Count(context.Background(), sms.Usage{MessageID: results[i].id, To: numberA})
				if err != nil {
					t.Errorf("Count error = %v", err)
					return
				}
				results[i].outcomes[k] = v.Outcome
			})
		}
	}
	wg.Wait()
	accepted := 0
	for _, r := range results {
		if r.outcomes[0] != r.outcomes[1] {
			t.Errorf("message %s: instances answered %v and %v; one message is counted once or refused by both", r.id, r.outcomes[0], r.outcomes[1])
		}
		if r.outcomes[0] == sms.QuotaAccepted {
			accepted++
		}
	}
	if accepted != recipientLimit {
		t.Errorf("messages accepted to one number = %d, want exactly %d", accepted, recipientLimit)
	}

	var mu sync.Mutex
	byCaller := 0
	for i := range workers {
		st := instances[i%2]
		wg.Go(func() {
			v, err := st.Count(context.Background(), sms.Usage{MessageID: fmt.Sprint("caller-msg-", i), To: fmt.Sprintf("+1415555%04d", 2000+i), Caller: "leaked-token"})
			if err != nil {
				t.Errorf("Count error = %v", err)
				return
			}
			if v.Outcome == sms.QuotaAccepted {
				mu.Lock()
				byCaller++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if byCaller != callerLimit {
		t.Errorf("messages accepted from one caller = %d, want exactly %d", byCaller, callerLimit)
	}
}
