package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/fluxkit/sms/internal/sms"
)

// fakeBus is an EventBridge API that answers each request with answer
// (nil: every entry accepted) and keeps the requests and the events it
// accepted.
type fakeBus struct {
	mu       sync.Mutex
	answer   func(call int, in *eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error)
	requests [][]string // the serviceId of each entry of each request
	accepted []string   // serviceIds
}

func (f *fakeBus) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make([]string, len(in.Entries))
	for i, e := range in.Entries {
		var d Detail
		if err := json.Unmarshal([]byte(aws.ToString(e.Detail)), &d); err != nil {
			return nil, fmt.Errorf("fake bus: detail %d: %v", i, err)
		}
		ids[i] = d.ServiceID
	}
	f.requests = append(f.requests, ids)
	answer := f.answer
	if answer == nil {
		answer = acceptAll
	}
	out, err := answer(len(f.requests), in)
	if err != nil {
		return nil, err
	}
	for i, e := range out.Entries {
		if e.EventId != nil && i < len(ids) {
			f.accepted = append(f.accepted, ids[i])
		}
	}
	return out, nil
}

func acceptAll(_ int, in *eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error) {
	return failEntries(in, nil), nil
}

// failEntries answers in with the entries whose index is in bad failed.
func failEntries(in *eventbridge.PutEventsInput, bad map[int]string) *eventbridge.PutEventsOutput {
	out := &eventbridge.PutEventsOutput{}
	for i := range in.Entries {
		if code, ok := bad[i]; ok {
			out.Entries = append(out.Entries, types.PutEventsResultEntry{ErrorCode: aws.String(code), ErrorMessage: aws.String("injected")})
			out.FailedEntryCount++
			continue
		}
		out.Entries = append(out.Entries, types.PutEventsResultEntry{EventId: aws.String(fmt.Sprintf("ev-%d", i))})
	}
	return out
}

// sleeps records the pauses of a Publisher without waiting.
type sleeps struct{ d []time.Duration }

func (s *sleeps) sleep(_ context.Context, d time.Duration) error { s.d = append(s.d, d); return nil }

// changesN returns n changes with distinct service ids "svc-<i>".
func changesN(n int) []Change {
	out := make([]Change, n)
	for i := range out {
		out[i] = Change{Record: sms.Record{ServiceID: fmt.Sprintf("svc-%02d", i), Status: sms.StatusSent, UpdatedAt: t0}, Previous: sms.StatusQueued}
	}
	return out
}

func ids(changes []Change, idx ...int) []string {
	out := make([]string, len(idx))
	for i, x := range idx {
		out[i] = changes[x].Record.ServiceID
	}
	return out
}

func TestPublishSendsTenPerRequestInOrder(t *testing.T) {
	bus := &fakeBus{}
	var entries []types.PutEventsRequestEntry
	bus.answer = func(_ int, in *eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error) {
		entries = append(entries, in.Entries...)
		return acceptAll(0, in)
	}
	changes := changesN(25)
	p := NewPublisher(bus, "sms-events", PublisherConfig{})
	if failed := p.Publish(context.Background(), changes); len(failed) != 0 {
		t.Fatalf("Publish failed %v, want none", failed)
	}
	if got, want := sizes(bus.requests), []int{10, 10, 5}; !reflect.DeepEqual(got, want) {
		t.Errorf("request sizes = %v, want %v", got, want)
	}
	if got, want := bus.accepted, ids(changes, seq(25)...); !reflect.DeepEqual(got, want) {
		t.Errorf("events = %v, want every change once, in order %v", got, want)
	}
	for i, e := range entries {
		if aws.ToString(e.Source) != Source || aws.ToString(e.DetailType) != DetailType || aws.ToString(e.EventBusName) != "sms-events" || e.Time == nil || !e.Time.Equal(t0) {
			t.Errorf("entry %d = source %q, detail-type %q, bus %q, time %v; want %q, %q, %q, %v", i,
				aws.ToString(e.Source), aws.ToString(e.DetailType), aws.ToString(e.EventBusName), e.Time, Source, DetailType, "sms-events", t0)
		}
	}
}

