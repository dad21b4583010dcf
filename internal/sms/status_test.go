package sms

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestAdvanceTable checks every transition. Columns follow
// RecordStatuses: scheduled, queued, unknown, sent, undelivered, failed,
// expired, canceled, delivered; "1" moves the record, "." does not.
func TestAdvanceTable(t *testing.T) {
	tests := []struct {
		from Status
		code string
		want string
	}{
		{"", "", "111111111"},
		{StatusScheduled, "", ".11111111"},
		{StatusQueued, "", "..11111.1"},
		{StatusUnknown, "", "...1111.1"},
		{StatusSent, "", "....111.1"},
		{StatusUndelivered, "", "........1"},
		{StatusFailed, "", "........1"},
		{StatusFailed, "provider_rejected", "........1"},
		{StatusFailed, CodeDeadLettered, "...11.1.1"},
		{StatusExpired, "", "........1"},
		{StatusCanceled, "", "........1"},
		{StatusDelivered, "", "........."},
		{"bogus", "", "1111111.1"},
	}
	if len(RecordStatuses) != 9 {
		t.Fatalf("RecordStatuses has %d statuses, the table 9 columns", len(RecordStatuses))
	}
	for _, tt := range tests {
		var got strings.Builder
		for _, to := range RecordStatuses {
			if Advance(tt.from, tt.code, to) {
				got.WriteByte('1')
			} else {
				got.WriteByte('.')
			}
		}
		if got.String() != tt.want {
			t.Errorf("Advance(%q/%q → %v) = %s, want %s", tt.from, tt.code, RecordStatuses, got.String(), tt.want)
		}
	}
	for _, from := range append([]Status{""}, RecordStatuses...) {
		for _, to := range []Status{"", "bogus", "SENT"} {
			if Advance(from, "", to) {
				t.Errorf("Advance(%q → %q) = true, want false for a status that is not a record status", from, to)
			}
		}
	}
}

// TestAdvanceNeverGoesBackwards checks the rank rule behind the table: a
// move lowers the rank only for a dead-lettered failure taken up again,
// and among equal ranks only from scheduled to canceled... which raises it.
func TestAdvanceNeverGoesBackwards(t *testing.T) {
	for _, from := range RecordStatuses {
		for _, code := range []string{"", CodeDeadLettered} {
			for _, to := range RecordStatuses {
				if !Advance(from, code, to) {
					continue
				}
				if to.Rank() <= from.Rank() && !(from == StatusFailed && code == CodeDeadLettered) {
					t.Errorf("Advance(%s/%q → %s) moves from rank %d to %d", from, code, to, from.Rank(), to.Rank())
				}
				if from.Final() && to != StatusDelivered && !(from == StatusFailed && code == CodeDeadLettered) {
					t.Errorf("Advance(%s/%q → %s) leaves a final status", from, code, to)
				}
			}
		}
	}
}

func TestPredecessorsAgreeWithAdvance(t *testing.T) {
	for _, to := range RecordStatuses {
		from, dl := Predecessors(to)
		for _, s := range RecordStatuses {
			if got, want := slices.Contains(from, s), Advance(s, "", to); got != want {
				t.Errorf("Predecessors(%s) contains %s = %v, want %v", to, s, got, want)
			}
		}
		if got, want := dl || slices.Contains(from, StatusFailed), Advance(StatusFailed, CodeDeadLettered, to); got != want {
			t.Errorf("Predecessors(%s) admits failed/dead_lettered = %v, want %v", to, got, want)
		}
	}
	tests := []struct {
		to   Status
		from []Status
		dl   bool
	}{
		{StatusSent, []Status{StatusScheduled, StatusQueued, StatusUnknown}, true},
		{StatusQueued, []Status{StatusScheduled}, false},
		{StatusCanceled, []Status{StatusScheduled}, false},
		{StatusFailed, []Status{StatusScheduled, StatusQueued, StatusUnknown, StatusSent}, false},
		{StatusScheduled, nil, false},
	}
	for _, tt := range tests {
		from, dl := Predecessors(tt.to)
		if !slices.Equal(from, tt.from) || dl != tt.dl {
			t.Errorf("Predecessors(%s) = %v, %v; want %v, %v", tt.to, from, dl, tt.from, tt.dl)
		}
	}
}

var t0 = time.Date(2026, 3, 1, 10, 5, 0, 0, time.UTC)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

