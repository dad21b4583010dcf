package invoketest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"

	"github.com/aws/aws-lambda-go/events"
)

// ExpectedSuffix ends the name of the file that records an event's
// expected outcome: events/send/x.json has events/send/x.expected.json.
const ExpectedSuffix = ".expected.json"

// Expected is the outcome recorded beside an event (the schema is in
// events/README.md). Every field is checked; an absent field means none or
// zero, except that a send or receipts outcome needs statusCode, a drain or
// publisher outcome needs batchItemFailures, a receipts outcome needs
// recorded, and recorded is checked only when given.
type Expected struct {
	// StatusCode is the HTTP status of the send or receipts function's
	// response.
	StatusCode *int `json:"statusCode,omitempty"`
	// BodyStatus is the response body's "status" ("sent", "queued",
	// "failed"); absent means the body has none.
	BodyStatus string `json:"bodyStatus,omitempty"`
	// ErrorCode is the response body's "error.code"; absent means the
	// body has no error.
	ErrorCode string `json:"errorCode,omitempty"`
	// Headers must be among the response headers (names compared without
	// regard to case).
	Headers map[string]string `json:"headers,omitempty"`

	// BatchItemFailures are the message ids the drain function reports
	// for redelivery (the stream records' sequence numbers for the
	// publisher), in any order.
	BatchItemFailures *[]string `json:"batchItemFailures,omitempty"`

	// Delivered is how many messages the provider accepted.
	Delivered int `json:"delivered"`
	// DeliveredTo are their recipients, in any order (optional).
	DeliveredTo []string `json:"deliveredTo,omitempty"`
	// DeadLettered is how many messages went to the dead-letter queue.
	DeadLettered int `json:"deadLettered"`
	// Reasons are their fluxkit-poison-reason attributes, in any order
	// (optional).
	Reasons []string `json:"reasons,omitempty"`
	// Queued is how many messages went to the queue.
	Queued int `json:"queued"`
	// Recorded are the status records the invocation created or moved,
	// by service id, with their status after it; {} for none. Required
	// for receipts outcomes, checked for the others when given.
	Recorded map[string]string `json:"recorded,omitempty"`
	// Events is how many status events went to the event bus.
	Events int `json:"events"`
	// EventChanges are their changes, "<previousStatus>><status>" (">queued"
	// for a new record), in any order (optional).
	EventChanges []string `json:"eventChanges,omitempty"`
	// Scheduled is how many messages went to EventBridge Scheduler (one
	// schedule each).
	Scheduled int `json:"scheduled"`
}

// ReadExpected reads the expected outcome of an event of function f. The
// file must follow the schema exactly: unknown fields are errors.
func ReadExpected(path string, f Function) (Expected, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Expected{}, fmt.Errorf("invoketest: expected outcome: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var e Expected
	if err := dec.Decode(&e); err != nil {
		return Expected{}, fmt.Errorf("invoketest: expected outcome %s: %w", path, err)
	}
	if err := e.validate(f); err != nil {
		return Expected{}, fmt.Errorf("invoketest: expected outcome %s: %w", path, err)
	}
	return e, nil
}

func (e Expected) validate(f Function) error {
	switch f.Name {
	case Send.Name, Receipts.Name:
		if e.StatusCode == nil {
			return fmt.Errorf("a %s outcome needs statusCode", f.Name)
		}
		if f == Receipts && e.Recorded == nil {
			return fmt.Errorf("a %s outcome needs recorded (use {} for none)", f.Name)
		}
		if e.BatchItemFailures != nil {
			return fmt.Errorf("batchItemFailures is for drain outcomes, not %s", f.Name)
		}
	case Drain.Name, Publisher.Name:
		if e.BatchItemFailures == nil {
			return fmt.Errorf("a %s outcome needs batchItemFailures (use [] for none)", f.Name)
		}
		if e.StatusCode != nil || e.BodyStatus != "" || e.ErrorCode != "" || e.Headers != nil {
			return fmt.Errorf("statusCode, bodyStatus, errorCode and headers are for API outcomes, not %s", f.Name)
		}
	default:
		return fmt.Errorf("unknown function %q", f.Name)
	}
	if e.DeliveredTo != nil && len(e.DeliveredTo) != e.Delivered {
		return fmt.Errorf("deliveredTo lists %d recipients but delivered is %d", len(e.DeliveredTo), e.Delivered)
	}
	if e.Reasons != nil && len(e.Reasons) != e.DeadLettered {
		return fmt.Errorf("reasons lists %d reasons but deadLettered is %d", len(e.Reasons), e.DeadLettered)
	}
	if e.EventChanges != nil && len(e.EventChanges) != e.Events {
		return fmt.Errorf("eventChanges lists %d changes but events is %d", len(e.EventChanges), e.Events)
	}
	return nil
}

// Check compares what an invocation of f with event did to the expected
// outcome and returns the differences, none when it matches. A drain
// invocation must also dead-letter each poison record with its body
// unchanged.
func Check(f Function, event []byte, e Expected, obs Observation) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	var lambdaErr struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal(obs.Response, &lambdaErr) == nil && lambdaErr.ErrorType != "" {
		add("the function failed: %s: %s", lambdaErr.ErrorType, lambdaErr.ErrorMessage)
		return problems
	}
	switch f.Name {
	case Send.Name, Receipts.Name:
		problems = append(problems, checkSend(e, obs.Response)...)
	case Drain.Name:
		problems = append(problems, checkDrain(e, event, obs)...)
	case Publisher.Name:
		problems = append(problems, checkPublisher(e, obs)...)
	default:
		add("unknown function %q", f.Name)
	}

	if got := len(obs.Delivered); got != e.Delivered {
		add("delivered = %d, want %d", got, e.Delivered)
	}
	if e.DeliveredTo != nil {
		var to []string
		for _, a := range obs.Delivered {
			to = append(to, a.To)
		}
		if got, want := sorted(to), sorted(e.DeliveredTo); !slices.Equal(got, want) {
			add("deliveredTo = %q, want %q", got, want)
		}
	}
	if got := len(obs.DeadLettered); got != e.DeadLettered {
		add("deadLettered = %d, want %d", got, e.DeadLettered)
	}
	if e.Reasons != nil {
		var reasons []string
		for _, d := range obs.DeadLettered {
			reasons = append(reasons, d.Reason)
		}
		if got, want := sorted(reasons), sorted(e.Reasons); !slices.Equal(got, want) {
			add("reasons = %q, want %q", got, want)
		}
	}
	if got := len(obs.Queued); got != e.Queued {
		add("queued = %d, want %d", got, e.Queued)
	}
	if e.Recorded != nil {
		got := map[string]string{}
		for id, st := range obs.Recorded {
			got[id] = string(st)
		}
		if !maps.Equal(got, e.Recorded) {
			add("recorded = %v, want %v", got, e.Recorded)
		}
	}
	if got := len(obs.Events); got != e.Events {
		add("events = %d, want %d", got, e.Events)
	}
	if got := len(obs.Scheduled); got != e.Scheduled {
		add("scheduled = %d, want %d", got, e.Scheduled)
	}
	if e.EventChanges != nil {
		var changes []string
		for _, ev := range obs.Events {
			var d struct{ Status, PreviousStatus string }
			if err := json.Unmarshal(ev.Detail, &d); err != nil {
				add("event detail %s: %v", ev.Detail, err)
			}
			changes = append(changes, d.PreviousStatus+">"+d.Status)
		}
		if got, want := sorted(changes), sorted(e.EventChanges); !slices.Equal(got, want) {
			add("eventChanges = %q, want %q", got, want)
		}
	}
	return problems
}

