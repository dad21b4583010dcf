package queue

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/sms"
)

// fixture is what one file under testdata/ must give.
type fixture struct {
	// reason is the poison reason Decode must report; empty for a valid
	// message.
	reason string
	// want is what Decode must return for a valid message, decoded with
	// fixtureSQSID as the SQS message id.
	want sms.QueuedMessage
	// schemaValid is the verdict of docs/queue-message.schema.json on the
	// message (for an SNS notification with a string Message, on that
	// Message). Some poison passes the schema: rules a JSON Schema cannot
	// express, such as libphonenumber validity.
	schemaValid bool
}

const fixtureSQSID = "9b2f4a1e-0c3d-4e5f-8a7b-6c5d4e3f2a1b"

// fixtures covers every file in testdata/; TestFixturesListed keeps the two
// in step.
var fixtures = map[string]fixture{
	"valid_producer_minimal.json": {
		want: sms.QueuedMessage{
			Message: sms.Message{ID: "sqs:" + fixtureSQSID, To: "+14155552671", Body: "Your code is 482901",
				ServiceID: sms.ServiceIDForProducer("sqs:" + fixtureSQSID)},
			Attempt: 1,
		},
		schemaValid: true,
	},
	"valid_producer_full.json": {
		want: sms.QueuedMessage{
			Message: sms.Message{ID: "0b6f7c4e-3a51-4c1e-9d2a-5f8e1b7a9c33", To: "+447911123456",
				Body: "Your parcel arrives today between 10:00 and 12:00.", From: "MyApp",
				// A producer's UUID is its id, not a service id.
				ServiceID: sms.ServiceIDForProducer("0b6f7c4e-3a51-4c1e-9d2a-5f8e1b7a9c33")},
			Attempt: 1,
		},
		schemaValid: true,
	},
	"valid_producer_extra_fields.json": {
		want: sms.QueuedMessage{
			Message: sms.Message{ID: "sqs:" + fixtureSQSID, To: "+14155552671", Body: "Reminder: appointment tomorrow at 9",
				ServiceID: sms.ServiceIDForProducer("sqs:" + fixtureSQSID)},
			Attempt: 1,
		},
		schemaValid: true,
	},
	"valid_from_number.json": {
		want: sms.QueuedMessage{
			Message: sms.Message{ID: "sqs:" + fixtureSQSID, To: "+14155552671", Body: "Ping", From: "+14155550100",
				ServiceID: sms.ServiceIDForProducer("sqs:" + fixtureSQSID)},
			Attempt: 1,
		},
		schemaValid: true,
	},
	"valid_unicode_body.json": {
		want: sms.QueuedMessage{
			Message: sms.Message{ID: "sqs:" + fixtureSQSID, To: "+33612345678",
				Body: "Café <#> réservé 🚀 & \"quoted\"\nsecond line", ServiceID: sms.ServiceIDForProducer("sqs:" + fixtureSQSID)},
			Attempt: 1,
		},
		schemaValid: true,
	},
	"valid_envelope_v1.json": {
		want: sms.QueuedMessage{
			Message: sms.Message{ID: "5d41402a-bc4b-4a76-b971-9d911017c592", To: "+14155552671",
				Body: "Your code is 482901", From: "FluxKit",
				// The send function's id is the service id.
				ServiceID: "5d41402a-bc4b-4a76-b971-9d911017c592"},
			// The fixture carries the idempotencyKey earlier versions
			// wrote: still accepted, and dropped.
			Attempt:    2,
			EnqueuedAt: time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC),
		},
		schemaValid: true,
	},
	"valid_envelope_float_attempt.json": {
		want: sms.QueuedMessage{
			Message: sms.Message{ID: "sqs:" + fixtureSQSID, To: "+14155552671",
				Body: "Integral numbers written with a fraction are integers in JSON Schema", ServiceID: sms.ServiceIDForProducer("sqs:" + fixtureSQSID)},
			Attempt: 3,
		},
		schemaValid: true,
	},
	"valid_to_seven_digits.json": {
		want: sms.QueuedMessage{
			Message: sms.Message{ID: "7d1e5c3a-4b2f-4a1e-9c8d-0e1f2a3b4c5d", To: "+6834002", Body: "Fakaalofa lahi atu",
				ServiceID: sms.ServiceIDForProducer("7d1e5c3a-4b2f-4a1e-9c8d-0e1f2a3b4c5d")},
			Attempt: 1,
		},
		schemaValid: true,
	},
	"valid_envelope_requeued_derived_id.json": {
		want: sms.QueuedMessage{
			Message: sms.Message{ID: "sqs:4e3d2c1b-0a9f-4e8d-b7c6-a5b4c3d2e1f0", To: "+14155552671", Body: "Your code is 482901",
				ServiceID: sms.ServiceIDForProducer("sqs:4e3d2c1b-0a9f-4e8d-b7c6-a5b4c3d2e1f0")},
			Attempt:    2,
			EnqueuedAt: time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC),
		},
		schemaValid: true,
	},
	"valid_producer_send_at.json": {
		want: sms.QueuedMessage{
			Message: sms.Message{ID: "appt-2026-12-01-0900-7731", To: "+14155552671", Body: "Reminder: your appointment is at 10:00",
				ServiceID: sms.ServiceIDForProducer("appt-2026-12-01-0900-7731")},
			Attempt: 1,
			// In UTC, whatever the zone it was written in.
			SendAt: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC),
		},
		schemaValid: true,
	},
	"valid_envelope_scheduled.json": {
		want: sms.QueuedMessage{
			// A scheduled message of the send function: its id is its
			// service id.
			Message: sms.Message{ID: "3f2b8c1d-9e4a-4b7c-8d6e-2a1b0c9d8e7f", ServiceID: "3f2b8c1d-9e4a-4b7c-8d6e-2a1b0c9d8e7f",
				To: "+14155552671", Body: "Your table is ready", From: "FluxKit"},
			Attempt:    1,
			EnqueuedAt: time.Date(2026, 11, 30, 8, 0, 0, 123000000, time.UTC),
			SendAt:     time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC),
		},
		schemaValid: true,
	},
	"valid_envelope_scheduled_derived_id.json": {
		// The drain's copy of a producer's scheduled message that arrived
		// early: a derived id on a first attempt, allowed with sendAt.
		want: sms.QueuedMessage{
			Message: sms.Message{ID: "sqs:4e3d2c1b-0a9f-4e8d-b7c6-a5b4c3d2e1f0", To: "+14155552671", Body: "Reminder: your appointment is at 10:00",
				ServiceID: sms.ServiceIDForProducer("sqs:4e3d2c1b-0a9f-4e8d-b7c6-a5b4c3d2e1f0")},
			Attempt:    1,
			EnqueuedAt: time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC),
			SendAt:     time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC),
		},
		schemaValid: true,
	},
	"valid_sns_notification.json": {
		want: sms.QueuedMessage{
			Message: sms.Message{ID: "sns:22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324", To: "+14155552671",
				Body: "Your code is 482901", From: "MyApp", ServiceID: sms.ServiceIDForProducer("sns:22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324")},
			Attempt: 1,
		},
		schemaValid: true,
	},
	"valid_sns_notification_with_id.json": {
		want: sms.QueuedMessage{
			Message: sms.Message{ID: "c3a9e0f1-7b2d-4d5e-8f6a-1b2c3d4e5f60", To: "+14155552671", Body: "Hi",
				ServiceID: sms.ServiceIDForProducer("c3a9e0f1-7b2d-4d5e-8f6a-1b2c3d4e5f60")},
			Attempt: 1,
		},
		schemaValid: true,
	},

	"valid_producer_expires_at.json": {
		want: sms.QueuedMessage{
			Message: sms.Message{ID: "login-7f3a9c", To: "+14155552671", Body: "Your code is 482901",
				ServiceID:  sms.ServiceIDForProducer("login-7f3a9c"),
				ValidUntil: time.Date(2026, 12, 1, 10, 5, 0, 0, time.FixedZone("", 3600))},
			Attempt: 1,
		},
		schemaValid: true,
	},
	"valid_envelope_requeued_producer.json": {
		want: sms.QueuedMessage{
			Message: sms.Message{ID: "order-1", To: "+14155552671", Body: "Your order shipped",
				ServiceID:  sms.ServiceIDForProducer("order-1"),
				ValidUntil: time.Date(2026, 12, 1, 9, 5, 0, 0, time.UTC)},
			Attempt:    2,
			EnqueuedAt: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC),
		},
		schemaValid: true,
	},

	"poison_invalid_json.json":                  {reason: "invalid_json"},
	"poison_not_object.json":                    {reason: "not_object"},
	"poison_null.json":                          {reason: "not_object"},
	"poison_wrong_type_to.json":                 {reason: "wrong_type:to"},
	"poison_wrong_type_body.json":               {reason: "wrong_type:body"},
	"poison_null_from.json":                     {reason: "wrong_type:from"},
	"poison_wrong_type_id.json":                 {reason: "wrong_type:id"},
	"poison_wrong_type_attempt.json":            {reason: "wrong_type:attempt"},
	"poison_wrong_type_version.json":            {reason: "wrong_type:version"},
	"poison_unknown_version.json":               {reason: "unknown_version"},
	"poison_missing_to.json":                    {reason: "missing_field:to"},
	"poison_missing_body.json":                  {reason: "missing_field:body"},
	"poison_uppercase_keys.json":                {reason: "missing_field:to"},
	"poison_empty_body.json":                    {reason: "invalid_body"},
	"poison_invalid_to_format.json":             {reason: "invalid_to"},
	"poison_invalid_to_unassigned.json":         {reason: "invalid_to", schemaValid: true},
	"poison_body_too_long.json":                 {reason: "invalid_body"},
	"poison_invalid_from.json":                  {reason: "invalid_from"},
	"poison_empty_from.json":                    {reason: "invalid_from"},
	"poison_invalid_id.json":                    {reason: "invalid_id"},
	"poison_reserved_id_prefix.json":            {reason: "reserved_id_prefix"},
	"poison_reserved_id_first_attempt.json":     {reason: "reserved_id_prefix"},
	"poison_invalid_attempt.json":               {reason: "invalid_attempt"},
	"poison_invalid_enqueued_at.json":           {reason: "invalid_enqueuedAt"},
	"poison_invalid_expires_at.json":            {reason: "invalid_expiresAt"},
	"poison_wrong_type_expires_at.json":         {reason: "wrong_type:expiresAt"},
	"poison_invalid_service_id.json":            {reason: "invalid_serviceId"},
	"poison_invalid_send_at.json":               {reason: "invalid_sendAt"},
	"poison_send_at_without_zone.json":          {reason: "invalid_sendAt"},
	"poison_wrong_type_send_at.json":            {reason: "wrong_type:sendAt"},
	"poison_sns_message_not_string.json":        {reason: "invalid_sns_envelope"},
	"poison_sns_subscription_confirmation.json": {reason: "sns_control_message"},
	"poison_sns_inner_invalid_json.json":        {reason: "invalid_json"},
}

// readFixture returns the bytes of testdata/name.
func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return b
}

func TestFixturesListed(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var onDisk []string
	for _, f := range files {
		name := filepath.Base(f)
		onDisk = append(onDisk, name)
		if _, ok := fixtures[name]; !ok {
			t.Errorf("testdata/%s has no entry in fixtures", name)
		}
		valid := strings.HasPrefix(name, "valid_")
		if got := fixtures[name].reason == ""; got != valid {
			t.Errorf("%s: valid = %v, want %v (file name prefix)", name, got, valid)
		}
	}
	for name := range fixtures {
		if !slices.Contains(onDisk, name) {
			t.Errorf("fixtures lists %s, which is not in testdata/", name)
		}
	}
}
