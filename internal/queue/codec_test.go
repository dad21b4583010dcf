package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/sms"
)

func TestDecodeFixtures(t *testing.T) {
	for name, fx := range fixtures {
		t.Run(name, func(t *testing.T) {
			body := readFixture(t, name)
			got, err := Decode(body, fixtureSQSID)
			if fx.reason == "" {
				if err != nil {
					t.Fatalf("Decode error = %v, want nil", err)
				}
				if !reflect.DeepEqual(got, fx.want) {
					t.Errorf("Decode = %+v, want %+v", got, fx.want)
				}
				return
			}
			reason, ok := PoisonReason(err)
			if !ok {
				t.Fatalf("Decode error = %v, want a *PoisonError", err)
			}
			if reason != fx.reason {
				t.Errorf("poison reason = %q, want %q", reason, fx.reason)
			}
			// Nothing from the message may leak into what gets logged or
			// attached to the dead-lettered message.
			for _, secret := range []string{"4155552671", "482901", "415) 555", "0005552671"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q contains %q from the message", err.Error(), secret)
				}
			}
		})
	}
}

// TestPoisonReasonIsAttributeSafe checks that reasons fit an SQS message
// attribute value and stay machine-friendly: lower-case ASCII, digits,
// '_' and ':', plus the camel-case field names.
func TestPoisonReasonIsAttributeSafe(t *testing.T) {
	for name, fx := range fixtures {
		for _, c := range fx.reason {
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':'
			if !ok {
				t.Errorf("%s: reason %q contains %q", name, fx.reason, c)
			}
		}
	}
}

func TestEncodeGolden(t *testing.T) {
	m := sms.QueuedMessage{
		Message: sms.Message{ID: "5d41402a-bc4b-4a76-b971-9d911017c592", To: "+14155552671",
			Body: "<#> Your code is 482901 & \"more\"", From: "FluxKit"},
		Attempt:    1,
		EnqueuedAt: time.Date(2025, 3, 14, 16, 9, 26, 535897932, time.FixedZone("CET", 3600)),
	}
	got, err := Encode(m)
	if err != nil {
		t.Fatalf("Encode error = %v", err)
	}
	want := `{"version":1,"id":"5d41402a-bc4b-4a76-b971-9d911017c592","to":"+14155552671",` +
		`"body":"<#> Your code is 482901 & \"more\"","from":"FluxKit","attempt":1,` +
		`"enqueuedAt":"2025-03-14T15:09:26.535897932Z"}`
	if string(got) != want {
		t.Errorf("Encode =\n%s\nwant\n%s", got, want)
	}
}

func TestEncodeOmitsEmptyOptionalFields(t *testing.T) {
	got, err := Encode(sms.QueuedMessage{Message: sms.Message{To: "+14155552671", Body: "hi"}})
	if err != nil {
		t.Fatalf("Encode error = %v", err)
	}
	want := `{"version":1,"to":"+14155552671","body":"hi"}`
	if string(got) != want {
		t.Errorf("Encode = %s, want %s", got, want)
	}
}