func TestApply(t *testing.T) {
	rejected := &Failure{Code: "provider_rejected", Message: "not a mobile number", ProviderCode: "21614"}
	dead := &Failure{Code: CodeDeadLettered, Message: "quota_exceeded"}
	sendPath := Change{Status: StatusQueued, At: at(0), MessageID: "svc-1", To: "+14155552671", From: "MyApp",
		Segments: 1, Encoding: GSM7, CreatedAt: at(0), Owner: CallerOwner("alice")}
	tests := []struct {
		name         string
		start        Record
		ch           Change
		want         Record
		moved, modif bool
	}{
		{
			name: "creates from the change",
			ch:   sendPath,
			want: Record{MessageID: "svc-1", Status: StatusQueued, To: "+14155552671", From: "MyApp", Segments: 1,
				Encoding: GSM7, CreatedAt: at(0), UpdatedAt: at(9), Owner: CallerOwner("alice"),
				History: []HistoryEntry{{StatusQueued, at(0), ""}}},
			moved: true, modif: true,
		},
		{
			name:  "a receipt creates what it knows",
			ch:    Change{Status: StatusDelivered, At: at(5), ProviderCode: "delivered", ProviderMessageID: "SM1", Provider: "twilio"},
			want:  Record{ProviderMessageID: "SM1", Provider: "twilio", Status: StatusDelivered, UpdatedAt: at(9), History: []HistoryEntry{{StatusDelivered, at(5), "delivered"}}},
			moved: true, modif: true,
		},
		{
			name:  "a late send-path write merges without moving back, and lists its status",
			start: Record{ProviderMessageID: "SM1", Status: StatusDelivered, UpdatedAt: at(5), History: []HistoryEntry{{StatusDelivered, at(5), "delivered"}}},
			ch:    Change{Status: StatusSent, At: at(1), MessageID: "SM1", To: "+14155552671", CreatedAt: at(0), Owner: CallerOwner("alice")},
			want: Record{MessageID: "SM1", ProviderMessageID: "SM1", Status: StatusDelivered, To: "+14155552671", CreatedAt: at(0),
				UpdatedAt: at(9), Owner: CallerOwner("alice"),
				History: []HistoryEntry{{StatusSent, at(1), ""}, {StatusDelivered, at(5), "delivered"}}},
			modif: true,
		},
		{
			name:  "an exact duplicate changes nothing",
			start: Record{Status: StatusSent, To: "+1", UpdatedAt: at(1), History: []HistoryEntry{{StatusSent, at(1), ""}}},
			ch:    Change{Status: StatusSent, At: at(1), To: "+1"},
			want:  Record{Status: StatusSent, To: "+1", UpdatedAt: at(1), History: []HistoryEntry{{StatusSent, at(1), ""}}},
		},
		{
			name:  "a known field is never replaced",
			start: Record{Status: StatusSent, To: "+1", Owner: CallerOwner("alice"), UpdatedAt: at(1), History: []HistoryEntry{{StatusSent, at(1), ""}}},
			ch:    Change{Status: StatusSent, At: at(1), To: "+2", Owner: ProducerOwner("")},
			want:  Record{Status: StatusSent, To: "+1", Owner: CallerOwner("alice"), UpdatedAt: at(1), History: []HistoryEntry{{StatusSent, at(1), ""}}},
		},
		{
			name:  "a duplicate reported earlier moves the history entry earlier",
			start: Record{Status: StatusSent, UpdatedAt: at(3), History: []HistoryEntry{{StatusSent, at(3), "sent"}}},
			ch:    Change{Status: StatusSent, At: at(1)},
			want:  Record{Status: StatusSent, UpdatedAt: at(9), History: []HistoryEntry{{StatusSent, at(1), ""}}},
			modif: true,
		},
		{
			name:  "createdAt keeps the earliest",
			start: Record{Status: StatusSent, CreatedAt: at(2), UpdatedAt: at(2), History: []HistoryEntry{{StatusSent, at(2), ""}}},
			ch:    Change{Status: StatusSent, At: at(2), CreatedAt: at(1)},
			want:  Record{Status: StatusSent, CreatedAt: at(1), UpdatedAt: at(9), History: []HistoryEntry{{StatusSent, at(2), ""}}},
			modif: true,
		},
		{
			name:  "a failure sets the error",
			start: Record{Status: StatusSent, UpdatedAt: at(1), History: []HistoryEntry{{StatusSent, at(1), ""}}},
			ch:    Change{Status: StatusUndelivered, At: at(4), ProviderCode: "30003", Error: rejected},
			want: Record{Status: StatusUndelivered, Error: rejected, UpdatedAt: at(9),
				History: []HistoryEntry{{StatusSent, at(1), ""}, {StatusUndelivered, at(4), "30003"}}},
			moved: true, modif: true,
		},
		{
			name:  "delivered wins over a failure and clears the error",
			start: Record{Status: StatusUndelivered, Error: rejected, UpdatedAt: at(4), History: []HistoryEntry{{StatusUndelivered, at(4), "30003"}}},
			ch:    Change{Status: StatusDelivered, At: at(6)},
			want: Record{Status: StatusDelivered, UpdatedAt: at(9),
				History: []HistoryEntry{{StatusUndelivered, at(4), "30003"}, {StatusDelivered, at(6), ""}}},
			moved: true, modif: true,
		},
		{
			name:  "a rival final status is listed but does not move the record",
			start: Record{Status: StatusUndelivered, Error: rejected, UpdatedAt: at(4), History: []HistoryEntry{{StatusUndelivered, at(4), "30003"}}},
			ch:    Change{Status: StatusFailed, At: at(5), Error: dead},
			want: Record{Status: StatusUndelivered, Error: rejected, UpdatedAt: at(9),
				History: []HistoryEntry{{StatusUndelivered, at(4), "30003"}, {StatusFailed, at(5), ""}}},
			modif: true,
		},
		{
			name:  "a dead-lettered message sent after a redrive moves on",
			start: Record{Status: StatusFailed, Error: dead, UpdatedAt: at(4), History: []HistoryEntry{{StatusQueued, at(0), ""}, {StatusFailed, at(4), ""}}},
			ch:    Change{Status: StatusSent, At: at(60), ProviderMessageID: "SM2"},
			want: Record{Status: StatusSent, ProviderMessageID: "SM2", UpdatedAt: at(9),
				History: []HistoryEntry{{StatusQueued, at(0), ""}, {StatusFailed, at(4), ""}, {StatusSent, at(60), ""}}},
			moved: true, modif: true,
		},
		{
			name:  "a late queued write does not revive a dead-lettered message",
			start: Record{Status: StatusFailed, Error: dead, UpdatedAt: at(4), History: []HistoryEntry{{StatusFailed, at(4), ""}}},
			ch:    Change{Status: StatusQueued, At: at(0), MessageID: "svc-1"},
			want: Record{Status: StatusFailed, Error: dead, MessageID: "svc-1", UpdatedAt: at(9),
				History: []HistoryEntry{{StatusQueued, at(0), ""}, {StatusFailed, at(4), ""}}},
			modif: true,
		},
		{
			name:  "a refused cancel leaves no trace",
			start: Record{Status: StatusQueued, UpdatedAt: at(1), History: []HistoryEntry{{StatusQueued, at(1), ""}}},
			ch:    Change{Status: StatusCanceled, At: at(2)},
			want:  Record{Status: StatusQueued, UpdatedAt: at(1), History: []HistoryEntry{{StatusQueued, at(1), ""}}},
		},
		{
			name:  "a cancel of a scheduled message",
			start: Record{Status: StatusScheduled, UpdatedAt: at(1), History: []HistoryEntry{{StatusScheduled, at(1), ""}}},
			ch:    Change{Status: StatusCanceled, At: at(2)},
			want:  Record{Status: StatusCanceled, UpdatedAt: at(9), History: []HistoryEntry{{StatusScheduled, at(1), ""}, {StatusCanceled, at(2), ""}}},
			moved: true, modif: true,
		},
		{
			name:  "equal times order by rank; times are milliseconds in UTC",
			start: Record{Status: StatusDelivered, UpdatedAt: at(1), History: []HistoryEntry{{StatusDelivered, at(1), ""}}},
			ch:    Change{Status: StatusQueued, At: at(1).Add(700 * time.Microsecond).In(time.FixedZone("X", 3600))},
			want:  Record{Status: StatusDelivered, UpdatedAt: at(9), History: []HistoryEntry{{StatusQueued, at(1), ""}, {StatusDelivered, at(1), ""}}},
			modif: true,
		},
		{
			name:  "a change without a time happens now",
			ch:    Change{Status: StatusSent},
			want:  Record{Status: StatusSent, UpdatedAt: at(9), History: []HistoryEntry{{StatusSent, at(9), ""}}},
			moved: true, modif: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.start.Clone()
			got, moved, modif := tt.start.Apply(tt.ch, at(9).Add(400*time.Microsecond))
			if moved != tt.moved || modif != tt.modif {
				t.Errorf("Apply moved, modified = %v, %v; want %v, %v", moved, modif, tt.moved, tt.modif)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Apply =\n %+v\nwant\n %+v", got, tt.want)
			}
			if !reflect.DeepEqual(tt.start, before) {
				t.Errorf("Apply changed its receiver: %+v, was %+v", tt.start, before)
			}
		})
	}
}

