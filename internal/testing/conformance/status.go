package conformance

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/sms"
)

// NewStatusStoreFunc builds a fresh, empty status store reading time from
// clock and keeping records for retention after their last change.
type NewStatusStoreFunc func(t *testing.T, clock sms.Clock, retention time.Duration) sms.StatusStore

// statusRetention is the retention the suite's stores keep records for.
const statusRetention = 720 * time.Hour

// StatusStore runs the status store conformance suite against the stores
// that newStore builds. Every record the stores end with is compared with
// the domain's reference merge (sms.Record.Apply).
func StatusStore(t *testing.T, newStore NewStatusStoreFunc) {
	t.Run("CreateThenMerge", func(t *testing.T) { statusCreateThenMerge(t, newStore) })
	t.Run("AnyOrder", func(t *testing.T) { statusAnyOrder(t, newStore) })
	t.Run("Exceptions", func(t *testing.T) { statusExceptions(t, newStore) })
	t.Run("ReceiptOfOnePart", func(t *testing.T) { statusReceiptOfOnePart(t, newStore) })
	t.Run("HistoryOncePerStatus", func(t *testing.T) { statusHistoryOnce(t, newStore) })
	t.Run("Lookups", func(t *testing.T) { statusLookups(t, newStore) })
	t.Run("Owner", func(t *testing.T) { statusOwner(t, newStore) })
	t.Run("Retention", func(t *testing.T) { statusRetentionKept(t, newStore) })
	t.Run("Concurrent", func(t *testing.T) { statusConcurrent(t, newStore) })
	t.Run("InvalidArguments", func(t *testing.T) { statusInvalid(t, newStore) })
}

// Ids of the suite's messages.
const (
	sentTo         = "+14155552671"
	twilioID       = "SM0123456789abcdef0123456789abcdef"
	twilioID2      = "SMfedcba9876543210fedcba9876543210"
	producerDedupe = "order-42"
)

// StatusSequences returns realistic sequences of the changes a message's
// writers (send path, drain, receipts) report, starting at start, by
// name. Every order of a sequence must end in the same record.
func StatusSequences(start time.Time) map[string][]sms.Change {
	ms := func(n int) time.Time { return start.Add(time.Duration(n) * time.Millisecond) }
	caller := sms.CallerOwner("app-backend")
	return map[string][]sms.Change{
		"queued, sent by the drain, delivered": {
			{Status: sms.StatusQueued, At: ms(0), MessageID: "send path's service id", To: sentTo, From: "MyApp",
				Segments: 2, Encoding: sms.UCS2, CreatedAt: ms(0), ExpiresAt: ms(3_600_000), Owner: caller},
			{Status: sms.StatusSent, At: ms(1500), ProviderMessageID: twilioID, Provider: "twilio", To: sentTo,
				From: "MyApp", Segments: 2, Encoding: sms.UCS2, CreatedAt: ms(10)},
			{Status: sms.StatusSent, At: ms(1900), ProviderCode: "sent", ProviderMessageID: twilioID, Provider: "twilio"},
			{Status: sms.StatusDelivered, At: ms(4200), ProviderCode: "delivered", ProviderMessageID: twilioID, Provider: "twilio"},
			{Status: sms.StatusDelivered, At: ms(4200), ProviderCode: "delivered", ProviderMessageID: twilioID, Provider: "twilio"},
		},
		"sent directly, undelivered": {
			{Status: sms.StatusSent, At: ms(300), MessageID: twilioID, ProviderMessageID: twilioID, Provider: "twilio",
				To: sentTo, From: "+14155550100", Segments: 1, Encoding: sms.GSM7, CreatedAt: ms(0), Owner: caller},
			{Status: sms.StatusUndelivered, At: ms(9000), ProviderCode: "30003", ProviderMessageID: twilioID, Provider: "twilio",
				Error: &sms.Failure{Code: "undelivered", Message: "the handset is unreachable", ProviderCode: "30003"}},
			{Status: sms.StatusSent, At: ms(800), ProviderCode: "sent", ProviderMessageID: twilioID, Provider: "twilio"},
		},
		"dead-lettered, redriven, delivered": {
			{Status: sms.StatusFailed, At: ms(0), ProducerID: producerDedupe, To: sentTo, Segments: 1, Encoding: sms.GSM7,
				CreatedAt: ms(0), Owner: sms.ProducerOwner(""),
				Error: &sms.Failure{Code: sms.CodeDeadLettered, Message: "quota_exceeded"}},
			{Status: sms.StatusSent, At: ms(600_000), ProducerID: producerDedupe, ProviderMessageID: "0A0000001234ABCD",
				Provider: "vonage", To: sentTo, Segments: 1, Encoding: sms.GSM7, Owner: sms.ProducerOwner("")},
			{Status: sms.StatusDelivered, At: ms(602_000), ProviderCode: "delivered", ProviderMessageID: "0A0000001234ABCD", Provider: "vonage"},
		},
	}
}

