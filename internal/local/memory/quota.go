package memory

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/fluxkit/sms/internal/sms"
)

// QuotaConfig configures a QuotaStore.
type QuotaConfig struct {
	// Limits are the recipient and caller limits; a zero Limit is off.
	Limits sms.QuotaLimits
	// Clock is the time source of the windows; nil means sms.SystemClock.
	Clock sms.Clock
	// State is the state the store shares with other stores, the way
	// instances share the DynamoDB table; nil means one of its own.
	State *QuotaState
}

// QuotaState is the counts and suppression list stores share. The zero
// value holds nothing.
type QuotaState struct {
	mu         sync.Mutex
	recipients map[string]*recipientItem
	callers    map[callerWindow]int
}

// recipientItem is what the DynamoDB store keeps in a number's item: the
// window it counts, the ids counted in it and in the window before it, and
// whether the number is suppressed.
type recipientItem struct {
	window     time.Time // zero: none counted
	ids, prev  map[string]bool
	suppressed bool
}

// callerWindow is one caller's window.
type callerWindow struct {
	caller string
	start  int64 // unix ns
}

// QuotaStore is an in-process sms.QuotaStore and suppression list with the
// semantics of the DynamoDB one (package dynamo): a number's messages are
// counted by id, once, in fixed windows aligned to the Unix epoch, and ids
// counted in the window before the current one are still known; a caller's
// messages are counted per window. It is safe for concurrent use.
type QuotaStore struct {
	limits sms.QuotaLimits
	clock  sms.Clock
	state  *QuotaState
}

// NewQuotaStore returns a store for cfg.
func NewQuotaStore(cfg QuotaConfig) *QuotaStore {
	if cfg.Clock == nil {
		cfg.Clock = sms.SystemClock{}
	}
	if cfg.State == nil {
		cfg.State = &QuotaState{}
	}
	return &QuotaStore{limits: cfg.Limits, clock: cfg.Clock, state: cfg.State}
}

// Count implements sms.QuotaStore.
func (q *QuotaStore) Count(ctx context.Context, u sms.Usage) (sms.QuotaVerdict, error) {
	if err := q.check(ctx, "count", u.To); err != nil {
		return sms.QuotaVerdict{}, err
	}
	if err := sms.CheckUsage(u); err != nil {
		return sms.QuotaVerdict{}, err
	}
	now := q.clock.Now()
	st := q.state
	st.mu.Lock()
	defer st.mu.Unlock()
	it := st.recipients[u.To]
	counted := false
	if lim := q.limits.Recipient; lim.On() {
		// The suppression list is checked with the count, in the number's
		// item; with the limit off it is not consulted.
		if it != nil && it.suppressed {
			return sms.QuotaVerdict{Outcome: sms.QuotaOptedOut, At: now}, nil
		}
		if it == nil {
			it = &recipientItem{}
			st.recipient(u.To, it)
		}
		start, end := lim.WindowOf(now)
		if it.window.After(start) {
			// Another instance's clock is ahead: count in its window.
			start, end = it.window, it.window.Add(lim.Window)
		}
		switch {
		case it.ids[u.MessageID] || it.prev[u.MessageID]:
		case it.window.Equal(start) && len(it.ids) >= lim.Count:
			return sms.QuotaVerdict{Outcome: sms.QuotaExceeded, Limit: sms.LimitRecipient, RetryAt: end, At: now}, nil
		case it.window.Equal(start):
			it.ids[u.MessageID], counted = true, true
		default:
			it.window, it.prev, it.ids = start, it.ids, map[string]bool{u.MessageID: true}
			counted = true
		}
	}
	if lim := q.limits.Caller; lim.On() && u.Caller != "" {
		start, end := lim.WindowOf(now)
		k := callerWindow{caller: u.Caller, start: start.UnixNano()}
		if st.callers[k] >= lim.Count {
			if counted {
				delete(it.ids, u.MessageID)
			}
			return sms.QuotaVerdict{Outcome: sms.QuotaExceeded, Limit: sms.LimitCaller, RetryAt: end, At: now}, nil
		}
		if st.callers == nil {
			st.callers = map[callerWindow]int{}
		}
		st.callers[k]++
	}
	return sms.QuotaVerdict{Outcome: sms.QuotaAccepted, At: now}, nil
}

// GiveBack implements sms.QuotaStore: u's place in its number's current
// window, if it holds one, and its caller's place in the window of at.
func (q *QuotaStore) GiveBack(ctx context.Context, u sms.Usage, at time.Time) error {
	if err := q.check(ctx, "give back", u.To); err != nil {
		return err
	}
	if err := sms.CheckUsage(u); err != nil {
		return err
	}
	st := q.state
	st.mu.Lock()
	defer st.mu.Unlock()
	if it := st.recipients[u.To]; it != nil {
		// The ids of the number's current window only: a window that has
		// ended limits nothing any more.
		delete(it.ids, u.MessageID)
	}
	if lim := q.limits.Caller; lim.On() && u.Caller != "" {
		start, _ := lim.WindowOf(at)
		k := callerWindow{caller: u.Caller, start: start.UnixNano()}
		if st.callers[k] > 0 {
			st.callers[k]--
		}
	}
	return nil
}

// Suppress puts number on the suppression list (sms.Suppressor).
func (q *QuotaStore) Suppress(ctx context.Context, number string) error {
	if err := q.check(ctx, "suppress", number); err != nil {
		return err
	}
	st := q.state
	st.mu.Lock()
	defer st.mu.Unlock()
	it := st.recipients[number]
	if it == nil {
		it = &recipientItem{}
		st.recipient(number, it)
	}
	it.suppressed = true
	return nil
}

// Unsuppress takes number off the suppression list and reports whether it
// was on it.
func (q *QuotaStore) Unsuppress(ctx context.Context, number string) (bool, error) {
	if err := q.check(ctx, "unsuppress", number); err != nil {
		return false, err
	}
	st := q.state
	st.mu.Lock()
	defer st.mu.Unlock()
	it := st.recipients[number]
	if it == nil || !it.suppressed {
		return false, nil
	}
	it.suppressed = false
	return true, nil
}

// recipient stores a number's new item.
func (st *QuotaState) recipient(number string, it *recipientItem) {
	if st.recipients == nil {
		st.recipients = map[string]*recipientItem{}
	}
	if it.ids == nil {
		it.ids = map[string]bool{}
	}
	st.recipients[number] = it
}

// check refuses an operation on a done context or without a number, as
// the DynamoDB store would.
func (q *QuotaStore) check(ctx context.Context, op, number string) error {
	if err := ctx.Err(); err != nil {
		return sms.E(sms.KindUnavailable, "quota store unavailable", sms.Cause(fmt.Errorf("memory: quota %s: %w", op, err)))
	}
	if number == "" {
		return sms.E(sms.KindInternal, "internal error", sms.Cause(fmt.Errorf("memory: quota %s: no number", op)))
	}
	return nil
}
