package dynamo

import (
	"context"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/conformance"
)

func TestStatusTransitionConformance(t *testing.T) {
	conformance.StatusTransition(t, func(t *testing.T, clock sms.Clock, retention time.Duration) conformance.TransitionStore {
		return NewStatusStore(newCountingAPI(), newTable(t), StatusConfig{Clock: clock, Retention: retention})
	})
}

// TestStatusTransitionRequests counts the requests of a transition: one
// UpdateItem whether it moves the record, finds it in another status or
// finds none (docs/scheduling.md quotes it).
func TestStatusTransitionRequests(t *testing.T) {
	api := newStatusCounter()
	clock := conformance.NewClock(epoch)
	s := NewStatusStore(api, newTable(t), StatusConfig{Clock: clock})
	ctx := context.Background()
	id := sms.NewServiceID()
	if _, err := s.Record(ctx, id, sms.Change{Status: sms.StatusScheduled, MessageID: id, Owner: sms.CallerOwner("alice")}); err != nil {
		t.Fatal(err)
	}
	api.take()
	for _, tt := range []struct {
		name      string
		id        string
		wantMoved bool
	}{
		{"moves", id, true},
		{"already moved", id, false},
		{"absent", sms.NewServiceID(), false},
	} {
		_, moved, err := s.Transition(ctx, tt.id, sms.StatusScheduled, sms.StatusQueued, time.Time{})
		if err != nil || moved != tt.wantMoved {
			t.Errorf("%s: Transition = moved %v, %v; want moved %v", tt.name, moved, err, tt.wantMoved)
		}
		if got := api.take(); len(got) != 1 || got["UpdateItem"] != 1 {
			t.Errorf("%s: requests = %v, want one UpdateItem", tt.name, got)
		}
	}
}