func TestApplyDoesNotShareTheChangesError(t *testing.T) {
	f := &Failure{Code: "provider_rejected"}
	r, _, _ := Record{}.Apply(Change{Status: StatusFailed, Error: f}, t0)
	f.Code = "changed"
	if r.Error.Code != "provider_rejected" {
		t.Errorf("record error code = %q after the change's error was modified, want provider_rejected", r.Error.Code)
	}
}

func TestOwnedBy(t *testing.T) {
	tests := []struct {
		name   string
		record Owner
		reader Owner
		want   bool
	}{
		{"the caller itself", CallerOwner("alice"), CallerOwner("alice"), true},
		{"another caller", CallerOwner("alice"), CallerOwner("bob"), false},
		{"a caller named producer reads no producer message", ProducerOwner(""), CallerOwner("producer"), false},
		{"a caller named producer reads no producer message with a subject", ProducerOwner("producer"), CallerOwner("producer"), false},
		{"a producer reads no caller message of the same name", CallerOwner("svc"), ProducerOwner("svc"), false},
		{"the producer itself", ProducerOwner("arn:aws:iam::1:role/p"), ProducerOwner("arn:aws:iam::1:role/p"), true},
		{"an unknown owner belongs to nobody", Owner{}, Owner{}, false},
		{"nobody owns through the zero owner", CallerOwner("alice"), Owner{}, false},
	}
	for _, tt := range tests {
		if got := (Record{Owner: tt.record}).OwnedBy(tt.reader); got != tt.want {
			t.Errorf("%s: OwnedBy = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestChangeCheck(t *testing.T) {
	tests := []struct {
		name string
		ch   Change
		ok   bool
	}{
		{"a caller's change", Change{Status: StatusQueued, Owner: CallerOwner("alice")}, true},
		{"a receipt without owner", Change{Status: StatusDelivered}, true},
		{"a producer without subject", Change{Status: StatusSent, Owner: ProducerOwner("")}, true},
		{"no status", Change{}, false},
		{"a result status that is no record status", Change{Status: "accepted"}, false},
		{"a caller without subject", Change{Status: StatusSent, Owner: CallerOwner("")}, false},
		{"an unknown owner kind", Change{Status: StatusSent, Owner: Owner{Kind: "admin", Subject: "x"}}, false},
		{"a subject without kind", Change{Status: StatusSent, Owner: Owner{Subject: "x"}}, false},
	}
	for _, tt := range tests {
		err := tt.ch.Check()
		if (err == nil) != tt.ok {
			t.Errorf("%s: Check = %v, want ok %v", tt.name, err, tt.ok)
		}
		if err != nil && KindOf(err) != KindInternal {
			t.Errorf("%s: Check kind = %v, want internal", tt.name, KindOf(err))
		}
	}
}

func TestServiceIDForProducer(t *testing.T) {
	// Name-based UUIDs (version 5) in the namespace
	// 5dc52c9e-3c85-42d9-8151-61b25f51fe76, as any UUID library computes
	// them.
	tests := []struct{ dedupe, want string }{
		{"order-42", "e5a74160-16f1-5557-98aa-97145c6f62a5"},
		{"sqs:059f36b4-87a3-44ab-83d2-661975830a7d", "f719fac8-009b-5176-bfc1-0a953d31ca96"},
		{"", "56974646-5dfe-5cdf-90ad-221e088dd341"},
	}
	for _, tt := range tests {
		if got := ServiceIDForProducer(tt.dedupe); got != tt.want {
			t.Errorf("ServiceIDForProducer(%q) = %s, want %s", tt.dedupe, got, tt.want)
		}
		if !IsServiceIDShaped(ServiceIDForProducer(tt.dedupe)) {
			t.Errorf("ServiceIDForProducer(%q) is not service-id shaped", tt.dedupe)
		}
	}
}

func TestNewServiceID(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := NewServiceID()
		if !IsServiceIDShaped(id) || id[14] != '4' || !strings.ContainsRune("89ab", rune(id[19])) {
			t.Fatalf("NewServiceID() = %q, want a version 4 UUID", id)
		}
		if seen[id] {
			t.Fatalf("NewServiceID() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestIsServiceIDShaped(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"5dc52c9e-3c85-42d9-8151-61b25f51fe76", true},
		{"5DC52C9E-3C85-42D9-8151-61B25F51FE76", false},
		{"5dc52c9e3c8542d9815161b25f51fe76", false},
		{"SM0123456789abcdef0123456789abcdef", false},
		{"0A0000001234ABCD", false},
		{"5dc52c9e-3c85-42d9-8151-61b25f51fe7g", false},
		{"5dc52c9e-3c85-42d9-8151_61b25f51fe76", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := IsServiceIDShaped(tt.id); got != tt.want {
			t.Errorf("IsServiceIDShaped(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}
