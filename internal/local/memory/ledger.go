package memory

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/fluxkit/sms/internal/sms"
)

// minSweep is the record count below which the ledger never sweeps.
const minSweep = 64

// Ledger is an in-process sms.Ledger with the semantics of the DynamoDB
// ledger: a pending record expires when its lease lapses, a done record
// after its keep duration. Expiry is checked on every access; expired
// records are also swept lazily whenever the map has doubled since the
// last sweep, so memory stays proportional to the live records at an
// amortized constant cost per call. It is safe for concurrent use.
type Ledger struct {
	clock sms.Clock

	mu      sync.Mutex
	records map[string]ledgerRecord
	sweepAt int // sweep when len(records) reaches this
}

type ledgerRecord struct {
	done        bool
	fingerprint string
	leaseUntil  time.Time
	expiresAt   time.Time
	outcome     []byte
}

// LedgerConfig holds the options of a Ledger.
type LedgerConfig struct {
	// Clock is the time source; nil means sms.SystemClock.
	Clock sms.Clock
}

// NewLedger returns an empty ledger.
func NewLedger(cfg LedgerConfig) *Ledger {
	if cfg.Clock == nil {
		cfg.Clock = sms.SystemClock{}
	}
	return &Ledger{clock: cfg.Clock, records: make(map[string]ledgerRecord), sweepAt: minSweep}
}

// Claim takes key for lease unless a live record holds it; see sms.Ledger.
func (l *Ledger) Claim(ctx context.Context, key, fingerprint string, lease time.Duration) (sms.Claim, error) {
	if err := checkArgs(ctx, "claim", key, lease); err != nil {
		return sms.Claim{}, err
	}
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if r, ok := l.records[key]; ok && !r.expiresAt.Before(now) {
		switch {
		case r.fingerprint != fingerprint:
			return sms.Claim{State: sms.Mismatch}, nil
		case r.done:
			return sms.Claim{State: sms.Done, Outcome: clone(r.outcome)}, nil
		case !r.leaseUntil.Before(now):
			return sms.Claim{State: sms.Held}, nil
		}
	}
	until := now.Add(lease)
	l.put(key, ledgerRecord{fingerprint: fingerprint, leaseUntil: until, expiresAt: until}, now)
	return sms.Claim{State: sms.Claimed}, nil
}

// Complete records key as done with outcome, kept for keep from now. It
// overwrites whatever the key held (a lapsed claim included).
func (l *Ledger) Complete(ctx context.Context, key, fingerprint string, outcome []byte, keep time.Duration) error {
	if err := checkArgs(ctx, "complete", key, keep); err != nil {
		return err
	}
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.put(key, ledgerRecord{done: true, fingerprint: fingerprint, leaseUntil: now, expiresAt: now.Add(keep), outcome: clone(outcome)}, now)
	return nil
}

// Release deletes key if it is pending; a done record stays.
func (l *Ledger) Release(ctx context.Context, key string) error {
	if err := checkArgs(ctx, "release", key, 1); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if r, ok := l.records[key]; ok && !r.done {
		delete(l.records, key)
	}
	return nil
}

// put stores r under key and sweeps expired records once the map has
// doubled since the last sweep. l.mu must be held.
func (l *Ledger) put(key string, r ledgerRecord, now time.Time) {
	l.records[key] = r
	if len(l.records) < l.sweepAt {
		return
	}
	for k, r := range l.records {
		if r.expiresAt.Before(now) {
			delete(l.records, k)
		}
	}
	l.sweepAt = max(2*len(l.records), minSweep)
}

// Len reports how many records the ledger holds, expired ones not yet
// swept included.
func (l *Ledger) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.records)
}

func checkArgs(ctx context.Context, op, key string, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return sms.E(sms.KindUnavailable, "ledger unavailable", sms.Cause(fmt.Errorf("memory: ledger %s: %w", op, err)))
	}
	if key == "" {
		return sms.E(sms.KindInternal, "internal error", sms.Cause(fmt.Errorf("memory: ledger %s: empty key", op)))
	}
	if d <= 0 {
		return sms.E(sms.KindInternal, "internal error", sms.Cause(fmt.Errorf("memory: ledger %s: duration %v is not positive", op, d)))
	}
	return nil
}

func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}
