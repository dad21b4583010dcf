package chaos

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// Fate is what became of one message: what the client was told and what
// the provider did.
type Fate struct {
	// Status is the HTTP status the client was answered.
	Status int
	// Deliveries is how many times the provider accepted the message.
	Deliveries int
	// Ambiguous is how many of those acceptances the client never heard
	// of: the provider accepted the message and the connection dropped
	// before its answer. Each one may legitimately cause one extra
	// delivery (at-least-once, docs/architecture.md#failure-semantics).
	Ambiguous int

	// Poison marks a message a producer put on the queue that the drain
	// must dead-letter at once; it had no HTTP answer (Status is 0).
	Poison bool
	// DeadLettered reports that the message is on the dead-letter queue at
	// the end of the run.
	DeadLettered bool
	// Record is the status of the message's status record ("" when it has
	// none) and RecordCode its error code.
	Record, RecordCode string
	// RecordWriteFailed reports that a status_record_failed event names
	// the message: its record may lag behind what happened.
	RecordWriteFailed bool
}

// WantRecord is the status record the message must end with, from what
// the fakes saw: failed/dead_lettered for a poison or dead-lettered
// message, sent for an accepted message the provider took,
// unknown/provider_outcome_unknown for one answered 502. ok is false
// when nothing is expected (refused, or lost: counted as such).
func (f Fate) WantRecord() (status, code string, ok bool) {
	switch {
	case f.Poison || f.DeadLettered:
		return "failed", "dead_lettered", true
	case f.Accepted() && f.Deliveries > 0:
		return "sent", "", true
	case f.Status == http.StatusBadGateway:
		// Answered 502 unknown: no receipt settles it in these runs.
		return "unknown", "provider_outcome_unknown", true
	}
	return "", "", false
}

// Accepted reports whether the client was told the message was taken:
// 200 (the provider accepted it) or 202 (SQS holds it).
func (f Fate) Accepted() bool {
	return f.Status == http.StatusOK || f.Status == http.StatusAccepted
}

// Report sums up the fates of a run. Its counts are of messages.
type Report struct {
	// Messages is how many messages were sent to the API.
	Messages int
	// Statuses counts the answers by HTTP status.
	Statuses map[int]int
	// Accepted were answered 200 or 202; Refused any other allowed
	// status (503: nothing was accepted).
	Accepted, Refused int
	// Unexpected were answered with a status outside the allowed ones.
	Unexpected int
	// Delivered were accepted and delivered at least once.
	Delivered int
	// Lost were accepted and never delivered.
	Lost int
	// DuplicatedAmbiguous were delivered more than once, every extra
	// delivery explained by an acceptance the client never heard of.
	DuplicatedAmbiguous int
	// DuplicatedOther were delivered more than once without such an
	// explanation.
	DuplicatedOther int
	// ExtraDeliveries is the number of deliveries beyond the first, over
	// all messages.
	ExtraDeliveries int
	// RefusedDeliveredAmbiguous were refused and still delivered, each
	// delivery being an acceptance whose answer the provider never sent
	// (the provider took it, the connection dropped, and the queue was
	// then unreachable).
	RefusedDeliveredAmbiguous int
	// RefusedDeliveredOther were refused and delivered without such an
	// explanation: the client was told nothing was accepted, wrongly.
	RefusedDeliveredOther int
	// Poison counts the producers' poison messages (not in Messages).
	Poison int
	// Records counts the messages whose status record was checked against
	// WantRecord; RecordsMatched had the right one; RecordsExplained did
	// not, but a failed status write names them; RecordsWrong did not,
	// unexplained (a missing record included).
	Records, RecordsMatched, RecordsExplained, RecordsWrong int
	// Offenders names up to ten messages that are lost, unexplained
	// duplicates, refused yet delivered, answered outside the allowed
	// statuses, or with a wrong status record, with what is wrong.
	Offenders []string
}