// Permutations calls f with every order of 0..n-1 (Heap's algorithm); f
// must not keep the slice.
func Permutations(n int, f func(order []int)) {
	a := make([]int, n)
	for i := range a {
		a[i] = i
	}
	var gen func(k int)
	gen = func(k int) {
		if k <= 1 {
			f(a)
			return
		}
		for i := 0; i < k; i++ {
			gen(k - 1)
			if k%2 == 0 {
				a[i], a[k-1] = a[k-1], a[i]
			} else {
				a[0], a[k-1] = a[k-1], a[0]
			}
		}
	}
	gen(n)
}

// reference merges changes in order with the domain's rules at now: the
// record a store must end with.
func reference(serviceID string, now time.Time, changes ...sms.Change) sms.Record {
	r := sms.Record{ServiceID: serviceID}
	for _, ch := range changes {
		r, _, _ = r.Apply(ch, now)
	}
	return r
}

// mirror writes changes to a store and merges them, at the clock's time,
// into the records the store must then hold, by the domain's rules.
type mirror struct {
	s     sms.StatusStore
	clock *Clock
	want  map[string]sms.Record
}

func newMirror(s sms.StatusStore, clock *Clock) *mirror {
	return &mirror{s: s, clock: clock, want: map[string]sms.Record{}}
}

// record writes ch to the record of id and checks that the store reports
// the status move the domain's merge does.
func (m *mirror) record(t *testing.T, id string, ch sms.Change) bool {
	t.Helper()
	changed := record(t, m.s, id, ch)
	r := m.want[id]
	r.ServiceID = id
	r, moved, _ := r.Apply(ch, m.clock.Now())
	m.want[id] = r
	if changed != moved {
		t.Errorf("Record(%s, %s): changed = %v, want %v", id, ch.Status, changed, moved)
	}
	return changed
}

// check compares Get(id) with the domain's merge of what was written.
func (m *mirror) check(t *testing.T, id string) sms.Record {
	t.Helper()
	got, err := m.s.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get(%s) error = %v", id, err)
	}
	if want := m.want[id]; !reflect.DeepEqual(got, want) {
		t.Errorf("Get(%s) =\n %+v\nwant (the domain's merge)\n %+v", id, got, want)
	}
	return got
}

// record writes ch and fails the test on an error.
func record(t *testing.T, s sms.StatusStore, id string, ch sms.Change) bool {
	t.Helper()
	changed, err := s.Record(context.Background(), id, ch)
	if err != nil {
		t.Fatalf("Record(%s, %s) error = %v", id, ch.Status, err)
	}
	return changed
}

// wantRecord checks that Get(id) returns want.
func wantRecord(t *testing.T, s sms.StatusStore, id string, want sms.Record) {
	t.Helper()
	got, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get(%s) error = %v", id, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Get(%s) =\n %+v\nwant\n %+v", id, got, want)
	}
}

// wantNotFound checks that Get(id) finds nothing.
func wantNotFound(t *testing.T, s sms.StatusStore, id string) {
	t.Helper()
	r, err := s.Get(context.Background(), id)
	if got := sms.KindOf(err); got != sms.KindNotFound {
		t.Errorf("Get(%s) = %+v, %v; want a %v error", id, r, err, sms.KindNotFound)
	}
}

