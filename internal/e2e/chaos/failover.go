package chaos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// LogEvent is one log line carrying an "event" field, as the failover
// scenario reads them: when, which provider, which function instance.
type LogEvent struct {
	At       time.Time
	Provider string
	Instance string
}

// Events returns the log lines of logs (JSON, one a line) whose "event" is
// event and whose "provider" is provider, in order. Lines that are not
// JSON objects are skipped: the audit reports those.
func Events(logs []byte, event, provider string) []LogEvent {
	var out []LogEvent
	for line := range bytes.SplitSeq(logs, []byte("\n")) {
		if !bytes.Contains(line, []byte(event)) {
			continue
		}
		var rec struct {
			Time     time.Time `json:"time"`
			Event    string    `json:"event"`
			Provider any       `json:"provider"`
			Instance string    `json:"instance"`
		}
		if json.Unmarshal(line, &rec) != nil || rec.Event != event {
			continue
		}
		if p, _ := rec.Provider.(string); p == provider {
			out = append(out, LogEvent{At: rec.Time, Provider: p, Instance: rec.Instance})
		}
	}
	return out
}

// FirstPerInstance returns the time of each instance's first event.
func FirstPerInstance(events []LogEvent) map[string]time.Time {
	out := map[string]time.Time{}
	for _, e := range events {
		if t, ok := out[e.Instance]; !ok || e.At.Before(t) {
			out[e.Instance] = e.At
		}
	}
	return out
}

// Delivery is a message (by its body) and a time: when a provider accepted
// it, or when a provider received a call for it.
type Delivery struct {
	Body string
	At   time.Time
}

// SkipReport says how well the circuit breakers kept calls away from a
// provider that was down: over the messages sent after every instance's
// breaker had opened once and before the provider came back, how many
// were sent without a call to it. A breaker's half-open probes call the
// provider on purpose and are left out.
type SkipReport struct {
	// From is when the last instance's breaker opened for the first time;
	// Until is when the provider came back. The window is [From, Until).
	From, Until time.Time
	// Messages were sent (first accepted by a provider) in the window.
	Messages int
	// Called of them had a call to the down provider in the window.
	Called int
	// Probes are the half-open probes that called the down provider in
	// the window.
	Probes int
}

// Share is the share of the window's messages, probes left out, sent
// without a call to the down provider; 0 when there are none. A probe
// whose message was sent outside the window still counts as a probe: the
// share errs on the low side.
func (r SkipReport) Share() float64 {
	counted := r.Messages - r.Probes
	if counted <= 0 {
		return 0
	}
	return 1 - float64(max(r.Called-r.Probes, 0))/float64(counted)
}

// String renders the report in a line.
func (r SkipReport) String() string {
	return fmt.Sprintf("window %v long: %d messages sent, %d with a call to the down provider, %d of those calls probes: %.1f %% sent without a call (probes left out)",
		r.Until.Sub(r.From).Round(time.Millisecond), r.Messages, r.Called, r.Probes, 100*r.Share())
}

// Skips measures the window that opens when every one of instances has an
// entry in opened (the first time its breaker opened) and closes at
// until. sent are the messages' first acceptances, downCalls the calls
// the down provider received, probes the probe events. It fails when an
// instance's breaker never opened before until.
func Skips(instances []string, opened map[string]time.Time, until time.Time, sent, downCalls []Delivery, probes []LogEvent) (SkipReport, error) {
	r := SkipReport{Until: until}
	for _, in := range instances {
		t, ok := opened[in]
		if !ok || !t.Before(until) {
			return r, fmt.Errorf("the breaker of instance %q never opened while the provider was down", in)
		}
		if t.After(r.From) {
			r.From = t
		}
	}
	in := func(t time.Time) bool { return !t.Before(r.From) && t.Before(r.Until) }
	called := map[string]bool{}
	for _, c := range downCalls {
		if in(c.At) {
			called[c.Body] = true
		}
	}
	for _, s := range sent {
		if !in(s.At) {
			continue
		}
		r.Messages++
		if called[s.Body] {
			r.Called++
		}
	}
	for _, p := range probes {
		if in(p.At) {
			r.Probes++
		}
	}
	return r, nil
}
