package chaos_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/e2e/chaos"
	"github.com/fluxkit/sms/internal/sms"
)

func TestReceiptOutcome(t *testing.T) {
	tests := []struct {
		provider, status, code string
		want                   chaos.Outcome
		ok                     bool
	}{
		{"twilio", "queued", "", chaos.Outcome{Status: sms.StatusSent}, true},
		{"twilio", "sent", "", chaos.Outcome{Status: sms.StatusSent}, true},
		{"twilio", "delivered", "", chaos.Outcome{Status: sms.StatusDelivered}, true},
		{"twilio", "read", "", chaos.Outcome{Status: sms.StatusDelivered}, true},
		{"twilio", "undelivered", "30003", chaos.Outcome{sms.StatusUndelivered, "undelivered", "30003"}, true},
		{"twilio", "failed", "30008", chaos.Outcome{sms.StatusFailed, "send_failed", "30008"}, true},
		{"twilio", "canceled", "", chaos.Outcome{Status: sms.StatusFailed, Code: "canceled"}, true},
		{"twilio", "failed", "30036", chaos.Outcome{sms.StatusExpired, "expired", "30036"}, true},
		{"twilio", "undelivered", "30036", chaos.Outcome{sms.StatusExpired, "expired", "30036"}, true},
		{"twilio", "receiving", "", chaos.Outcome{}, false},
		{"vonage", "accepted", "0", chaos.Outcome{Status: sms.StatusSent}, true},
		{"vonage", "buffered", "0", chaos.Outcome{Status: sms.StatusSent}, true},
		{"vonage", "delivered", "0", chaos.Outcome{Status: sms.StatusDelivered}, true},
		{"vonage", "expired", "0", chaos.Outcome{Status: sms.StatusExpired, Code: "expired"}, true},
		{"vonage", "failed", "2", chaos.Outcome{sms.StatusUndelivered, "undelivered", "2"}, true},
		{"vonage", "rejected", "6", chaos.Outcome{sms.StatusUndelivered, "undelivered", "6"}, true},
		{"vonage", "sent", "0", chaos.Outcome{}, false},
		{"other", "delivered", "", chaos.Outcome{}, false},
	}
	for _, tt := range tests {
		got, ok := chaos.ReceiptOutcome(tt.provider, tt.status, tt.code)
		if got != tt.want || ok != tt.ok {
			t.Errorf("chaos.ReceiptOutcome(%s, %s, %q) = %v, %v; want %v, %v", tt.provider, tt.status, tt.code, got, ok, tt.want, tt.ok)
		}
	}
}

func TestMoves(t *testing.T) {
	tests := []struct {
		from     sms.Status
		fromCode string
		to       sms.Status
		want     bool
	}{
		{"", "", sms.StatusDelivered, true},
		{sms.StatusQueued, "", sms.StatusSent, true},
		{sms.StatusQueued, "", sms.StatusDelivered, true},
		{sms.StatusSent, "", sms.StatusQueued, false},
		{sms.StatusSent, "", sms.StatusSent, false},
		{sms.StatusDelivered, "", sms.StatusSent, false},
		{sms.StatusDelivered, "", sms.StatusUndelivered, false},
		{sms.StatusUndelivered, "", sms.StatusDelivered, true},
		{sms.StatusUndelivered, "", sms.StatusFailed, false},
		{sms.StatusFailed, "send_failed", sms.StatusSent, false},
		{sms.StatusFailed, sms.CodeDeadLettered, sms.StatusSent, true},
		{sms.StatusFailed, sms.CodeDeadLettered, sms.StatusQueued, false},
		{sms.StatusScheduled, "", sms.StatusCanceled, true},
		{sms.StatusQueued, "", sms.StatusCanceled, false},
		{sms.StatusSent, "", "bogus", false},
	}
	for _, tt := range tests {
		if got := chaos.Moves(tt.from, tt.fromCode, tt.to); got != tt.want {
			t.Errorf("chaos.Moves(%q, %q, %q) = %v, want %v", tt.from, tt.fromCode, tt.to, got, tt.want)
		}
	}
}

// TestMovesAgreesWithAdvance: the rule written out for the chaos test and
// the service's own agree on every pair of statuses; if they ever part,
// one of them no longer says what docs/status.md says.
func TestMovesAgreesWithAdvance(t *testing.T) {
	from := append([]sms.Status{""}, sms.RecordStatuses...)
	for _, f := range from {
		for _, code := range []string{"", sms.CodeDeadLettered} {
			for _, to := range sms.RecordStatuses {
				if got, want := chaos.Moves(f, code, to), sms.Advance(f, code, to); got != want {
					t.Errorf("chaos.Moves(%q, %q, %q) = %v, sms.Advance says %v", f, code, to, got, want)
				}
			}
		}
	}
}

