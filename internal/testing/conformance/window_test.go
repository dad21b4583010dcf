package conformance

import (
	"testing"
	"time"
)

func TestMaxInWindow(t *testing.T) {
	epoch := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(ms ...int) []time.Time {
		var ts []time.Time
		for _, m := range ms {
			ts = append(ts, epoch.Add(time.Duration(m)*time.Millisecond))
		}
		return ts
	}
	tests := []struct {
		times []time.Time
		want  int
	}{
		{nil, 0},
		{at(0), 1},
		{at(0, 999), 2},
		{at(0, 1000), 1},
		{at(1000, 0, 500, 1499, 1500), 3},
		{at(0, 0, 0), 3},
		{at(0, 100, 200, 1100, 1150, 1199), 4},
	}
	for _, tt := range tests {
		if got := MaxInWindow(tt.times, time.Second); got != tt.want {
			t.Errorf("MaxInWindow(%v) = %d, want %d", tt.times, got, tt.want)
		}
	}
}