// maxOffenders bounds Report.Offenders.
const maxOffenders = 10

// Summarize counts fates, keyed by any message identifier. allowed are the
// statuses the API may answer under the faults of the run.
func Summarize(fates map[string]Fate, allowed ...int) Report {
	r := Report{Statuses: map[int]int{}}
	offend := func(key, what string) {
		if len(r.Offenders) < maxOffenders {
			r.Offenders = append(r.Offenders, key+": "+what)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(fates)) {
		f := fates[key]
		if status, code, ok := f.WantRecord(); ok {
			r.Records++
			switch {
			case f.Record == status && f.RecordCode == code:
				r.RecordsMatched++
			case f.RecordWriteFailed:
				r.RecordsExplained++
			default:
				r.RecordsWrong++
				offend(key, fmt.Sprintf("status record %q/%q, want %q/%q", f.Record, f.RecordCode, status, code))
			}
		}
		if f.Poison {
			r.Poison++
			continue
		}
		r.Messages++
		r.Statuses[f.Status]++
		if f.Deliveries > 1 {
			r.ExtraDeliveries += f.Deliveries - 1
		}
		switch {
		case !slices.Contains(allowed, f.Status):
			r.Unexpected++
			offend(key, fmt.Sprintf("answered %d, not one of %v", f.Status, allowed))
		case f.Accepted():
			r.Accepted++
		default:
			r.Refused++
		}
		if !f.Accepted() {
			switch {
			case f.Deliveries == 0:
			case f.Deliveries <= f.Ambiguous:
				r.RefusedDeliveredAmbiguous++
			default:
				r.RefusedDeliveredOther++
				offend(key, fmt.Sprintf("answered %d yet delivered %d times", f.Status, f.Deliveries))
			}
			continue
		}
		switch {
		case f.Deliveries == 0:
			r.Lost++
			offend(key, fmt.Sprintf("answered %d, never delivered", f.Status))
			continue
		case f.Deliveries == 1:
		case f.Deliveries-1 <= f.Ambiguous:
			r.DuplicatedAmbiguous++
		default:
			r.DuplicatedOther++
			offend(key, fmt.Sprintf("delivered %d times, %d of them ambiguous", f.Deliveries, f.Ambiguous))
		}
		r.Delivered++
	}
	return r
}

// OK reports whether the run kept the guarantees: every answer allowed,
// nothing accepted lost, no duplicate or refused-yet-delivered message
// other than those the ambiguous fault explains, and every status record
// right unless a failed status write explains it.
func (r Report) OK() bool {
	return r.Unexpected == 0 && r.Lost == 0 && r.DuplicatedOther == 0 && r.RefusedDeliveredOther == 0 && r.RecordsWrong == 0
}

// String renders the figures on a few lines.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "messages %d, answers", r.Messages)
	for _, s := range slices.Sorted(maps.Keys(r.Statuses)) {
		fmt.Fprintf(&b, " %d×%d", s, r.Statuses[s])
	}
	fmt.Fprintf(&b, "\naccepted %d, delivered %d, lost %d, unexpected answers %d\n", r.Accepted, r.Delivered, r.Lost, r.Unexpected)
	fmt.Fprintf(&b, "duplicated %d (ambiguous: provider accepted, connection dropped) + %d other; %d extra deliveries\n",
		r.DuplicatedAmbiguous, r.DuplicatedOther, r.ExtraDeliveries)
	fmt.Fprintf(&b, "refused %d, of which delivered %d (ambiguous) + %d other\n", r.Refused, r.RefusedDeliveredAmbiguous, r.RefusedDeliveredOther)
	fmt.Fprintf(&b, "status records checked %d (%d producers' poison messages): right %d, wrong after a failed status write %d, wrong %d",
		r.Records, r.Poison, r.RecordsMatched, r.RecordsExplained, r.RecordsWrong)
	for _, o := range r.Offenders {
		b.WriteString("\n  " + o)
	}
	return b.String()
}