func statusCreateThenMerge(t *testing.T, newStore NewStatusStoreFunc) {
	clock := NewClock(epoch)
	m := newMirror(newStore(t, clock, statusRetention), clock)
	sendPath := sms.Change{Status: sms.StatusSent, At: epoch.Add(200 * time.Millisecond), MessageID: twilioID,
		ProviderMessageID: twilioID, Provider: "twilio", To: sentTo, From: "MyApp", Segments: 1, Encoding: sms.GSM7,
		CreatedAt: epoch, Owner: sms.CallerOwner("alice")}
	receipt := sms.Change{Status: sms.StatusDelivered, At: epoch.Add(3 * time.Second), ProviderCode: "delivered",
		ProviderMessageID: twilioID, Provider: "twilio"}
	want := sms.Record{MessageID: twilioID, ProviderMessageID: twilioID, Provider: "twilio",
		Status: sms.StatusDelivered, To: sentTo, From: "MyApp", Segments: 1, Encoding: sms.GSM7, CreatedAt: epoch,
		Owner: sms.CallerOwner("alice"),
		History: []sms.HistoryEntry{
			{Status: sms.StatusSent, At: epoch.Add(200 * time.Millisecond)},
			{Status: sms.StatusDelivered, At: epoch.Add(3 * time.Second), ProviderCode: "delivered"},
		}}
	tests := []struct {
		name        string
		first, then sms.Change
		thenChanges bool
	}{
		{"send path first", sendPath, receipt, true},
		{"receipt first", receipt, sendPath, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := sms.NewServiceID()
			clock.Advance(time.Second)
			if !m.record(t, id, tt.first) {
				t.Errorf("first write: changed = false, want true (a new record)")
			}
			clock.Advance(time.Second)
			if got := m.record(t, id, tt.then); got != tt.thenChanges {
				t.Errorf("second write: changed = %v, want %v", got, tt.thenChanges)
			}
			w := want
			w.ServiceID, w.UpdatedAt = id, clock.Now()
			wantRecord(t, m.s, id, w)
			clock.Advance(time.Second)
			if got := m.record(t, id, tt.then); got {
				t.Errorf("repeated write: changed = true, want false")
			}
			wantRecord(t, m.s, id, w)
			m.check(t, id)
		})
	}
}

func statusAnyOrder(t *testing.T, newStore NewStatusStoreFunc) {
	clock := NewClock(epoch)
	m := newMirror(newStore(t, clock, statusRetention), clock)
	for name, seq := range StatusSequences(epoch) {
		t.Run(name, func(t *testing.T) {
			var first *sms.Record
			Permutations(len(seq), func(order []int) {
				if t.Failed() {
					return
				}
				id := sms.NewServiceID()
				for _, k := range order {
					clock.Advance(time.Second)
					m.record(t, id, seq[k])
				}
				got := m.check(t, id)
				got.ServiceID, got.UpdatedAt = "", time.Time{}
				if first == nil {
					first = &got
				} else if !reflect.DeepEqual(got, *first) {
					t.Errorf("order %v ends in\n %+v\nthe first order in\n %+v", order, got, *first)
				}
			})
		})
	}
}

