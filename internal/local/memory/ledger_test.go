package memory

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/conformance"
)

func TestLedgerConformance(t *testing.T) {
	conformance.Ledger(t, func(t *testing.T, clock sms.Clock) sms.Ledger {
		return NewLedger(LedgerConfig{Clock: clock})
	})
}

func TestLedgerSweepsExpiredRecords(t *testing.T) {
	ctx := context.Background()
	clock := conformance.NewClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	l := NewLedger(LedgerConfig{Clock: clock})
	// 1,000 short-lived claims, each expired before the next batch.
	for i := range 1000 {
		if _, err := l.Claim(ctx, fmt.Sprintf("old-%d", i), "fp", time.Second); err != nil {
			t.Fatalf("Claim error = %v", err)
		}
		if i%50 == 49 {
			clock.Advance(2 * time.Second)
		}
	}
	// Each sweep keeps at most the live batch (50) plus what came since.
	if got, max := l.Len(), 2*minSweep; got > max {
		t.Errorf("Len after 1,000 expired claims = %d, want at most %d", got, max)
	}
	// Live records are never swept.
	for i := range 200 {
		if err := l.Complete(ctx, fmt.Sprintf("live-%d", i), "fp", []byte("r"), time.Hour); err != nil {
			t.Fatalf("Complete error = %v", err)
		}
	}
	clock.Advance(time.Minute)
	for i := range 200 {
		c, err := l.Claim(ctx, fmt.Sprintf("live-%d", i), "fp", time.Second)
		if err != nil || c.State != sms.Done {
			t.Fatalf("Claim(live-%d) = %v, %v; want Done", i, c.State, err)
		}
	}
}

func BenchmarkMemoryLedgerClaimComplete(b *testing.B) {
	l := NewLedger(LedgerConfig{})
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		key := fmt.Sprintf("k%d", i)
		i++
		if c, err := l.Claim(ctx, key, "fp", 30*time.Second); err != nil || c.State != sms.Claimed {
			b.Fatalf("Claim = %v, %v", c.State, err)
		}
		if err := l.Complete(ctx, key, "fp", []byte(`{"messageId":"SM1"}`), 24*time.Hour); err != nil {
			b.Fatalf("Complete = %v", err)
		}
	}
}