// TestPublishSplitsBySize: a request stays within 256 KiB as EventBridge
// counts it, and an event larger than that alone fails without a request.
func TestPublishSplitsBySize(t *testing.T) {
	changes := changesN(5)
	for i := range changes {
		// Each detail is about 100 KB: two fit in a request, not three.
		changes[i].Record.Error = &sms.Failure{Code: "x", Message: strings.Repeat("m", 100_000)}
	}
	changes[3].Record.Error.Message = strings.Repeat("m", MaxRequestBytes)
	bus := &fakeBus{}
	failed := NewPublisher(bus, "b", PublisherConfig{}).Publish(context.Background(), changes)
	if want := []int{3}; !reflect.DeepEqual(failed, want) {
		t.Errorf("failed = %v, want %v (the event over 256 KiB)", failed, want)
	}
	if got, want := sizes(bus.requests), []int{2, 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("request sizes = %v, want %v", got, want)
	}
	if got, want := bus.accepted, ids(changes, 0, 1, 2, 4); !reflect.DeepEqual(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
}

func TestEntrySize(t *testing.T) {
	e := types.PutEventsRequestEntry{Source: aws.String("abc"), DetailType: aws.String("de"), Detail: aws.String(`{"a":1}`),
		EventBusName: aws.String("bus"), Resources: []string{"r1", "r22"}}
	if got, want := entrySize(e), 3+2+7+3+2+3; got != want {
		t.Errorf("entrySize without a time = %d, want %d", got, want)
	}
	e.Time = aws.Time(t0)
	if got, want := entrySize(e), 3+2+7+3+2+3+14; got != want {
		t.Errorf("entrySize with a time = %d, want %d", got, want)
	}
}

// TestPublishRetriesFailedEntries: the entries PutEvents reports failed,
// and only those, are sent again after a backoff that doubles up to its
// cap; an entry that keeps failing is given up after Attempts requests.
func TestPublishRetriesFailedEntries(t *testing.T) {
	tests := []struct {
		name       string
		answer     func(call int, in *eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error)
		wantCalls  [][]int // the changes each request carries
		wantFailed []int
		wantSleeps []time.Duration
	}{
		{
			name: "two entries throttled once",
			answer: func(call int, in *eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error) {
				if call == 1 {
					return failEntries(in, map[int]string{1: "ThrottlingException", 3: "InternalFailure"}), nil
				}
				return acceptAll(call, in)
			},
			wantCalls:  [][]int{{0, 1, 2, 3, 4}, {1, 3}},
			wantSleeps: []time.Duration{100 * time.Millisecond},
		},
		{
			name: "one entry always failing",
			answer: func(call int, in *eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error) {
				bad := map[int]string{}
				for i, e := range in.Entries {
					if strings.Contains(aws.ToString(e.Detail), "svc-02") {
						bad[i] = "InternalFailure"
					}
				}
				return failEntries(in, bad), nil
			},
			wantCalls:  [][]int{{0, 1, 2, 3, 4}, {2}, {2}, {2}, {2}},
			wantFailed: []int{2},
			wantSleeps: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 500 * time.Millisecond},
		},
		{
			name: "request failing as a whole",
			answer: func(call int, in *eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error) {
				if call <= 2 {
					return nil, errors.New("injected: connection reset")
				}
				return acceptAll(call, in)
			},
			wantCalls:  [][]int{{0, 1, 2, 3, 4}, {0, 1, 2, 3, 4}, {0, 1, 2, 3, 4}},
			wantSleeps: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond},
		},
		{
			name: "an answer without every entry",
			answer: func(call int, in *eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error) {
				out, _ := acceptAll(call, in)
				if call == 1 {
					out.Entries = out.Entries[:3]
				}
				return out, nil
			},
			wantCalls:  [][]int{{0, 1, 2, 3, 4}, {3, 4}},
			wantSleeps: []time.Duration{100 * time.Millisecond},
		},
		{
			name: "a non-retryable code is sent again too",
			answer: func(call int, in *eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error) {
				if call == 1 {
					return failEntries(in, map[int]string{0: "AccessDeniedException"}), nil
				}
				return acceptAll(call, in)
			},
			wantCalls:  [][]int{{0, 1, 2, 3, 4}, {0}},
			wantSleeps: []time.Duration{100 * time.Millisecond},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			changes := changesN(5)
			bus := &fakeBus{answer: tt.answer}
			sl := &sleeps{}
			p := NewPublisher(bus, "b", PublisherConfig{Attempts: 5, Backoff: 100 * time.Millisecond, MaxBackoff: 500 * time.Millisecond, Sleep: sl.sleep})
			failed := p.Publish(context.Background(), changes)
			if !reflect.DeepEqual(failed, tt.wantFailed) {
				t.Errorf("failed = %v, want %v", failed, tt.wantFailed)
			}
			var want [][]string
			for _, c := range tt.wantCalls {
				want = append(want, ids(changes, c...))
			}
			if !reflect.DeepEqual(bus.requests, want) {
				t.Errorf("requests = %v, want %v", bus.requests, want)
			}
			if !reflect.DeepEqual(sl.d, tt.wantSleeps) {
				t.Errorf("pauses = %v, want %v", sl.d, tt.wantSleeps)
			}
			// Every change not reported failed was accepted.
			got := map[string]bool{}
			for _, id := range bus.accepted {
				got[id] = true
			}
			for i, ch := range changes {
				if !got[ch.Record.ServiceID] && !slices.Contains(failed, i) {
					t.Errorf("change %d neither published nor reported failed", i)
				}
			}
		})
	}
}

// TestPublishStopsBeforeTheDeadline: no retry starts when its pause would
// end within the reserve before the invocation's deadline; the entries
// still failing are reported.
func TestPublishStopsBeforeTheDeadline(t *testing.T) {
	bus := &fakeBus{answer: func(_ int, in *eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error) {
		return failEntries(in, map[int]string{0: "ThrottlingException"}), nil
	}}
	sl := &sleeps{}
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	p := NewPublisher(bus, "b", PublisherConfig{Backoff: time.Second, Reserve: 2 * time.Second, Sleep: sl.sleep})
	if failed := p.Publish(ctx, changesN(2)); !reflect.DeepEqual(failed, []int{0}) {
		t.Errorf("failed = %v, want [0]", failed)
	}
	if len(bus.requests) != 1 || len(sl.d) != 0 {
		t.Errorf("%d requests, pauses %v; want 1 request and no pause (the deadline is near)", len(bus.requests), sl.d)
	}
}

func TestPublishNothing(t *testing.T) {
	bus := &fakeBus{}
	if failed := NewPublisher(bus, "b", PublisherConfig{}).Publish(context.Background(), nil); len(failed) != 0 || len(bus.requests) != 0 {
		t.Errorf("Publish(nil) = %v with %d requests, want nothing", failed, len(bus.requests))
	}
}

func sizes(reqs [][]string) []int {
	out := make([]int, len(reqs))
	for i, r := range reqs {
		out[i] = len(r)
	}
	return out
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}
