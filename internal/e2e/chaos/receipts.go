package chaos

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/fluxkit/sms/internal/sms"
)

// Outcome is what a status record must say of a message: its status, its
// error's code and the provider's code in that error ("" for a status
// without an error).
type Outcome struct {
	Status       sms.Status
	Code         string
	ProviderCode string
}

func (o Outcome) String() string {
	if o.Code == "" {
		return string(o.Status)
	}
	return fmt.Sprintf("%s (%s, provider code %q)", o.Status, o.Code, o.ProviderCode)
}

// ReceiptOutcome is the record a provider's receipt leaves, by the table
// of docs/receipts.md: provider is "twilio" or "vonage", status the
// provider's status word (MessageStatus, status), code its error code
// (ErrorCode, err-code). ok is false for a status the service ignores.
// It is written out from the documented table rather than taken from
// internal/receipts, so that the chaos test does not check the mapping
// against itself.
func ReceiptOutcome(provider, status, code string) (o Outcome, ok bool) {
	switch provider {
	case "twilio":
		switch status {
		case "queued", "accepted", "sending", "sent":
			o = Outcome{Status: sms.StatusSent}
		case "delivered", "read":
			return Outcome{Status: sms.StatusDelivered}, true
		case "undelivered":
			o = Outcome{Status: sms.StatusUndelivered, Code: "undelivered", ProviderCode: code}
		case "failed":
			o = Outcome{Status: sms.StatusFailed, Code: "send_failed", ProviderCode: code}
		case "canceled":
			o = Outcome{Status: sms.StatusFailed, Code: "canceled", ProviderCode: code}
		default:
			return Outcome{}, false
		}
		if code == "30036" { // validity period expired, whatever the status
			o = Outcome{Status: sms.StatusExpired, Code: "expired", ProviderCode: code}
		}
		return o, true
	case "vonage":
		if code == "0" { // Vonage's "no error"
			code = ""
		}
		switch status {
		case "accepted", "buffered", "unknown":
			return Outcome{Status: sms.StatusSent}, true
		case "delivered":
			return Outcome{Status: sms.StatusDelivered}, true
		case "expired":
			return Outcome{Status: sms.StatusExpired, Code: "expired", ProviderCode: code}, true
		case "failed", "rejected":
			return Outcome{Status: sms.StatusUndelivered, Code: "undelivered", ProviderCode: code}, true
		}
	}
	return Outcome{}, false
}

// Moves reports whether a status record in status from, whose error code
// is fromCode, may move to status to, by the transitions of
// docs/status.md: only up in rank (scheduled, queued, unknown, sent, the
// final statuses, delivered), with two exceptions: delivered always wins,
// and failed with code dead_lettered moves on to sent or any later status
// when a redrive sends the message. canceled only follows scheduled. A
// record that does not exist yet (from "") may start in any status. Like
// ReceiptOutcome, it is the documented rule written out again, not the
// code under test.
func Moves(from sms.Status, fromCode string, to sms.Status) bool {
	switch {
	case rank(to) == 0 || to == from:
		return false
	case from == "":
		return true
	case to == sms.StatusDelivered:
		return true
	case to == sms.StatusCanceled:
		return from == sms.StatusScheduled
	case from == sms.StatusFailed && fromCode == sms.CodeDeadLettered:
		return rank(to) >= rank(sms.StatusSent)
	}
	return rank(to) > rank(from)
}

// rank orders the statuses as docs/status.md does: scheduled 1, queued 2,
// unknown 3, sent 4, the final undelivered, failed, expired and canceled
// 5, delivered 6; anything else 0.
func rank(s sms.Status) int {
	switch s {
	case sms.StatusScheduled:
		return 1
	case sms.StatusQueued:
		return 2
	case sms.StatusUnknown:
		return 3
	case sms.StatusSent:
		return 4
	case sms.StatusUndelivered, sms.StatusFailed, sms.StatusExpired, sms.StatusCanceled:
		return 5
	case sms.StatusDelivered:
		return 6
	}
	return 0
}

