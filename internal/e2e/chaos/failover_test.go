package chaos

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestEvents(t *testing.T) {
	logs := strings.Join([]string{
		`{"time":"2026-12-01T10:00:01Z","event":"circuit_open","provider":"twilio","instance":"send-1"}`,
		`{"time":"2026-12-01T10:00:02Z","event":"circuit_open","provider":"vonage","instance":"send-1"}`,
		`{"time":"2026-12-01T10:00:03Z","event":"circuit_probe","provider":"twilio","instance":"send-1"}`,
		`{"time":"2026-12-01T10:00:00Z","event":"circuit_open","provider":"twilio","instance":"drain-0"}`,
		`{"time":"2026-12-01T10:00:04Z","event":"circuit_open","provider":"twilio","instance":"send-1"}`,
		`{"time":"2026-12-01T10:00:05Z","event":"provider_failover","provider":{"name":"twilio"},"instance":"send-1"}`,
		`not json circuit_open`,
	}, "\n")
	got := Events([]byte(logs), "circuit_open", "twilio")
	if len(got) != 3 {
		t.Fatalf("Events = %+v, want the 3 twilio circuit_open lines", got)
	}
	first := FirstPerInstance(got)
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	if !first["send-1"].Equal(at("2026-12-01T10:00:01Z")) || !first["drain-0"].Equal(at("2026-12-01T10:00:00Z")) || len(first) != 2 {
		t.Errorf("FirstPerInstance = %v, want send-1 at 10:00:01 and drain-0 at 10:00:00", first)
	}
}

func TestSkips(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	opened := map[string]time.Time{"a": at(1), "b": at(3)}
	sent := []Delivery{
		{"m0", at(2)},  // before every breaker opened: not counted
		{"m1", at(4)},  // clean
		{"m2", at(5)},  // called the down provider (a probe)
		{"m3", at(6)},  // clean
		{"m4", at(7)},  // called the down provider (not a probe)
		{"m5", at(10)}, // after the provider came back: not counted
	}
	calls := []Delivery{{"m0", at(2)}, {"m2", at(5)}, {"m4", at(7)}, {"m5", at(10)}}
	probes := []LogEvent{{At: at(5)}, {At: at(11)}}
	r, err := Skips([]string{"a", "b"}, opened, at(9), sent, calls, probes)
	if err != nil {
		t.Fatal(err)
	}
	if r.Messages != 4 || r.Called != 2 || r.Probes != 1 || !r.From.Equal(at(3)) {
		t.Errorf("report %+v, want 4 messages from 10:00:03, 2 with a call, 1 probe", r)
	}
	if got, want := r.Share(), 2.0/3.0; math.Abs(got-want) > 1e-9 {
		t.Errorf("Share = %v, want %v (2 clean of 3 that are not probes)", got, want)
	}
	// More probes in the window than messages with a call (a probe's
	// message sent after the window): never above 1.
	if got := (SkipReport{Messages: 10, Called: 1, Probes: 3}).Share(); got != 1 {
		t.Errorf("Share with more probes than calls = %v, want 1", got)
	}
	if _, err := Skips([]string{"a", "c"}, opened, at(9), sent, calls, probes); err == nil {
		t.Error("Skips with an instance whose breaker never opened: nil error")
	}
	if _, err := Skips([]string{"a", "b"}, opened, at(2), sent, calls, probes); err == nil {
		t.Error("Skips with a breaker that opened after the provider came back: nil error")
	}
}
