package sms

import (
	"context"
	"sync"
	"time"
)

// fakeStatus is an in-test status store with the domain's merge
// (Record.Apply) and the conditional move; it remembers every write, and
// err fails every call.
type fakeStatus struct {
	mu     sync.Mutex
	clock  Clock
	recs   map[string]Record
	err    error
	writes []statusWrite
	// transitions counts Transition calls.
	transitions int
}

// statusWrite is one call of Record.
type statusWrite struct {
	id string
	ch Change
}

func newFakeStatus(clock Clock) *fakeStatus {
	return &fakeStatus{clock: clock, recs: map[string]Record{}}
}

func (s *fakeStatus) Record(_ context.Context, id string, ch Change) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes = append(s.writes, statusWrite{id, ch})
	if s.err != nil {
		return false, s.err
	}
	if err := CheckRecordArgs(id, ch); err != nil {
		return false, err
	}
	r := s.recs[id]
	r.ServiceID = id
	next, moved, _ := r.Apply(ch, s.clock.Now())
	s.recs[id] = next
	return moved, nil
}

func (s *fakeStatus) Get(_ context.Context, id string) (Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return Record{}, s.err
	}
	r, ok := s.recs[id]
	if !ok {
		return Record{}, RecordNotFound(id)
	}
	return r.Clone(), nil
}

func (s *fakeStatus) Transition(_ context.Context, id string, from, to Status, at time.Time) (Record, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.transitions++
	if s.err != nil {
		return Record{}, false, s.err
	}
	if err := CheckTransitionArgs(id, from, to); err != nil {
		return Record{}, false, err
	}
	r, ok := s.recs[id]
	if !ok {
		return Record{}, false, nil
	}
	if r.Status != from {
		return r.Clone(), false, nil
	}
	next, _, _ := r.Apply(Change{Status: to, At: at}, s.clock.Now())
	s.recs[id] = next
	return next.Clone(), true, nil
}

// fakeScheduler records what it holds; err fails every call.
type fakeScheduler struct {
	mu          sync.Mutex
	held        map[string]QueuedMessage
	scheduled   int
	unscheduled []string
	err         error
}

func (s *fakeScheduler) Schedule(_ context.Context, m QueuedMessage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if s.held == nil {
		s.held = map[string]QueuedMessage{}
	}
	s.held[m.ID] = m
	s.scheduled++
	return nil
}

func (s *fakeScheduler) Unschedule(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	delete(s.held, id)
	s.unscheduled = append(s.unscheduled, id)
	return nil
}

// fakeQuotas records the records whose places were given back.
type fakeQuotas struct {
	mu       sync.Mutex
	returned []string
	err      error
}

func (q *fakeQuotas) ReturnPlaces(_ context.Context, rec Record) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.returned = append(q.returned, rec.ServiceID)
	return q.err
}