// Move is one write that changed a status record's status, as the
// table's change stream carried it (its old and new images).
type Move struct {
	ServiceID string
	// From is the status before ("" for the write that created the
	// record) and FromCode its error's code; To the status after.
	From     sms.Status
	FromCode string
	To       sms.Status
}

func (m Move) String() string {
	return fmt.Sprintf("%s %s>%s", m.ServiceID, m.From, m.To)
}

// Regressions returns the moves that Moves does not allow: a record moved
// backwards, or from one final status to another.
func Regressions(moves []Move) []Move {
	var out []Move
	for _, m := range moves {
		if !Moves(m.From, m.FromCode, m.To) {
			out = append(out, m)
		}
	}
	return out
}

// EventKey identifies a status event as consumers deduplicate it: the
// message's service id and the status it reached (docs/events.md).
type EventKey struct {
	ServiceID string
	Status    sms.Status
}

// Event is a status event as it reached the bus: its key and the status
// it says the message left (previousStatus).
type Event struct {
	EventKey
	Previous sms.Status
}

// EventTally compares the status events that reached the bus with the
// status changes the table recorded.
type EventTally struct {
	// Expected is how many distinct events the moves call for; Received
	// how many events arrived, Distinct how many of them differ.
	Expected, Received, Distinct int
	// Duplicated is Received - Distinct: events delivered more than once,
	// which at-least-once delivery allows.
	Duplicated int
	// Lost are the expected events that never arrived; Unexpected the
	// events that arrived for no recorded change; WrongPrevious the
	// events whose previousStatus is not the status their change left.
	// All three must be empty.
	Lost, Unexpected, WrongPrevious []EventKey
}

// TallyEvents checks that every move produced an event (service id,
// status reached) among received, saying which status it left. A record
// reaches a status more than once only when a redriven message is
// dead-lettered again; such a key stands for each of its moves.
func TallyEvents(moves []Move, received []Event) EventTally {
	want := map[EventKey][]sms.Status{} // the statuses each key's moves left
	for _, m := range moves {
		k := EventKey{m.ServiceID, m.To}
		want[k] = append(want[k], m.From)
	}
	got := map[EventKey]int{}
	wrong := map[EventKey]bool{}
	for _, e := range received {
		got[e.EventKey]++
		if from, ok := want[e.EventKey]; ok && !slices.Contains(from, e.Previous) {
			wrong[e.EventKey] = true
		}
	}
	t := EventTally{Expected: len(want), Received: len(received), Distinct: len(got)}
	t.Duplicated = t.Received - t.Distinct
	for _, k := range sortedKeys(want) {
		if got[k] == 0 {
			t.Lost = append(t.Lost, k)
		}
	}
	for _, k := range sortedKeys(got) {
		if _, ok := want[k]; !ok {
			t.Unexpected = append(t.Unexpected, k)
		}
	}
	t.WrongPrevious = sortedKeys(wrong)
	return t
}

func sortedKeys[V any](m map[EventKey]V) []EventKey {
	return slices.SortedFunc(maps.Keys(m), func(a, b EventKey) int {
		if c := strings.Compare(a.ServiceID, b.ServiceID); c != 0 {
			return c
		}
		return strings.Compare(string(a.Status), string(b.Status))
	})
}

// Tracked is one accepted message of a receipts run: what its provider's
// receipts said and what its status record says at the end.
type Tracked struct {
	// ServiceID names the message (the receipts' ref or client-ref).
	ServiceID string
	// Want is the outcome of the receipt the provider reported last in
	// the message's story (its final receipt, whatever order it was
	// posted in); Reported the outcomes of every receipt the receipts
	// route acknowledged.
	Want     Outcome
	Reported []Outcome
	// Found reports that the message has a status record; Got is what it
	// says and History its history.
	Found   bool
	Got     Outcome
	History []sms.HistoryEntry
	// DeadLettered reports that the record was once failed with code
	// dead_lettered (from the change stream): a later send may then move
	// it on from there.
	DeadLettered bool
}

