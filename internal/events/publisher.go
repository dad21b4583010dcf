package events

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// PutEvents' limits: entries per request, and bytes per request counted as
// EventBridge counts an entry's size (see entrySize).
const (
	MaxEntries      = 10
	MaxRequestBytes = 256 * 1024
)

// Defaults of PublisherConfig.
const (
	DefaultAttempts   = 5
	DefaultBackoff    = 100 * time.Millisecond
	DefaultMaxBackoff = 2 * time.Second
	// DefaultReserve is the time before the invocation's deadline after
	// which no further attempt starts, so that the handler can still
	// answer with the records that failed.
	DefaultReserve = 2 * time.Second
)

// API is the part of the EventBridge client the Publisher uses.
type API interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// PublisherConfig holds the options of a Publisher; zero fields take the
// defaults.
type PublisherConfig struct {
	// Attempts bounds the PutEvents requests that carry one event: the
	// first and the retries of an entry reported failed.
	Attempts int
	// Backoff is the pause before the first retry; each further retry
	// waits twice as long, up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
	// Reserve is how long before ctx's deadline the retries stop.
	Reserve time.Duration
	// Sleep pauses between attempts; nil waits on a timer (tests replace
	// it).
	Sleep func(ctx context.Context, d time.Duration) error
	// Log receives a warning for every failed attempt; nil discards.
	Log *slog.Logger
}

// Publisher puts status events on one event bus. It is safe for
// concurrent use.
type Publisher struct {
	api API
	bus string
	cfg PublisherConfig
}

// NewPublisher returns a Publisher putting events on bus (a name or an
// ARN) through api.
func NewPublisher(api API, bus string, cfg PublisherConfig) *Publisher {
	if cfg.Attempts <= 0 {
		cfg.Attempts = DefaultAttempts
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.Reserve <= 0 {
		cfg.Reserve = DefaultReserve
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Publisher{api: api, bus: bus, cfg: cfg}
}

// pending is one event still to be put: its entry, and the index of its
// change in Publish's argument.
type pending struct {
	entry types.PutEventsRequestEntry
	size  int
	index int
}

// Publish puts one event per change on the bus, in order, in requests of
// at most MaxEntries entries and MaxRequestBytes. The entries a request
// reports failed (FailedEntryCount, each with its ErrorCode), and every
// entry of a request that failed as a whole, are sent again after a
// backoff, up to Attempts requests per event and not past the reserve
// before ctx's deadline. It returns the indexes of the changes whose event
// was not put, in order; their events may still have reached the bus
// (a request whose answer was lost), so consumers deduplicate.
func (p *Publisher) Publish(ctx context.Context, changes []Change) (failed []int) {
	todo := make([]pending, 0, len(changes))
	for i, ch := range changes {
		detail, err := marshalDetail(ch)
		if err != nil {
			p.cfg.Log.LogAttrs(ctx, slog.LevelError, "status event not encoded", slog.String("event", "status_event_failed"),
				slog.String("serviceId", ch.Record.ServiceID), slog.String("error", err.Error()))
			failed = append(failed, i)
			continue
		}
		e := types.PutEventsRequestEntry{
			Source:       aws.String(Source),
			DetailType:   aws.String(DetailType),
			Detail:       aws.String(detail),
			EventBusName: aws.String(p.bus),
		}
		if t := ch.Record.UpdatedAt; !t.IsZero() {
			e.Time = aws.Time(t)
		}
		pe := pending{entry: e, size: entrySize(e), index: i}
		if pe.size > MaxRequestBytes {
			p.cfg.Log.LogAttrs(ctx, slog.LevelError, "status event too large", slog.String("event", "status_event_failed"),
				slog.String("serviceId", ch.Record.ServiceID), slog.Int("bytes", pe.size))
			failed = append(failed, i)
			continue
		}
		todo = append(todo, pe)
	}
	delay := p.cfg.Backoff
	for attempt := 1; len(todo) > 0; attempt++ {
		var retry []pending
		for _, batch := range batches(todo) {
			retry = append(retry, p.put(ctx, batch, attempt)...)
		}
		todo = retry
		if len(todo) == 0 || attempt == p.cfg.Attempts || !p.timeFor(ctx, delay) {
			break
		}
		if p.cfg.Sleep(ctx, delay) != nil {
			break
		}
		delay = min(2*delay, p.cfg.MaxBackoff)
	}
	for _, pe := range todo {
		failed = append(failed, pe.index)
	}
	slices.Sort(failed)
	return failed
}

// put sends one request and returns the entries to send again.
func (p *Publisher) put(ctx context.Context, batch []pending, attempt int) []pending {
	in := &eventbridge.PutEventsInput{Entries: make([]types.PutEventsRequestEntry, len(batch))}
	for i, pe := range batch {
		in.Entries[i] = pe.entry
	}
	out, err := p.api.PutEvents(ctx, in)
	if err != nil {
		p.cfg.Log.LogAttrs(ctx, slog.LevelWarn, "PutEvents failed", slog.String("event", "put_events_failed"),
			slog.Int("attempt", attempt), slog.Int("entries", len(batch)), slog.String("error", err.Error()))
		return batch
	}
	if out.FailedEntryCount == 0 && len(out.Entries) == len(batch) {
		return nil
	}
	var retry []pending
	codes := map[string]int{}
	for i, pe := range batch {
		// An answer without an entry for every request entry says nothing
		// of the missing ones: they are sent again.
		if i >= len(out.Entries) || out.Entries[i].ErrorCode != nil || out.Entries[i].EventId == nil {
			code := "missing"
			if i < len(out.Entries) {
				code = aws.ToString(out.Entries[i].ErrorCode)
			}
			codes[code]++
			retry = append(retry, pe)
		}
	}
	if len(retry) > 0 {
		attrs := []slog.Attr{slog.String("event", "put_events_failed"), slog.Int("attempt", attempt),
			slog.Int("entries", len(batch)), slog.Int("failedEntries", len(retry))}
		for code, n := range codes {
			attrs = append(attrs, slog.Int("errorCode."+code, n))
		}
		p.cfg.Log.LogAttrs(ctx, slog.LevelWarn, "PutEvents reported failed entries", attrs...)
	}
	return retry
}

// timeFor reports whether a pause of d and one more request still end
// before the reserve of ctx's deadline.
func (p *Publisher) timeFor(ctx context.Context, d time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) > d+p.cfg.Reserve
}

// batches splits todo, in order, into requests of at most MaxEntries
// entries and MaxRequestBytes.
func batches(todo []pending) [][]pending {
	var out [][]pending
	start, bytes := 0, 0
	for i, pe := range todo {
		if i-start == MaxEntries || bytes+pe.size > MaxRequestBytes {
			out = append(out, todo[start:i])
			start, bytes = i, 0
		}
		bytes += pe.size
	}
	if start < len(todo) {
		out = append(out, todo[start:])
	}
	return out
}

// entrySize is an entry's size as EventBridge counts it against its
// limits: 14 bytes for the time, then the bytes of the source, the
// detail-type, the detail and each resource. The bus name is counted too,
// to stay on the safe side.
func entrySize(e types.PutEventsRequestEntry) int {
	n := len(aws.ToString(e.Source)) + len(aws.ToString(e.DetailType)) + len(aws.ToString(e.Detail)) + len(aws.ToString(e.EventBusName))
	if e.Time != nil {
		n += 14
	}
	for _, r := range e.Resources {
		n += len(r)
	}
	return n
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