func statusExceptions(t *testing.T, newStore NewStatusStoreFunc) {
	clock := NewClock(epoch)
	m := newMirror(newStore(t, clock, statusRetention), clock)
	dead := &sms.Failure{Code: sms.CodeDeadLettered, Message: "requeue_limit"}
	rejected := &sms.Failure{Code: "provider_rejected", Message: "not a mobile number", ProviderCode: "21614"}
	ch := func(st sms.Status, sec int, f *sms.Failure) sms.Change {
		return sms.Change{Status: st, At: epoch.Add(time.Duration(sec) * time.Second), Error: f}
	}
	tests := []struct {
		name       string
		changes    []sms.Change
		wantStatus sms.Status
		wantError  *sms.Failure
	}{
		{"delivered wins over undelivered", []sms.Change{ch(sms.StatusSent, 1, nil), ch(sms.StatusUndelivered, 2, rejected), ch(sms.StatusDelivered, 3, nil)}, sms.StatusDelivered, nil},
		{"delivered wins over failed", []sms.Change{ch(sms.StatusFailed, 1, rejected), ch(sms.StatusDelivered, 2, nil)}, sms.StatusDelivered, nil},
		{"delivered wins over expired", []sms.Change{ch(sms.StatusExpired, 1, nil), ch(sms.StatusDelivered, 2, nil)}, sms.StatusDelivered, nil},
		{"delivered wins over canceled", []sms.Change{ch(sms.StatusScheduled, 1, nil), ch(sms.StatusCanceled, 2, nil), ch(sms.StatusDelivered, 3, nil)}, sms.StatusDelivered, nil},
		{"nothing follows delivered", []sms.Change{ch(sms.StatusDelivered, 1, nil), ch(sms.StatusFailed, 2, rejected), ch(sms.StatusUndelivered, 3, rejected), ch(sms.StatusQueued, 4, nil)}, sms.StatusDelivered, nil},
		{"dead-lettered, then sent after a redrive", []sms.Change{ch(sms.StatusQueued, 1, nil), ch(sms.StatusFailed, 2, dead), ch(sms.StatusSent, 60, nil)}, sms.StatusSent, nil},
		{"dead-lettered, then expired after a redrive", []sms.Change{ch(sms.StatusFailed, 2, dead), ch(sms.StatusExpired, 60, nil)}, sms.StatusExpired, nil},
		{"a late queued write leaves a dead-lettered message", []sms.Change{ch(sms.StatusFailed, 2, dead), ch(sms.StatusQueued, 1, nil)}, sms.StatusFailed, dead},
		{"another failure is final", []sms.Change{ch(sms.StatusFailed, 2, rejected), ch(sms.StatusSent, 60, nil)}, sms.StatusFailed, rejected},
		{"undelivered is final", []sms.Change{ch(sms.StatusUndelivered, 2, rejected), ch(sms.StatusFailed, 3, dead), ch(sms.StatusSent, 4, nil)}, sms.StatusUndelivered, rejected},
		{"expired is final", []sms.Change{ch(sms.StatusQueued, 1, nil), ch(sms.StatusExpired, 2, nil), ch(sms.StatusSent, 3, nil)}, sms.StatusExpired, nil},
		{"canceled only cancels scheduled", []sms.Change{ch(sms.StatusQueued, 1, nil), ch(sms.StatusCanceled, 2, nil)}, sms.StatusQueued, nil},
		{"unknown until a receipt", []sms.Change{ch(sms.StatusUnknown, 1, nil), ch(sms.StatusQueued, 2, nil), ch(sms.StatusSent, 3, nil)}, sms.StatusSent, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := sms.NewServiceID()
			for _, c := range tt.changes {
				clock.Advance(time.Second)
				m.record(t, id, c)
			}
			got := m.check(t, id)
			if got.Status != tt.wantStatus || !reflect.DeepEqual(got.Error, tt.wantError) {
				t.Errorf("status, error = %s, %+v; want %s, %+v", got.Status, got.Error, tt.wantStatus, tt.wantError)
			}
		})
	}
}

// statusReceiptOfOnePart: a change limited to a provider id (a receipt
// about one part of a multipart message) changes only a record of that
// provider id, or one that does not know its provider id yet.
func statusReceiptOfOnePart(t *testing.T, newStore NewStatusStoreFunc) {
	clock := NewClock(epoch)
	m := newMirror(newStore(t, clock, statusRetention), clock)
	const part1, part2 = "0A0000001234ABC1", "0A0000001234ABC2"
	sent := sms.Change{Status: sms.StatusSent, At: epoch, ProviderMessageID: part1, Provider: "vonage", To: sentTo}
	undelivered := &sms.Failure{Code: "undelivered", Message: "absent subscriber", ProviderCode: "3"}
	receipt := func(part string, st sms.Status, sec int, f *sms.Failure) sms.Change {
		return sms.Change{Status: st, At: epoch.Add(time.Duration(sec) * time.Second), Error: f, ForProviderMessageID: part, Provider: "vonage"}
	}
	tests := []struct {
		name       string
		changes    []sms.Change
		wantStatus sms.Status
		wantError  *sms.Failure
		wantMoves  []bool
	}{
		{"the first part's failure decides over a later part's delivery",
			[]sms.Change{sent, receipt(part1, sms.StatusUndelivered, 2, undelivered), receipt(part2, sms.StatusDelivered, 3, nil)},
			sms.StatusUndelivered, undelivered, []bool{true, true, false}},
		{"another part's failure changes nothing",
			[]sms.Change{sent, receipt(part2, sms.StatusUndelivered, 2, undelivered), receipt(part1, sms.StatusDelivered, 3, nil)},
			sms.StatusDelivered, nil, []bool{true, false, true}},
		{"a receipt before the send path's write is merged",
			[]sms.Change{receipt(part2, sms.StatusDelivered, 2, nil), sent, receipt(part2, sms.StatusUndelivered, 3, undelivered)},
			sms.StatusDelivered, nil, []bool{true, false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := sms.NewServiceID()
			for i, c := range tt.changes {
				clock.Advance(time.Second)
				if got := m.record(t, id, c); got != tt.wantMoves[i] {
					t.Errorf("change %d (%s for %q): changed = %v, want %v", i, c.Status, c.ForProviderMessageID, got, tt.wantMoves[i])
				}
			}
			got := m.check(t, id)
			if got.Status != tt.wantStatus || !reflect.DeepEqual(got.Error, tt.wantError) {
				t.Errorf("status, error = %s, %+v; want %s, %+v", got.Status, got.Error, tt.wantStatus, tt.wantError)
			}
			if got.ProviderMessageID != part1 {
				t.Errorf("providerMessageId = %q, want %q (the send path's; a receipt limited to a part fills none)", got.ProviderMessageID, part1)
			}
		})
	}
}

