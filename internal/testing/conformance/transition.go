package conformance

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/sms"
)

// TransitionStore is a status store with the conditional move of
// scheduled messages.
type TransitionStore interface {
	sms.StatusStore
	sms.Transitioner
}

// NewTransitionStoreFunc builds a fresh, empty status store as
// NewStatusStoreFunc does.
type NewTransitionStoreFunc func(t *testing.T, clock sms.Clock, retention time.Duration) TransitionStore

// StatusTransition runs the conformance suite of Transitioner.Transition
// against the stores that newStore builds: a record moves only from the
// status named, to the record the domain's merge makes, and of a cancel
// and a hand-over racing from scheduled exactly one wins.
func StatusTransition(t *testing.T, newStore NewTransitionStoreFunc) {
	t.Run("MovesOnlyFromTheStatusNamed", func(t *testing.T) { transitionOnlyFrom(t, newStore) })
	t.Run("AbsentIsNotCreated", func(t *testing.T) { transitionAbsent(t, newStore) })
	t.Run("Retention", func(t *testing.T) { transitionRetention(t, newStore) })
	t.Run("CancelRacesHandOver", func(t *testing.T) { transitionRace(t, newStore) })
	t.Run("InvalidArguments", func(t *testing.T) { transitionInvalid(t, newStore) })
}

// scheduledChange is the send path's write of a scheduled message.
func scheduledChange(at time.Time) sms.Change {
	return sms.Change{Status: sms.StatusScheduled, At: at, MessageID: "svc", To: sentTo, From: "MyApp",
		Segments: 1, Encoding: sms.GSM7, CreatedAt: at, ExpiresAt: at.Add(2 * time.Hour), Owner: sms.CallerOwner("alice")}
}

func transition(t *testing.T, s TransitionStore, id string, from, to sms.Status, at time.Time) (sms.Record, bool) {
	t.Helper()
	r, moved, err := s.Transition(context.Background(), id, from, to, at)
	if err != nil {
		t.Fatalf("Transition(%s, %s → %s) error = %v", id, from, to, err)
	}
	return r, moved
}

func transitionOnlyFrom(t *testing.T, newStore NewTransitionStoreFunc) {
	clock := NewClock(epoch)
	s := newStore(t, clock, statusRetention)
	for _, to := range []sms.Status{sms.StatusQueued, sms.StatusCanceled} {
		t.Run(string(to), func(t *testing.T) {
			id := sms.NewServiceID()
			created := scheduledChange(clock.Now())
			record(t, s, id, created)
			clock.Advance(time.Second)
			// A record in another status than the one named does not move.
			if r, moved := transition(t, s, id, sms.StatusQueued, sms.StatusSent, time.Time{}); moved || r.Status != sms.StatusScheduled {
				t.Errorf("Transition(queued → sent) of a scheduled record = %s, moved %v; want scheduled, not moved", r.Status, moved)
			}
			at := clock.Now().Add(-300 * time.Millisecond)
			got, moved := transition(t, s, id, sms.StatusScheduled, to, at)
			want := reference(id, clock.Now(), created, sms.Change{Status: to, At: at})
			if !moved || !reflect.DeepEqual(got, want) {
				t.Errorf("Transition(scheduled → %s) = %+v, moved %v;\nwant (the domain's merge) %+v, moved", to, got, moved, want)
			}
			wantRecord(t, s, id, want)
			// The second of two rival moves finds the first one's record.
			clock.Advance(time.Second)
			other := sms.StatusCanceled
			if to == sms.StatusCanceled {
				other = sms.StatusQueued
			}
			again, moved := transition(t, s, id, sms.StatusScheduled, other, time.Time{})
			if moved || !reflect.DeepEqual(again, want) {
				t.Errorf("Transition(scheduled → %s) after → %s = %+v, moved %v; want the record unchanged, not moved", other, to, again, moved)
			}
			wantRecord(t, s, id, want)
		})
	}
}

