package conformance

import (
	"slices"
	"time"
)

// MaxInWindow returns the largest number of times in any half-open window
// [t, t+window): the figure a rate limit bounds, with times the moments
// the provider received (or a caller woke up to make) each call.
func MaxInWindow(times []time.Time, window time.Duration) int {
	sorted := slices.Clone(times)
	slices.SortFunc(sorted, time.Time.Compare)
	best, j := 0, 0
	for i, start := range sorted {
		j = max(j, i)
		for j < len(sorted) && sorted[j].Sub(start) < window {
			j++
		}
		best = max(best, j-i)
	}
	return best
}