func statusHistoryOnce(t *testing.T, newStore NewStatusStoreFunc) {
	clock := NewClock(epoch)
	m := newMirror(newStore(t, clock, statusRetention), clock)
	id := sms.NewServiceID()
	// Every status, three rounds, each report later than the last.
	for round := range 3 {
		for i, st := range sms.RecordStatuses {
			ch := sms.Change{Status: st, At: epoch.Add(time.Duration(round*100+i) * time.Second), ProviderCode: fmt.Sprint(round)}
			clock.Advance(time.Second)
			m.record(t, id, ch)
		}
	}
	got := m.check(t, id)
	if len(got.History) > sms.MaxHistory {
		t.Errorf("history has %d entries, want at most %d", len(got.History), sms.MaxHistory)
	}
	seen := map[sms.Status]bool{}
	for _, h := range got.History {
		if seen[h.Status] {
			t.Errorf("history lists %s twice", h.Status)
		}
		seen[h.Status] = true
		if h.ProviderCode != "0" {
			t.Errorf("history entry %+v, want the first report (provider code 0)", h)
		}
	}
	// Canceled was refused (the record was queued by then), so it is not listed.
	if want := len(sms.RecordStatuses) - 1; len(got.History) != want || seen[sms.StatusCanceled] {
		t.Errorf("history = %+v, want %d entries, every status but canceled", got.History, want)
	}
	if !slices.IsSortedFunc(got.History, func(a, b sms.HistoryEntry) int { return a.At.Compare(b.At) }) {
		t.Errorf("history is not in time order: %+v", got.History)
	}
}

func statusLookups(t *testing.T, newStore NewStatusStoreFunc) {
	clock := NewClock(epoch)
	s := newStore(t, clock, statusRetention)
	direct := sms.NewServiceID()
	record(t, s, direct, sms.Change{Status: sms.StatusSent, MessageID: twilioID, ProviderMessageID: twilioID, Provider: "twilio", Owner: sms.CallerOwner("alice")})
	queued := sms.NewServiceID()
	record(t, s, queued, sms.Change{Status: sms.StatusQueued, MessageID: queued, Owner: sms.CallerOwner("alice")})
	produced := sms.ServiceIDForProducer(producerDedupe)
	record(t, s, produced, sms.Change{Status: sms.StatusSent, ProducerID: producerDedupe, ProviderMessageID: twilioID2, Provider: "twilio", Owner: sms.ProducerOwner("")})

	tests := []struct {
		name, id, want string
	}{
		{"service id of a direct send", direct, direct},
		{"provider id of a direct send", twilioID, direct},
		{"service id of a queued message", queued, queued},
		{"service id of a producer's message", produced, produced},
		{"producer's id", producerDedupe, produced},
		{"provider id of a producer's message", twilioID2, produced},
	}
	for _, tt := range tests {
		got, err := s.Get(context.Background(), tt.id)
		if err != nil || got.ServiceID != tt.want {
			t.Errorf("%s: Get(%s) = %s, %v; want %s", tt.name, tt.id, got.ServiceID, err, tt.want)
		}
	}
	for _, id := range []string{"", sms.NewServiceID(), "SM00000000000000000000000000000000", "order-43", "status#" + direct, direct[:35]} {
		wantNotFound(t, s, id)
	}
	// A queued message is found by its provider id once the drain sent it.
	wantNotFound(t, s, "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	record(t, s, queued, sms.Change{Status: sms.StatusSent, ProviderMessageID: "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Provider: "twilio"})
	if got, err := s.Get(context.Background(), "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"); err != nil || got.ServiceID != queued || got.MessageID != queued {
		t.Errorf("Get(provider id of the queued message) = %s (messageId %s), %v; want %s with its messageId", got.ServiceID, got.MessageID, err, queued)
	}
}

