package memory

import (
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/conformance"
)

func TestStatusTransitionConformance(t *testing.T) {
	conformance.StatusTransition(t, func(t *testing.T, clock sms.Clock, retention time.Duration) conformance.TransitionStore {
		return NewStatusStore(StatusConfig{Clock: clock, Retention: retention})
	})
}
