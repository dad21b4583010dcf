package memory

import (
	"sync"
	"testing"

	"github.com/fluxkit/sms/internal/testing/conformance"
)

func TestQuotaConformance(t *testing.T) {
	var (
		mu     sync.Mutex
		states = map[string]*QuotaState{}
	)
	conformance.Quota(t, func(t *testing.T, spec conformance.QuotaSpec) conformance.QuotaStore {
		mu.Lock()
		defer mu.Unlock()
		st, ok := states[spec.State]
		if !ok {
			st = &QuotaState{}
			states[spec.State] = st
		}
		return NewQuotaStore(QuotaConfig{Limits: spec.Limits, Clock: spec.Clock, State: st})
	})
}
