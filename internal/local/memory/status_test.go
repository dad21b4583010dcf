package memory

import (
	"context"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/conformance"
)

func TestStatusStoreConformance(t *testing.T) {
	conformance.StatusStore(t, func(t *testing.T, clock sms.Clock, retention time.Duration) sms.StatusStore {
		return NewStatusStore(StatusConfig{Clock: clock, Retention: retention})
	})
}

func TestStatusStoreSweepsExpiredRecords(t *testing.T) {
	ctx := context.Background()
	clock := conformance.NewClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	s := NewStatusStore(StatusConfig{Clock: clock, Retention: time.Hour})
	for i := range 1000 {
		if _, err := s.Record(ctx, sms.NewServiceID(), sms.Change{Status: sms.StatusSent, ProviderMessageID: sms.NewID()}); err != nil {
			t.Fatalf("Record error = %v", err)
		}
		if i%50 == 49 {
			clock.Advance(2 * time.Hour)
		}
	}
	if got, max := s.Len(), 2*minSweep; got > max {
		t.Errorf("Len after 1,000 expired records = %d, want at most %d", got, max)
	}
	if got, max := len(s.byProvider), 2*minSweep; got > max {
		t.Errorf("provider index after 1,000 expired records = %d entries, want at most %d", got, max)
	}
	live := sms.NewServiceID()
	if _, err := s.Record(ctx, live, sms.Change{Status: sms.StatusSent, ProviderMessageID: "SMlive"}); err != nil {
		t.Fatal(err)
	}
	for range 200 {
		if _, err := s.Record(ctx, sms.NewServiceID(), sms.Change{Status: sms.StatusSent}); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := s.Get(ctx, "SMlive"); err != nil || r.ServiceID != live {
		t.Errorf("Get(live provider id) = %s, %v; want %s (live records are never swept)", r.ServiceID, err, live)
	}
}

func TestStatusStoreGetReturnsACopy(t *testing.T) {
	ctx := context.Background()
	s := NewStatusStore(StatusConfig{})
	id := sms.NewServiceID()
	if _, err := s.Record(ctx, id, sms.Change{Status: sms.StatusFailed, Error: &sms.Failure{Code: "provider_rejected"}}); err != nil {
		t.Fatal(err)
	}
	r, err := s.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	r.Error.Code = "changed"
	r.History[0].Status = "changed"
	again, _ := s.Get(ctx, id)
	if again.Error.Code != "provider_rejected" || again.History[0].Status != sms.StatusFailed {
		t.Errorf("stored record changed through a returned copy: %+v", again)
	}
}