func statusOwner(t *testing.T, newStore NewStatusStoreFunc) {
	clock := NewClock(epoch)
	s := newStore(t, clock, statusRetention)
	tests := []struct {
		name   string
		writes []sms.Owner
		want   sms.Owner
	}{
		{"caller", []sms.Owner{sms.CallerOwner("producer")}, sms.CallerOwner("producer")},
		{"producer", []sms.Owner{sms.ProducerOwner("")}, sms.ProducerOwner("")},
		{"producer with a subject", []sms.Owner{sms.ProducerOwner("arn:aws:iam::123456789012:role/p")}, sms.ProducerOwner("arn:aws:iam::123456789012:role/p")},
		{"unknown (a receipt), then the caller", []sms.Owner{{}, sms.CallerOwner("alice")}, sms.CallerOwner("alice")},
		{"never replaced", []sms.Owner{sms.CallerOwner("alice"), sms.CallerOwner("mallory"), sms.ProducerOwner("")}, sms.CallerOwner("alice")},
		{"unknown", []sms.Owner{{}}, sms.Owner{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := sms.NewServiceID()
			for i, o := range tt.writes {
				record(t, s, id, sms.Change{Status: sms.RecordStatuses[i+1], Owner: o})
			}
			got, err := s.Get(context.Background(), id)
			if err != nil {
				t.Fatalf("Get error = %v", err)
			}
			if got.Owner != tt.want {
				t.Errorf("owner = %+v, want %+v", got.Owner, tt.want)
			}
			if tt.want.Kind == sms.OwnerProducer && got.OwnedBy(sms.CallerOwner("producer")) {
				t.Errorf("a caller named producer owns a producer's message")
			}
		})
	}
}

func statusRetentionKept(t *testing.T, newStore NewStatusStoreFunc) {
	const retention = 48 * time.Hour
	clock := NewClock(epoch)
	s := newStore(t, clock, retention)
	id := sms.NewServiceID()
	record(t, s, id, sms.Change{Status: sms.StatusSent, ProviderMessageID: twilioID})
	clock.Advance(retention - time.Second)
	if _, err := s.Get(context.Background(), id); err != nil {
		t.Fatalf("Get a second before the retention ends: %v", err)
	}
	// A change keeps the record for the retention from then.
	record(t, s, id, sms.Change{Status: sms.StatusDelivered})
	clock.Advance(retention - time.Second)
	if got, err := s.Get(context.Background(), twilioID); err != nil || got.Status != sms.StatusDelivered {
		t.Fatalf("Get(provider id) a second before the retention after the last change ends = %s, %v; want delivered", got.Status, err)
	}
	clock.Advance(2 * time.Second)
	wantNotFound(t, s, id)
	wantNotFound(t, s, twilioID)
	// A duplicate changes nothing, so it does not extend the retention.
	other := sms.NewServiceID()
	record(t, s, other, sms.Change{Status: sms.StatusSent, At: clock.Now()})
	clock.Advance(retention / 2)
	record(t, s, other, sms.Change{Status: sms.StatusSent, At: clock.Now()})
	clock.Advance(retention/2 + time.Second)
	wantNotFound(t, s, other)
}

