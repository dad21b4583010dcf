package memory

import (
	"context"
	"fmt"
	"time"

	"github.com/fluxkit/sms/internal/sms"
)

// Transition moves the record of serviceID from status from to status to
// when it is in from; see sms.Transitioner. The record after the move is
// the domain's merge (sms.Record.Apply) of the change to to.
func (s *StatusStore) Transition(ctx context.Context, serviceID string, from, to sms.Status, at time.Time) (sms.Record, bool, error) {
	if err := ctx.Err(); err != nil {
		return sms.Record{}, false, sms.E(sms.KindUnavailable, "status store unavailable", sms.Cause(fmt.Errorf("memory: status transition: %w", err)))
	}
	if err := sms.CheckTransitionArgs(serviceID, from, to); err != nil {
		return sms.Record{}, false, fmt.Errorf("memory: status transition: %w", err)
	}
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.live(serviceID, now)
	if !ok {
		return sms.Record{}, false, nil
	}
	if r.Status != from {
		return r, false, nil
	}
	next, _, _ := r.Apply(sms.Change{Status: to, At: at}, now)
	s.records[serviceID] = next
	return next.Clone(), true, nil
}