// encodeSamples are messages the send function may enqueue; the schema
// test checks Encode's output for them too.
var encodeSamples = []sms.QueuedMessage{
	{
		Message: sms.Message{ID: "5d41402a-bc4b-4a76-b971-9d911017c592", To: "+14155552671", Body: "Your code is 482901",
			ServiceID: "5d41402a-bc4b-4a76-b971-9d911017c592"},
		Attempt: 1, EnqueuedAt: time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC),
	},
	{
		Message: sms.Message{ID: "0b6f7c4e-3a51-4c1e-9d2a-5f8e1b7a9c33", To: "+447911123456",
			Body: "Caf\u00e9 \U0001F680 <b>&</b> \"q\" \\ \n\t\u0000 end", From: "+14155550100",
			ServiceID: "0b6f7c4e-3a51-4c1e-9d2a-5f8e1b7a9c33", ValidUntil: time.Date(2026, 1, 1, 4, 59, 59, 0, time.UTC)},
		Attempt: 7, EnqueuedAt: time.Date(2025, 12, 31, 23, 59, 59, 999999999, time.FixedZone("X", -5*3600)),
	},
	{
		Message: sms.Message{ID: "sqs:9b2f4a1e-0c3d-4e5f-8a7b-6c5d4e3f2a1b", To: "+33612345678",
			Body: strings.Repeat("€", sms.MaxBodyChars), From: "My App 2024",
			ServiceID: sms.ServiceIDForProducer("sqs:9b2f4a1e-0c3d-4e5f-8a7b-6c5d4e3f2a1b")},
		Attempt: 2147483647, EnqueuedAt: time.Date(2025, 1, 2, 3, 4, 5, 600000000, time.UTC),
	},
	// A producer's message put back on the queue: its UUID id stays the
	// producer's, and serviceId says what its service id is.
	{
		Message: sms.Message{ID: "7d1e5c3a-4b2f-4a1e-9c8d-0e1f2a3b4c5d", To: "+14155552671", Body: "Your code is 482901",
			ServiceID: sms.ServiceIDForProducer("7d1e5c3a-4b2f-4a1e-9c8d-0e1f2a3b4c5d"), ValidUntil: time.Date(2026, 12, 1, 10, 5, 0, 0, time.UTC)},
		Attempt: 2, EnqueuedAt: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
	},
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for i, m := range encodeSamples {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			body, err := Encode(m)
			if err != nil {
				t.Fatalf("Encode error = %v", err)
			}
			got, err := Decode(body, "other-sqs-id")
			if err != nil {
				t.Fatalf("Decode error = %v", err)
			}
			if !got.EnqueuedAt.Equal(m.EnqueuedAt) {
				t.Errorf("EnqueuedAt = %v, want %v", got.EnqueuedAt, m.EnqueuedAt)
			}
			if !got.ValidUntil.Equal(m.ValidUntil) {
				t.Errorf("ValidUntil = %v, want %v", got.ValidUntil, m.ValidUntil)
			}
			got.EnqueuedAt, got.ValidUntil = m.EnqueuedAt, m.ValidUntil
			if !reflect.DeepEqual(got, m) {
				t.Errorf("Decode(Encode(m)) = %+v, want %+v", got, m)
			}
		})
	}
}

func TestEncodeRejects(t *testing.T) {
	base := sms.QueuedMessage{Message: sms.Message{ID: "a", To: "+14155552671", Body: "hi"}, Attempt: 1}
	tests := []struct {
		name   string
		mutate func(*sms.QueuedMessage)
		field  string
		code   string
	}{
		{"empty to", func(m *sms.QueuedMessage) { m.To = "" }, "to", sms.CodeInvalidTo},
		{"empty body", func(m *sms.QueuedMessage) { m.Body = "" }, "body", sms.CodeInvalidBody},
		{"id with space", func(m *sms.QueuedMessage) { m.ID = "a b" }, "id", ""},
		{"id too long", func(m *sms.QueuedMessage) { m.ID = strings.Repeat("x", maxIDLen+1) }, "id", ""},
		{"negative attempt", func(m *sms.QueuedMessage) { m.Attempt = -1 }, "attempt", ""},
		{"derived id on a first attempt", func(m *sms.QueuedMessage) { m.ID = "sqs:m-0" }, "id", ""},
		{"oversized", func(m *sms.QueuedMessage) { m.Body = strings.Repeat("k", MaxBodyBytes) }, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := base
			tt.mutate(&m)
			_, err := Encode(m)
			var e *sms.Error
			if !errors.As(err, &e) {
				t.Fatalf("Encode error = %v, want an *sms.Error", err)
			}
			if e.Kind != sms.KindInvalid {
				t.Errorf("Kind = %v, want %v", e.Kind, sms.KindInvalid)
			}
			if e.Field != tt.field {
				t.Errorf("Field = %q, want %q", e.Field, tt.field)
			}
			if e.Code != tt.code {
				t.Errorf("Code = %q, want %q", e.Code, tt.code)
			}
			if !strings.HasPrefix(e.Message, tt.field) || e.Message == "" {
				t.Errorf("Message = %q, want one naming field %q", e.Message, tt.field)
			}
		})
	}
}