// statusConcurrent writes the reports of one message from many goroutines
// at once: the record must end as the sequential merge does (delivered,
// every reported status listed once at its earliest time, every field
// filled, the earliest createdAt), and exactly one of the delivered
// writers must see the status move.
func statusConcurrent(t *testing.T, newStore NewStatusStoreFunc) {
	clock := NewClock(epoch)
	s := newStore(t, clock, statusRetention)
	at := func(ms int) time.Time { return epoch.Add(time.Duration(ms) * time.Millisecond) }
	base := []sms.Change{
		{Status: sms.StatusQueued, At: at(0), MessageID: "svc", To: sentTo, From: "MyApp", CreatedAt: at(0), Owner: sms.CallerOwner("alice")},
		{Status: sms.StatusUnknown, At: at(10), Segments: 3},
		{Status: sms.StatusSent, At: at(100), ProviderMessageID: twilioID, Provider: "twilio", Encoding: sms.GSM7},
		{Status: sms.StatusSent, At: at(200), ProviderCode: "sent"},
		{Status: sms.StatusUndelivered, At: at(300), ProviderCode: "30003", Error: &sms.Failure{Code: "undelivered"}},
		{Status: sms.StatusFailed, At: at(310), ProviderCode: "30008", Error: &sms.Failure{Code: "provider_error"}},
		{Status: sms.StatusExpired, At: at(320), ProviderCode: "30036", ExpiresAt: at(320)},
		{Status: sms.StatusDelivered, At: at(400), ProviderCode: "delivered"},
	}
	// Each report three times, at different times (and with different
	// acceptance times), so that the earliest must win every race.
	var changes []sms.Change
	for copy := range 3 {
		for _, ch := range base {
			ch.At = ch.At.Add(time.Duration(copy) * time.Millisecond)
			ch.CreatedAt = epoch.Add(time.Duration(2-copy) * time.Millisecond)
			changes = append(changes, ch)
		}
	}
	for round := range 4 {
		id := sms.NewServiceID()
		rand.Shuffle(len(changes), func(i, j int) { changes[i], changes[j] = changes[j], changes[i] })
		var wg sync.WaitGroup
		var mu sync.Mutex
		deliveredMoves := 0
		start := make(chan struct{})
		for _, ch := range changes {
			wg.Go(func() {
				<-start
				changed, err := s.Record(context.Background(), id, ch)
				if err != nil {
					t.Errorf("round %d: Record(%s) error = %v", round, ch.Status, err)
					return
				}
				if changed && ch.Status == sms.StatusDelivered {
					mu.Lock()
					deliveredMoves++
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		if deliveredMoves != 1 {
			t.Errorf("round %d: %d delivered writes moved the record, want exactly 1", round, deliveredMoves)
		}
		wantRecord(t, s, id, reference(id, clock.Now(), changes...))
	}
}

func statusInvalid(t *testing.T, newStore NewStatusStoreFunc) {
	s := newStore(t, NewClock(epoch), statusRetention)
	ctx := context.Background()
	tests := []struct {
		name string
		id   string
		ch   sms.Change
		kind sms.Kind
	}{
		{"empty service id", "", sms.Change{Status: sms.StatusSent}, sms.KindInternal},
		{"a producer's id as service id", producerDedupe, sms.Change{Status: sms.StatusSent}, sms.KindInternal},
		{"no status", sms.NewServiceID(), sms.Change{}, sms.KindInternal},
		{"caller without subject", sms.NewServiceID(), sms.Change{Status: sms.StatusSent, Owner: sms.CallerOwner("")}, sms.KindInternal},
	}
	for _, tt := range tests {
		if _, err := s.Record(ctx, tt.id, tt.ch); sms.KindOf(err) != tt.kind {
			t.Errorf("%s: Record error = %v, want kind %v", tt.name, err, tt.kind)
		}
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Record(canceled, sms.NewServiceID(), sms.Change{Status: sms.StatusSent}); sms.KindOf(err) != sms.KindUnavailable {
		t.Errorf("Record with a canceled context: error = %v, want kind %v", err, sms.KindUnavailable)
	}
	if _, err := s.Get(canceled, sms.NewServiceID()); sms.KindOf(err) != sms.KindUnavailable {
		t.Errorf("Get with a canceled context: error = %v, want kind %v", err, sms.KindUnavailable)
	}
}
