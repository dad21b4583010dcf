package local

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/fluxkit/sms/internal/sms"
)

// DeadLetter is one record put on the in-memory dead-letter list.
type DeadLetter struct {
	// Body is the queue record's body as it was received.
	Body string `json:"body"`
	// Reason is why it was dead-lettered: a poison reason of package queue,
	// "duplicate_id", or ReasonMaxReceives.
	Reason string    `json:"reason"`
	At     time.Time `json:"time"`
}

// ReasonMaxReceives is the reason of a record dead-lettered because it was
// received more often than the redrive limit allows (SQS's
// maxReceiveCount).
const ReasonMaxReceives = "max_receives_exceeded"

// DeadLetters is the in-memory dead-letter queue of local runs: it
// implements drain.DeadLetterer, keeps the latest records for
// GET /_local/dead-letters and prints one line for each to the console
// writer. It is safe for concurrent use.
type DeadLetters struct {
	w     io.Writer
	clock sms.Clock
	keep  int

	mu    sync.Mutex
	items []DeadLetter
	total int
}

// NewDeadLetters returns an empty list keeping the latest cfg.Keep records
// and printing to w (nil means nowhere).
func NewDeadLetters(w io.Writer, cfg ListConfig) *DeadLetters {
	cfg = cfg.withDefaults()
	return &DeadLetters{w: writerOrDiscard(w), clock: cfg.Clock, keep: cfg.Keep}
}

// DeadLetter records a poison record. It never fails unless ctx is done.
func (d *DeadLetters) DeadLetter(ctx context.Context, rawBody, reason string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("local: dead-letter: %w", err)
	}
	dl := DeadLetter{Body: rawBody, Reason: reason, At: d.clock.Now()}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.items) == d.keep {
		copy(d.items, d.items[1:])
		d.items = d.items[:d.keep-1]
	}
	d.items = append(d.items, dl)
	d.total++
	_, _ = fmt.Fprintf(d.w, "[dead-letter] %s reason=%s (GET /_local/dead-letters)\n", dl.At.Format("15:04:05.000"), reason)
	return nil
}

// List returns the kept records, oldest first.
func (d *DeadLetters) List() []DeadLetter {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]DeadLetter(nil), d.items...)
}

// Count reports how many records were dead-lettered since the start.
func (d *DeadLetters) Count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.total
}