func TestTallyEvents(t *testing.T) {
	moves := []chaos.Move{
		{ServiceID: "a", To: sms.StatusQueued},
		{ServiceID: "a", From: sms.StatusQueued, To: sms.StatusSent},
		{ServiceID: "a", From: sms.StatusSent, To: sms.StatusDelivered},
		{ServiceID: "b", To: sms.StatusSent},
		{ServiceID: "b", From: sms.StatusSent, To: sms.StatusUndelivered},
	}
	ev := func(id string, prev, st sms.Status) chaos.Event {
		return chaos.Event{EventKey: chaos.EventKey{ServiceID: id, Status: st}, Previous: prev}
	}
	received := []chaos.Event{
		ev("a", "", sms.StatusQueued), ev("a", sms.StatusQueued, sms.StatusSent), ev("a", sms.StatusQueued, sms.StatusSent),
		ev("a", sms.StatusQueued, sms.StatusDelivered), ev("b", "", sms.StatusSent), ev("c", "", sms.StatusSent),
	}
	got := chaos.TallyEvents(moves, received)
	if got.Expected != 5 || got.Received != 6 || got.Distinct != 5 || got.Duplicated != 1 {
		t.Errorf("expected, received, distinct, duplicated = %d, %d, %d, %d; want 5, 6, 5, 1", got.Expected, got.Received, got.Distinct, got.Duplicated)
	}
	if want := []chaos.EventKey{{"b", sms.StatusUndelivered}}; !slices.Equal(got.Lost, want) {
		t.Errorf("lost = %v, want %v", got.Lost, want)
	}
	if want := []chaos.EventKey{{"c", sms.StatusSent}}; !slices.Equal(got.Unexpected, want) {
		t.Errorf("unexpected = %v, want %v", got.Unexpected, want)
	}
	if want := []chaos.EventKey{{"a", sms.StatusDelivered}}; !slices.Equal(got.WrongPrevious, want) {
		t.Errorf("wrong previousStatus = %v, want %v (delivered left sent, the event says queued)", got.WrongPrevious, want)
	}
}

func TestSummarizeReceipts(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	hist := func(sts ...sms.Status) []sms.HistoryEntry {
		out := make([]sms.HistoryEntry, len(sts))
		for i, s := range sts {
			out[i] = sms.HistoryEntry{Status: s, At: at.Add(time.Duration(i) * time.Second)}
		}
		return out
	}
	delivered := chaos.Outcome{Status: sms.StatusDelivered}
	undelivered := chaos.Outcome{sms.StatusUndelivered, "undelivered", "30003"}
	sent := chaos.Outcome{Status: sms.StatusSent}
	tracked := []chaos.Tracked{
		// right, in order
		{ServiceID: "ok", Want: delivered, Reported: []chaos.Outcome{sent, delivered}, Found: true, Got: delivered, History: hist(sms.StatusSent, sms.StatusDelivered)},
		// right, a reordered receipt recorded before the send path's
		// write: allowed, counted apart
		{ServiceID: "reordered", Want: delivered, Reported: []chaos.Outcome{delivered, sent}, Found: true, Got: delivered,
			History: hist(sms.StatusQueued, sms.StatusDelivered, sms.StatusSent)},
		// wrong provider code
		{ServiceID: "code", Want: undelivered, Found: true, Got: chaos.Outcome{sms.StatusUndelivered, "undelivered", "30005"},
			History: hist(sms.StatusSent, sms.StatusUndelivered)},
		// no record
		{ServiceID: "missing", Want: delivered},
		// moved back: ends sent after having been undelivered
		{ServiceID: "back", Want: sent, Found: true, Got: sent, History: hist(sms.StatusSent, sms.StatusUndelivered)},
		// a dead-lettered failure a redrive moved on from: not a regression
		{ServiceID: "redriven", Want: sent, Found: true, Got: sent, History: hist(sms.StatusQueued, sms.StatusFailed, sms.StatusSent), DeadLettered: true},
		// an acknowledged receipt not in the history
		{ServiceID: "forgot", Want: delivered, Reported: []chaos.Outcome{sent, delivered}, Found: true, Got: delivered, History: hist(sms.StatusDelivered)},
	}
	moves := []chaos.Move{
		{ServiceID: "ok", To: sms.StatusSent},
		{ServiceID: "ok", From: sms.StatusSent, To: sms.StatusDelivered},
		{ServiceID: "x", From: sms.StatusDelivered, To: sms.StatusSent},
		{ServiceID: "y", From: sms.StatusUndelivered, To: sms.StatusFailed},
	}
	r := chaos.SummarizeReceipts(tracked, moves)
	if r.Messages != 7 || r.Right != 5 || r.Wrong != 2 {
		t.Errorf("messages, right, wrong = %d, %d, %d; want 7, 5, 2", r.Messages, r.Right, r.Wrong)
	}
	if r.Regressions != 3 {
		t.Errorf("regressions = %d, want 3 (two forbidden moves, one record ending below its history)", r.Regressions)
	}
	if r.HistoryMissing != 1 {
		t.Errorf("histories lacking a receipt = %d, want 1", r.HistoryMissing)
	}
	if r.OutOfRankOrder != 2 {
		t.Errorf("out of rank order = %d, want 2 (reordered, redriven)", r.OutOfRankOrder)
	}
	if r.Final[sms.StatusDelivered] != 3 || r.Final[sms.StatusSent] != 2 || r.Final[sms.StatusUndelivered] != 1 {
		t.Errorf("final = %v, want delivered 3, sent 2, undelivered 1", r.Final)
	}
	if r.OK() {
		t.Error("OK() = true, want false")
	}
	for _, want := range []string{"x: moved delivered", "y: moved undelivered", "back: ends sent after having been undelivered", "missing: no status record", "code: record undelivered", "forgot: history"} {
		if !slices.ContainsFunc(r.Offenders, func(o string) bool { return strings.HasPrefix(o, want) }) {
			t.Errorf("offenders %q: none starts with %q", r.Offenders, want)
		}
	}
	if s := r.String(); !strings.Contains(s, "records 7: right 5, wrong 2") || !strings.Contains(s, "regressions 3") {
		t.Errorf("String() = %q", s)
	}
	if clean := chaos.SummarizeReceipts(tracked[:2], moves[:2]); !clean.OK() {
		t.Errorf("a clean run: OK() = false: %s", clean)
	}
}
