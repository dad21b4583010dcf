package sms_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/conformance"
)

// TestApplyInAnyOrder merges every order of the conformance suite's
// realistic sequences and expects one record.
func TestApplyInAnyOrder(t *testing.T) {
	start := time.Date(2026, 3, 1, 10, 5, 0, 0, time.UTC)
	for name, seq := range conformance.StatusSequences(start) {
		t.Run(name, func(t *testing.T) {
			var first sms.Record
			n := 0
			conformance.Permutations(len(seq), func(order []int) {
				var r sms.Record
				for _, i := range order {
					r, _, _ = r.Apply(seq[i], start)
				}
				if n == 0 {
					first = r
				} else if !reflect.DeepEqual(r, first) {
					t.Fatalf("order %v ends in\n %+v\nthe first order in\n %+v", order, r, first)
				}
				n++
			})
			if n < 6 {
				t.Errorf("%d orders tried, want every order of %d changes", n, len(seq))
			}
			seen := map[sms.Status]bool{}
			for _, h := range first.History {
				if seen[h.Status] {
					t.Errorf("history lists %s twice: %+v", h.Status, first.History)
				}
				seen[h.Status] = true
			}
			if len(first.History) > sms.MaxHistory {
				t.Errorf("history has %d entries, want at most %d", len(first.History), sms.MaxHistory)
			}
		})
	}
}
