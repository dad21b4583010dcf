package local

import (
	"fmt"
	"io"
	"sync"

	"github.com/fluxkit/sms/internal/events"
	"github.com/fluxkit/sms/internal/sms"
)

// Events are the status events of local runs: in memory mode the status
// store reports each change that moves a record (memory.StatusConfig's
// OnChange), and Events turns it into the event the publisher function
// puts on EventBridge (docs/events.md), keeps the latest for
// GET /_local/events and prints one line for each to the console writer.
// It is safe for concurrent use.
type Events struct {
	w    io.Writer
	keep int

	mu    sync.Mutex
	items []events.Event
	total int
}

// NewEvents returns an empty list keeping the latest cfg.Keep events and
// printing to w (nil means nowhere).
func NewEvents(w io.Writer, cfg ListConfig) *Events {
	cfg = cfg.withDefaults()
	return &Events{w: writerOrDiscard(w), keep: cfg.Keep}
}

// Add records the event of a status change: r moved from previous ("" for
// a new record).
func (e *Events) Add(previous sms.Status, r sms.Record) {
	ev := events.NewEvent(events.Change{Record: r, Previous: previous})
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.items) == e.keep {
		copy(e.items, e.items[1:])
		e.items = e.items[:e.keep-1]
	}
	e.items = append(e.items, ev)
	e.total++
	from := string(previous)
	if from == "" {
		from = "(new)"
	}
	line := fmt.Sprintf("[event] %s %s %s -> %s", ev.Time.Format("15:04:05.000"), r.ServiceID, from, r.Status)
	if r.Error != nil {
		line += " error=" + r.Error.Code
	}
	_, _ = fmt.Fprintln(e.w, line+" (GET /_local/events)")
}

// List returns the kept events, oldest first.
func (e *Events) List() []events.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]events.Event(nil), e.items...)
}

// Count reports how many events there were since the start.
func (e *Events) Count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.total
}