func TestDecodeID(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		sqsID string
		want  string
	}{
		{"producer id wins", `{"id":"p-1","to":"+14155552671","body":"hi"}`, "m-1", "p-1"},
		{"sqs message id", `{"to":"+14155552671","body":"hi"}`, "m-1", "sqs:m-1"},
		{"sns message id", `{"Type":"Notification","MessageId":"n-1","TopicArn":"arn:aws:sns:us-east-1:1:t","Message":"{\"to\":\"+14155552671\",\"body\":\"hi\"}"}`, "m-1", "sns:n-1"},
		{"sns without message id", `{"Type":"Notification","TopicArn":"arn:aws:sns:us-east-1:1:t","Message":"{\"to\":\"+14155552671\",\"body\":\"hi\"}"}`, "m-1", "sqs:m-1"},
		{"sns inner id wins", `{"Type":"Notification","MessageId":"n-1","TopicArn":"arn:aws:sns:us-east-1:1:t","Message":"{\"id\":\"p-2\",\"to\":\"+14155552671\",\"body\":\"hi\"}"}`, "m-1", "p-2"},
		{"requeued derived id kept", `{"version":1,"id":"sqs:m-0","to":"+14155552671","body":"hi","attempt":2}`, "m-1", "sqs:m-0"},
		{"requeued sns id kept", `{"version":1,"id":"sns:n-0","to":"+14155552671","body":"hi","attempt":5,"enqueuedAt":"2025-03-14T15:09:26Z"}`, "m-1", "sns:n-0"},
		{"prefix is case-sensitive", `{"id":"SQS:m-0","to":"+14155552671","body":"hi"}`, "m-1", "SQS:m-0"},
		{"prefix only at the start", `{"id":"orders-sqs:1","to":"+14155552671","body":"hi"}`, "m-1", "orders-sqs:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode([]byte(tt.body), tt.sqsID)
			if err != nil {
				t.Fatalf("Decode error = %v", err)
			}
			if m.ID != tt.want {
				t.Errorf("ID = %q, want %q", m.ID, tt.want)
			}
		})
	}
}

// TestRequeueKeepsDerivedID follows a producer message without an id
// through the drain's requeue: the copy keeps the derived id, so a copy of a
// message that was sent meanwhile is still recognised as a duplicate.
func TestRequeueKeepsDerivedID(t *testing.T) {
	for _, body := range []string{
		`{"to":"+14155552671","body":"hi"}`,
		`{"Type":"Notification","MessageId":"n-1","TopicArn":"arn:aws:sns:us-east-1:1:t","Message":"{\"to\":\"+14155552671\",\"body\":\"hi\"}"}`,
	} {
		m, err := Decode([]byte(body), "m-1")
		if err != nil {
			t.Fatalf("Decode(%s) error = %v", body, err)
		}
		cp, err := Requeued(m, time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC))
		if err != nil {
			t.Fatalf("Requeued error = %v", err)
		}
		enc, err := Encode(cp)
		if err != nil {
			t.Fatalf("Encode(requeued copy) error = %v", err)
		}
		again, err := Decode(enc, "m-2")
		if err != nil {
			t.Fatalf("Decode(%s) error = %v, want the drain's own copy accepted", enc, err)
		}
		if again.ID != m.ID || again.Attempt != 2 {
			t.Errorf("copy id, attempt = %q, %d, want %q, 2", again.ID, again.Attempt, m.ID)
		}
	}
}

func TestDecodeWithoutAnyID(t *testing.T) {
	_, err := Decode([]byte(`{"to":"+14155552671","body":"hi"}`), "")
	if _, ok := PoisonReason(err); ok {
		t.Fatalf("Decode error = %v, want a non-poison error (a caller bug, not a bad message)", err)
	}
	if got := sms.KindOf(err); got != sms.KindInternal {
		t.Errorf("KindOf = %v, want %v", got, sms.KindInternal)
	}
	// With an id in the body, no SQS message id is needed.
	m, err := Decode([]byte(`{"id":"p-1","to":"+14155552671","body":"hi"}`), "")
	if err != nil || m.ID != "p-1" {
		t.Errorf("Decode = %q, %v, want %q, nil", m.ID, err, "p-1")
	}
}

