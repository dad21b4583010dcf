package memory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/fluxkit/sms/internal/sms"
)

// Scheduler is an in-process sms.Scheduler for local runs, with the rules
// of the EventBridge Scheduler one-time schedules it stands in for
// (docs/scheduling.md): one schedule per message, named after its service
// id; it fires at the message's send time rounded up to the second, puts
// the message on the target queue and is deleted; scheduling a message
// again is not an error, and neither is unscheduling one that is gone. A
// target that refuses the message (a full queue) is tried again every
// second for a minute, then the message is logged as lost. Timers run on
// real time. It is safe for concurrent use.
type Scheduler struct {
	target sms.Queue
	clock  sms.Clock
	log    *slog.Logger
	retry  time.Duration
	tries  int

	mu     sync.Mutex
	timers map[string]*time.Timer
	closed bool
	wg     sync.WaitGroup
}

// SchedulerConfig holds the options of a Scheduler.
type SchedulerConfig struct {
	// Clock tells how long until a message is due; nil means
	// sms.SystemClock.
	Clock sms.Clock
	// Log receives the messages that could not be put on the queue; nil
	// discards.
	Log *slog.Logger
	// Retry is the pause between two tries to put a due message on the
	// queue and Tries how many are made (defaults 1 s and 60).
	Retry time.Duration
	Tries int
}

// NewScheduler returns a Scheduler that puts due messages on target.
func NewScheduler(target sms.Queue, cfg SchedulerConfig) *Scheduler {
	if cfg.Clock == nil {
		cfg.Clock = sms.SystemClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Retry <= 0 {
		cfg.Retry = time.Second
	}
	if cfg.Tries <= 0 {
		cfg.Tries = 60
	}
	return &Scheduler{target: target, clock: cfg.Clock, log: cfg.Log, retry: cfg.Retry, tries: cfg.Tries, timers: map[string]*time.Timer{}}
}

// Schedule holds m until m.SendAt (rounded up to the second), then puts it
// on the target queue. A message already held is not held twice.
func (s *Scheduler) Schedule(ctx context.Context, m sms.QueuedMessage) error {
	if err := ctx.Err(); err != nil {
		return sms.E(sms.KindUnavailable, "the scheduler is unavailable", sms.Cause(fmt.Errorf("memory: schedule: %w", err)))
	}
	if m.ID == "" || m.SendAt.IsZero() {
		return sms.E(sms.KindInternal, "internal error", sms.Cause(errors.New("memory: schedule: the message has no id or no send time")))
	}
	due := m.SendAt
	if r := due.Truncate(time.Second); r.Before(due) {
		due = r.Add(time.Second)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return sms.E(sms.KindUnavailable, "the scheduler is unavailable", sms.Cause(errors.New("memory: schedule: the scheduler is closed")))
	}
	if _, held := s.timers[m.ID]; held {
		return nil
	}
	s.timers[m.ID] = time.AfterFunc(due.Sub(s.clock.Now()), func() { s.fire(m) })
	return nil
}

// fire puts a due message on the target queue and forgets its schedule,
// unless it was unscheduled in the meantime.
func (s *Scheduler) fire(m sms.QueuedMessage) {
	s.mu.Lock()
	if _, held := s.timers[m.ID]; !held || s.closed {
		s.mu.Unlock()
		return
	}
	delete(s.timers, m.ID)
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	var err error
	for try := 1; try <= s.tries; try++ {
		if err = s.target.Enqueue(context.Background(), m); err == nil {
			return
		}
		if try < s.tries {
			time.Sleep(s.retry)
		}
	}
	s.log.LogAttrs(context.Background(), slog.LevelError, "a scheduled message could not be put on the queue; it is lost",
		slog.String("messageId", m.ID), slog.String("to", sms.MaskNumber(m.To)), slog.String("error", err.Error()))
}

// Unschedule drops the schedule of the message id, if it is still held.
func (s *Scheduler) Unschedule(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return sms.E(sms.KindUnavailable, "the scheduler is unavailable", sms.Cause(fmt.Errorf("memory: unschedule: %w", err)))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, held := s.timers[id]; held {
		t.Stop()
		delete(s.timers, id)
	}
	return nil
}

// Len reports how many messages are held.
func (s *Scheduler) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.timers)
}

// Close drops every schedule and waits for messages being put on the
// queue; later Schedule calls fail.
func (s *Scheduler) Close() {
	s.mu.Lock()
	s.closed = true
	for id, t := range s.timers {
		t.Stop()
		delete(s.timers, id)
	}
	s.mu.Unlock()
	s.wg.Wait()
}