// ReceiptsReport sums up the status records of a receipts run.
type ReceiptsReport struct {
	// Messages is how many accepted messages were checked; Right how many
	// end in the outcome their provider reported; Wrong the others (a
	// missing record included).
	Messages, Right, Wrong int
	// Final counts the records by final status.
	Final map[sms.Status]int
	// Regressions counts the moves Moves forbids (from the change stream)
	// and the records whose final status ranks below a status in their
	// history (other than a dead-lettered failure a redrive moved on
	// from).
	Regressions int
	// HistoryMissing counts records whose history lacks a status a
	// receipt reported and the route acknowledged.
	HistoryMissing int
	// OutOfRankOrder counts histories whose time order is not the order
	// of rank: allowed (a history entry is when the status was first
	// reported, and a reordered receipt can be recorded before the send
	// path's write), and shown for information.
	OutOfRankOrder int
	// Offenders names up to ten messages or moves with what is wrong.
	Offenders []string
}

// SummarizeReceipts checks each tracked message against its provider's
// receipts and the moves of the change stream against the transitions.
func SummarizeReceipts(tracked []Tracked, moves []Move) ReceiptsReport {
	r := ReceiptsReport{Final: map[sms.Status]int{}}
	offend := func(format string, args ...any) {
		if len(r.Offenders) < maxOffenders {
			r.Offenders = append(r.Offenders, fmt.Sprintf(format, args...))
		}
	}
	for _, m := range Regressions(moves) {
		r.Regressions++
		offend("%s: moved %s (code %q) > %s", m.ServiceID, m.From, m.FromCode, m.To)
	}
	for _, tr := range tracked {
		r.Messages++
		if !tr.Found {
			r.Wrong++
			offend("%s: no status record, want %s", tr.ServiceID, tr.Want)
			continue
		}
		r.Final[tr.Got.Status]++
		if tr.Got == tr.Want {
			r.Right++
		} else {
			r.Wrong++
			offend("%s: record %s, want %s", tr.ServiceID, tr.Got, tr.Want)
		}
		in := map[sms.Status]bool{}
		for _, h := range tr.History {
			in[h.Status] = true
			switch {
			case rank(h.Status) <= rank(tr.Got.Status):
			case h.Status == sms.StatusFailed && tr.DeadLettered && Moves(sms.StatusFailed, sms.CodeDeadLettered, tr.Got.Status):
			default:
				r.Regressions++
				offend("%s: ends %s after having been %s", tr.ServiceID, tr.Got.Status, h.Status)
			}
		}
		for _, o := range tr.Reported {
			if !in[o.Status] {
				r.HistoryMissing++
				offend("%s: history %v lacks the reported %s", tr.ServiceID, statuses(tr.History), o.Status)
				break
			}
		}
		if !slices.IsSortedFunc(tr.History, func(a, b sms.HistoryEntry) int { return rank(a.Status) - rank(b.Status) }) {
			r.OutOfRankOrder++
		}
	}
	return r
}

func statuses(h []sms.HistoryEntry) []sms.Status {
	out := make([]sms.Status, len(h))
	for i, e := range h {
		out[i] = e.Status
	}
	return out
}

// OK reports whether every record ends as its provider reported, none
// moved backwards, and every acknowledged receipt is in its history.
func (r ReceiptsReport) OK() bool {
	return r.Wrong == 0 && r.Regressions == 0 && r.HistoryMissing == 0
}

// String renders the figures on one line, then the offenders.
func (r ReceiptsReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "records %d: right %d, wrong %d; final", r.Messages, r.Right, r.Wrong)
	for _, s := range sms.RecordStatuses {
		if n := r.Final[s]; n > 0 {
			fmt.Fprintf(&b, " %s×%d", s, n)
		}
	}
	fmt.Fprintf(&b, "; regressions %d; histories lacking a receipt %d; out of rank order (allowed) %d",
		r.Regressions, r.HistoryMissing, r.OutOfRankOrder)
	for _, o := range r.Offenders {
		b.WriteString("\n  " + o)
	}
	return b.String()
}