func checkSend(e Expected, response []byte) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	// Both payload formats answer with statusCode, headers and body.
	var resp struct {
		StatusCode int               `json:"statusCode"`
		Headers    map[string]string `json:"headers"`
		Body       string            `json:"body"`
	}
	if err := json.Unmarshal(response, &resp); err != nil {
		add("response %q is not an API Gateway proxy response: %v", response, err)
		return problems
	}
	if resp.StatusCode != *e.StatusCode {
		add("statusCode = %d, want %d", resp.StatusCode, *e.StatusCode)
	}
	var body struct {
		Status string `json:"status"`
		Error  *struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		add("response body %q is not JSON: %v", resp.Body, err)
		return problems
	}
	if body.Status != e.BodyStatus {
		add("body status = %q, want %q", body.Status, e.BodyStatus)
	}
	code := ""
	if body.Error != nil {
		code = body.Error.Code
	}
	if code != e.ErrorCode {
		add("error code = %q, want %q", code, e.ErrorCode)
	}
	hdr := http.Header{}
	for k, v := range resp.Headers {
		hdr.Set(k, v)
	}
	for k, want := range e.Headers {
		if got := hdr.Get(k); got != want {
			add("header %s = %q, want %q", k, got, want)
		}
	}
	return problems
}

func checkDrain(e Expected, event []byte, obs Observation) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	dec := json.NewDecoder(bytes.NewReader(obs.Response))
	dec.DisallowUnknownFields()
	var resp events.SQSEventResponse
	if err := dec.Decode(&resp); err != nil {
		add("response %q is not an SQS batch response: %v", obs.Response, err)
		return problems
	}
	ids := []string{}
	for _, f := range resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	if got, want := sorted(ids), sorted(*e.BatchItemFailures); !slices.Equal(got, want) {
		add("batchItemFailures = %q, want %q", got, want)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(event, &ev); err != nil {
		add("event is not an SQS event: %v", err)
		return problems
	}
	bodies := map[string]bool{}
	for _, r := range ev.Records {
		bodies[r.Body] = true
	}
	for i, d := range obs.DeadLettered {
		if !bodies[d.Body] {
			add("dead-lettered message %d (reason %q) is not the body of a record of the event", i, d.Reason)
		}
	}
	return problems
}

func checkPublisher(e Expected, obs Observation) []string {
	var problems []string
	dec := json.NewDecoder(bytes.NewReader(obs.Response))
	dec.DisallowUnknownFields()
	var resp events.DynamoDBEventResponse
	if err := dec.Decode(&resp); err != nil {
		return append(problems, fmt.Sprintf("response %q is not a stream batch response: %v", obs.Response, err))
	}
	ids := []string{}
	for _, f := range resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	if got, want := sorted(ids), sorted(*e.BatchItemFailures); !slices.Equal(got, want) {
		problems = append(problems, fmt.Sprintf("batchItemFailures = %q, want %q", got, want))
	}
	for _, ev := range obs.Events {
		if ev.Source != "fluxkit.sms" || ev.DetailType != "SMS Message Status Changed" {
			problems = append(problems, fmt.Sprintf("event source %q, detail-type %q; want fluxkit.sms, SMS Message Status Changed", ev.Source, ev.DetailType))
		}
	}
	return problems
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out
}