func transitionAbsent(t *testing.T, newStore NewTransitionStoreFunc) {
	s := newStore(t, NewClock(epoch), statusRetention)
	id := sms.NewServiceID()
	r, moved := transition(t, s, id, sms.StatusScheduled, sms.StatusQueued, time.Time{})
	if moved || !reflect.DeepEqual(r, sms.Record{}) {
		t.Errorf("Transition of an absent record = %+v, moved %v; want the zero record, not moved", r, moved)
	}
	wantNotFound(t, s, id)
}

func transitionRetention(t *testing.T, newStore NewTransitionStoreFunc) {
	const retention = 48 * time.Hour
	clock := NewClock(epoch)
	s := newStore(t, clock, retention)
	id := sms.NewServiceID()
	record(t, s, id, scheduledChange(clock.Now()))
	clock.Advance(retention + time.Second)
	if r, moved := transition(t, s, id, sms.StatusScheduled, sms.StatusCanceled, time.Time{}); moved || r.Status != "" {
		t.Errorf("Transition of a record past its retention = %s, moved %v; want none, not moved", r.Status, moved)
	}
	wantNotFound(t, s, id)
}

// transitionRace cancels and hands over the same scheduled messages at
// once: each time exactly one of the two moves, and the record is the one
// that move made.
func transitionRace(t *testing.T, newStore NewTransitionStoreFunc) {
	clock := NewClock(epoch)
	s := newStore(t, clock, statusRetention)
	wins := map[sms.Status]int{}
	for round := range 24 {
		id := sms.NewServiceID()
		record(t, s, id, scheduledChange(clock.Now()))
		var wg sync.WaitGroup
		start := make(chan struct{})
		moved := make([]bool, 2)
		targets := []sms.Status{sms.StatusCanceled, sms.StatusQueued}
		for i, to := range targets {
			wg.Go(func() {
				<-start
				_, m, err := s.Transition(context.Background(), id, sms.StatusScheduled, to, time.Time{})
				if err != nil {
					t.Errorf("round %d: Transition(→ %s) error = %v", round, to, err)
				}
				moved[i] = m
			})
		}
		close(start)
		wg.Wait()
		if moved[0] == moved[1] {
			t.Fatalf("round %d: canceled moved %v, queued moved %v; want exactly one to move", round, moved[0], moved[1])
		}
		winner := targets[0]
		if moved[1] {
			winner = targets[1]
		}
		wins[winner]++
		got, err := s.Get(context.Background(), id)
		if err != nil || got.Status != winner {
			t.Errorf("round %d: record after the race = %s, %v; want %s (the move that won)", round, got.Status, err, winner)
		}
		for _, h := range got.History {
			if h.Status != sms.StatusScheduled && h.Status != winner {
				t.Errorf("round %d: history lists %s, which lost the race", round, h.Status)
			}
		}
	}
	t.Logf("races won: %v", wins)
}

func transitionInvalid(t *testing.T, newStore NewTransitionStoreFunc) {
	s := newStore(t, NewClock(epoch), statusRetention)
	ctx := context.Background()
	tests := []struct {
		name     string
		id       string
		from, to sms.Status
		kind     sms.Kind
	}{
		{"a producer's id as service id", producerDedupe, sms.StatusScheduled, sms.StatusCanceled, sms.KindInternal},
		{"a move Advance refuses", sms.NewServiceID(), sms.StatusQueued, sms.StatusCanceled, sms.KindInternal},
		{"backwards", sms.NewServiceID(), sms.StatusSent, sms.StatusQueued, sms.KindInternal},
		{"from no status", sms.NewServiceID(), "", sms.StatusQueued, sms.KindInternal},
	}
	for _, tt := range tests {
		if _, _, err := s.Transition(ctx, tt.id, tt.from, tt.to, time.Time{}); sms.KindOf(err) != tt.kind {
			t.Errorf("%s: Transition error = %v, want kind %v", tt.name, err, tt.kind)
		}
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := s.Transition(canceled, sms.NewServiceID(), sms.StatusScheduled, sms.StatusCanceled, time.Time{}); sms.KindOf(err) != sms.KindUnavailable {
		t.Errorf("Transition with a canceled context: error = %v, want kind %v", err, sms.KindUnavailable)
	}
}