func TestDecodePoisonEdges(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string
	}{
		{"too large", `{"to":"+14155552671","body":"hi","pad":"` + strings.Repeat("x", MaxBodyBytes) + `"}`, "too_large"},
		{"empty", ``, "invalid_json"},
		{"trailing garbage", `{"to":"+14155552671","body":"hi"} x`, "invalid_json"},
		{"string", `"hello"`, "not_object"},
		{"number", `42`, "not_object"},
		{"bool to", `{"to":true,"body":"hi"}`, "wrong_type:to"},
		{"object body", `{"to":"+14155552671","body":{"text":"hi"}}`, "wrong_type:body"},
		{"null to", `{"to":null,"body":"hi"}`, "wrong_type:to"},
		{"null id", `{"to":"+14155552671","body":"hi","id":null}`, "wrong_type:id"},
		{"null version", `{"version":null,"to":"+14155552671","body":"hi"}`, "wrong_type:version"},
		{"version 1.5", `{"version":1.5,"to":"+14155552671","body":"hi"}`, "unknown_version"},
		{"version 0", `{"version":0,"to":"+14155552671","body":"hi"}`, "unknown_version"},
		{"version checked before to", `{"version":2,"to":5}`, "unknown_version"},
		{"attempt 1.5", `{"to":"+14155552671","body":"hi","attempt":1.5}`, "invalid_attempt"},
		{"attempt huge", `{"to":"+14155552671","body":"hi","attempt":1e300}`, "invalid_attempt"},
		{"attempt negative", `{"to":"+14155552671","body":"hi","attempt":-1}`, "invalid_attempt"},
		{"attempt bool", `{"to":"+14155552671","body":"hi","attempt":true}`, "wrong_type:attempt"},
		{"enqueuedAt number", `{"to":"+14155552671","body":"hi","enqueuedAt":1741964966}`, "wrong_type:enqueuedAt"},
		{"enqueuedAt no zone", `{"to":"+14155552671","body":"hi","enqueuedAt":"2025-03-14T15:09:26"}`, "invalid_enqueuedAt"},
		{"empty idempotencyKey", `{"to":"+14155552671","body":"hi","idempotencyKey":""}`, "invalid_idempotencyKey"},
		{"empty id", `{"to":"+14155552671","body":"hi","id":""}`, "invalid_id"},
		{"id too long", `{"to":"+14155552671","body":"hi","id":"` + strings.Repeat("i", maxIDLen+1) + `"}`, "invalid_id"},
		{"id non-ascii", `{"to":"+14155552671","body":"hi","id":"caf\u00e9"}`, "invalid_id"},
		{"to not canonical", `{"to":"+4402079460000","body":"hi"}`, "invalid_to"},
		{"body 1601 runes", `{"to":"+14155552671","body":"` + strings.Repeat("é", sms.MaxBodyChars+1) + `"}`, "invalid_body"},
		{"from without letter", `{"to":"+14155552671","body":"hi","from":"12345"}`, "invalid_from"},
		{"sns type not string", `{"Type":1,"TopicArn":"arn","Message":"{}"}`, "invalid_sns_envelope"},
		{"sns bad message id", `{"Type":"Notification","MessageId":"a b","TopicArn":"arn","Message":"{}"}`, "invalid_sns_envelope"},
		{"sns unknown type", `{"Type":"Other","TopicArn":"arn","Message":"{}"}`, "sns_control_message"},
		{"sns inner missing body", `{"Type":"Notification","MessageId":"n","TopicArn":"arn","Message":"{\"to\":\"+14155552671\"}"}`, "missing_field:body"},
		{"producer id with the sqs prefix", `{"id":"sqs:m-0","to":"+14155552671","body":"hi"}`, "reserved_id_prefix"},
		{"producer id with the sns prefix", `{"id":"sns:n-0","to":"+14155552671","body":"hi"}`, "reserved_id_prefix"},
		{"derived id on a first attempt", `{"version":1,"id":"sqs:m-0","to":"+14155552671","body":"hi","attempt":1}`, "reserved_id_prefix"},
		{"derived id without version", `{"id":"sqs:m-0","to":"+14155552671","body":"hi","attempt":2}`, "reserved_id_prefix"},
		{"derived id inside sns", `{"Type":"Notification","MessageId":"n","TopicArn":"arn","Message":"{\"version\":1,\"id\":\"sqs:m-0\",\"to\":\"+14155552671\",\"body\":\"hi\",\"attempt\":2}"}`, "reserved_id_prefix"},
		{"sns inside sns not unwrapped twice", `{"Type":"Notification","MessageId":"n","TopicArn":"arn","Message":"{\"Type\":\"Notification\",\"TopicArn\":\"arn\",\"Message\":\"{}\"}"}`, "missing_field:to"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.body), "m-1")
			got, ok := PoisonReason(err)
			if !ok {
				t.Fatalf("Decode error = %v, want a *PoisonError", err)
			}
			if got != tt.want {
				t.Errorf("reason = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDecodeAcceptsEdges(t *testing.T) {
	derivedM1 := sms.ServiceIDForProducer("sqs:m-1")
	tests := []struct {
		name string
		body string
		want sms.QueuedMessage
	}{
		{"to field named like sns fields", `{"Type":"Notification","TopicArn":"arn","to":"+14155552671","body":"hi"}`,
			sms.QueuedMessage{Message: sms.Message{ID: "sqs:m-1", To: "+14155552671", Body: "hi", ServiceID: derivedM1}, Attempt: 1}},
		{"body 1600 runes", `{"to":"+14155552671","body":"` + strings.Repeat("é", sms.MaxBodyChars) + `"}`,
			sms.QueuedMessage{Message: sms.Message{ID: "sqs:m-1", To: "+14155552671", Body: strings.Repeat("é", sms.MaxBodyChars), ServiceID: derivedM1}, Attempt: 1}},
		{"escaped strings", `{"to":"\u002b14155552671","body":"a\tb\u00e9\ud83d\ude00"}`,
			sms.QueuedMessage{Message: sms.Message{ID: "sqs:m-1", To: "+14155552671", Body: "a\tbé😀", ServiceID: derivedM1}, Attempt: 1}},
		{"attempt 2e0 and offset time", `{"to":"+14155552671","body":"hi","attempt":2e0,"enqueuedAt":"2025-03-14T16:09:26+01:00"}`,
			sms.QueuedMessage{Message: sms.Message{ID: "sqs:m-1", To: "+14155552671", Body: "hi", ServiceID: derivedM1}, Attempt: 2,
				EnqueuedAt: time.Date(2025, 3, 14, 16, 9, 26, 0, time.FixedZone("", 3600))}},
		{"duplicate key: last wins", `{"to":"+33612345678","to":"+14155552671","body":"hi"}`,
			sms.QueuedMessage{Message: sms.Message{ID: "sqs:m-1", To: "+14155552671", Body: "hi", ServiceID: derivedM1}, Attempt: 1}},
		{"whitespace around values", " {\n \"to\" : \"+14155552671\" ,\t\"body\": \"hi\" }\n",
			sms.QueuedMessage{Message: sms.Message{ID: "sqs:m-1", To: "+14155552671", Body: "hi", ServiceID: derivedM1}, Attempt: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.body), "m-1")
			if err != nil {
				t.Fatalf("Decode error = %v", err)
			}
			if !got.EnqueuedAt.Equal(tt.want.EnqueuedAt) {
				t.Errorf("EnqueuedAt = %v, want %v", got.EnqueuedAt, tt.want.EnqueuedAt)
			}
			got.EnqueuedAt, tt.want.EnqueuedAt = time.Time{}, time.Time{}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Decode = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRawInt(t *testing.T) {
	tests := []struct {
		raw    string
		want   int64
		wantOK bool
	}{
		{"1", 1, true},
		{"-3", -3, true},
		{"1.0", 1, true},
		{"2e0", 2, true},
		{"1.5", 0, false},
		{"1e400", 0, false},
		{`"1"`, 0, false},
		{"null", 0, false},
		{"true", 0, false},
	}
	for _, tt := range tests {
		got, ok := rawInt(json.RawMessage(tt.raw))
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("rawInt(%s) = %d, %v, want %d, %v", tt.raw, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestPoisonErrorMessage(t *testing.T) {
	err := fmt.Errorf("drain: %w", &PoisonError{Reason: "invalid_to", Detail: "to is not valid"})
	if got, want := err.Error(), "drain: queue: poison message: invalid_to: to is not valid"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if reason, ok := PoisonReason(err); !ok || reason != "invalid_to" {
		t.Errorf("PoisonReason = %q, %v, want %q, true", reason, ok, "invalid_to")
	}
	if _, ok := PoisonReason(errors.New("other")); ok {
		t.Errorf("PoisonReason(other) ok = true, want false")
	}
}

func BenchmarkEncode(b *testing.B) {
	m := encodeSamples[0]
	m.From = "FluxKit"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, name := range []string{"valid_producer_minimal.json", "valid_envelope_v1.json", "valid_sns_notification.json"} {
		body := readFixture(b, name)
		b.Run(strings.TrimSuffix(strings.TrimPrefix(name, "valid_"), ".json"), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := Decode(body, fixtureSQSID); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestDecodePoisonIDs checks that a poison message still names its ids
// when it can, so that its status record can say it was dead-lettered,
// and names none when its id cannot be trusted.
func TestDecodePoisonIDs(t *testing.T) {
	const sendID = "5d41402a-bc4b-4a76-b971-9d911017c592"
	tests := []struct {
		name          string
		body          string
		wantID        string
		wantServiceID string
	}{
		{"producer's id", `{"to":"+1415555","body":"hi","id":"order-7"}`, "order-7", sms.ServiceIDForProducer("order-7")},
		{"no id: the derived one", `{"to":12,"body":"hi"}`, "sqs:m-1", sms.ServiceIDForProducer("sqs:m-1")},
		{"send function's envelope", `{"version":1,"id":"` + sendID + `","to":"+1","body":"hi","attempt":1}`, sendID, sendID},
		{"requeued producer's envelope", `{"version":1,"id":"order-8","serviceId":"` + sendID + `","to":"+1","body":"hi","attempt":2}`, "order-8", sendID},
		{"invalid id", `{"to":"+14155552671","body":"hi","id":"has space"}`, "", ""},
		{"id of the wrong type", `{"to":"+14155552671","body":"hi","id":7}`, "", ""},
		{"reserved id prefix", `{"to":"+1","body":"hi","id":"sqs:other"}`, "", ""},
		{"not JSON", `{"to":`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.body), "m-1")
			if _, ok := PoisonReason(err); !ok {
				t.Fatalf("Decode error = %v, want a *PoisonError", err)
			}
			if got.ID != tt.wantID || got.ServiceID != tt.wantServiceID {
				t.Errorf("ids = %q, %q, want %q, %q", got.ID, got.ServiceID, tt.wantID, tt.wantServiceID)
			}
			if got.To != "" || got.Body != "" {
				t.Errorf("poison message carries to %q, body %q, want only its ids", got.To, got.Body)
			}
		})
	}
}

// TestDecodeExpiry checks that expiresAt becomes ValidUntil and that a
// message already past it is not poison (the drain records it expired).
func TestDecodeExpiry(t *testing.T) {
	got, err := Decode([]byte(`{"to":"+14155552671","body":"hi","expiresAt":"2001-02-03T04:05:06.5Z"}`), "m-1")
	if err != nil {
		t.Fatalf("Decode error = %v, want nil for a message past its expiry", err)
	}
	if want := time.Date(2001, 2, 3, 4, 5, 6, 500000000, time.UTC); !got.ValidUntil.Equal(want) {
		t.Errorf("ValidUntil = %v, want %v", got.ValidUntil, want)
	}
	if _, err := Decode([]byte(`{"to":"+14155552671","body":"hi","expiresAt":"2001-02-03T04:05:06"}`), "m-1"); err == nil {
		t.Error("Decode of an expiresAt without a time zone succeeded, want invalid_expiresAt")
	}
}
