package queue_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"regexp"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/queue"
	"github.com/fluxkit/sms/internal/sms"
)

// fuzzSQSID is the SQS message id the fuzz target decodes with: a real
// SQS id is always a UUID.
const fuzzSQSID = "6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f"

// fuzzNow is when the fuzz target requeues what it decoded.
var fuzzNow = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

// poisonReasons is the fixed set of poison reasons Decode may report: the
// constants and the per-field reasons documented on them, for the fields
// of the queue message.
var poisonReasons = func() map[string]bool {
	set := map[string]bool{
		queue.ReasonTooLarge: true, queue.ReasonInvalidJSON: true, queue.ReasonNotObject: true,
		queue.ReasonUnknownVersion: true, queue.ReasonInvalidSNSEnvelope: true,
		queue.ReasonSNSControlMessage: true, queue.ReasonInvalidMessage: true,
		queue.ReasonReservedIDPrefix: true,
	}
	fields := []string{"version", "id", "to", "body", "from", "attempt", "enqueuedAt", "idempotencyKey"}
	for _, f := range fields {
		set["wrong_type:"+f] = true
		set["invalid_"+f] = true
	}
	set["missing_field:to"] = true
	set["missing_field:body"] = true
	return set
}()

// longDigits finds a run of digits as long as the shortest phone number.
var longDigits = regexp.MustCompile(`[0-9]{8,}`)

// fixedNumbers are the long numbers poison details state themselves (the
// largest attempt).
var fixedNumbers = map[string]bool{"2147483647": true}

// FuzzDecode feeds arbitrary SQS message bodies to Decode. It never
// panics; a failure is a *PoisonError whose reason is one of the fixed
// set and whose text repeats no phone number; a decoded message is valid,
// has an id and an attempt, and its requeued copy survives Encode and
// Decode unchanged — as it must, since the drain puts a message it could
// not send in time back on the queue that way (Requeued, then Encode).
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"to":"+14155552671","body":"Your code is 482901"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := queue.Decode(body, fuzzSQSID)
		if err != nil {
			var perr *queue.PoisonError
			if !errors.As(err, &perr) {
				t.Fatalf("Decode error %v (%T) is not a *PoisonError", err, err)
			}
			if !poisonReasons[perr.Reason] {
				t.Errorf("poison reason %q is not one of the documented reasons", perr.Reason)
			}
			if got, _ := queue.PoisonReason(err); got != perr.Reason {
				t.Errorf("PoisonReason = %q, want %q", got, perr.Reason)
			}
			for _, run := range longDigits.FindAllString(perr.Error(), -1) {
				if bytes.Contains(body, []byte(run)) && !fixedNumbers[run] {
					t.Errorf("poison error %q repeats the number %s from the body", perr.Error(), run)
				}
			}
			return
		}
		if m.ID == "" || m.Attempt < 1 {
			t.Fatalf("Decode = %+v: want an id and an attempt of at least 1", m)
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("decoded message does not validate: %v", err)
		}
		cp := m
		if m.Attempt < math.MaxInt32 {
			if cp, err = queue.Requeued(m, fuzzNow); err != nil {
				t.Fatalf("Requeued: %v", err)
			}
		}
		enc, err := queue.Encode(cp)
		if err != nil {
			t.Fatalf("Encode of a requeued copy: %v", err)
		}
		if !json.Valid(enc) || len(enc) > queue.MaxBodyBytes {
			t.Fatalf("Encode = %q: want JSON of at most %d bytes", enc, queue.MaxBodyBytes)
		}
		back, err := queue.Decode(enc, "another-sqs-id")
		if err != nil {
			t.Fatalf("requeued copy does not survive Encode and Decode (it would be dead-lettered): %v\nfirst decoded: %+v\nencoded: %s", err, m, enc)
		}
		checkSame(t, back, cp)
	})
}

// checkSame fails t unless got carries the same message as want.
func checkSame(t *testing.T, got, want sms.QueuedMessage) {
	t.Helper()
	if got.Message != want.Message {
		t.Errorf("re-decoded message = %+v, want %+v", got.Message, want.Message)
	}
	if got.Attempt != want.Attempt {
		t.Errorf("re-decoded attempt = %d, want %d", got.Attempt, want.Attempt)
	}
	if !got.EnqueuedAt.Equal(want.EnqueuedAt) {
		t.Errorf("re-decoded enqueuedAt = %v, want %v", got.EnqueuedAt, want.EnqueuedAt)
	}
}
