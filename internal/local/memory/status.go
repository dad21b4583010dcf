package memory

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/fluxkit/sms/internal/sms"
)

// StatusStore is an in-process sms.StatusStore with the semantics of the
// DynamoDB store: every change is merged with sms.Record.Apply, a record
// is found by its service id, a producer's id or its provider id, and it
// is gone once the retention has passed since its last change (expired
// records are swept lazily, like the ledger's). It is safe for concurrent
// use.
type StatusStore struct {
	clock     sms.Clock
	retention time.Duration
	onChange  func(previous sms.Status, r sms.Record)

	mu         sync.Mutex
	records    map[string]sms.Record // by service id
	byProvider map[string]string     // provider message id → service id
	sweepAt    int
}

// StatusConfig holds the options of a StatusStore.
type StatusConfig struct {
	// Retention is how long a record is kept after its last change; zero
	// means sms.DefaultStatusRetention.
	Retention time.Duration
	// Clock is the time source; nil means sms.SystemClock.
	Clock sms.Clock
	// OnChange, when set, is called with every write that moves a record's
	// status: the status it left ("" for a new record) and a copy of the
	// record. It runs while the store is locked, so that changes arrive in
	// the order they were made; it must not call the store.
	OnChange func(previous sms.Status, r sms.Record)
}

// NewStatusStore returns an empty store.
func NewStatusStore(cfg StatusConfig) *StatusStore {
	if cfg.Clock == nil {
		cfg.Clock = sms.SystemClock{}
	}
	if cfg.Retention <= 0 {
		cfg.Retention = sms.DefaultStatusRetention
	}
	return &StatusStore{
		clock: cfg.Clock, retention: cfg.Retention, onChange: cfg.OnChange,
		records: make(map[string]sms.Record), byProvider: make(map[string]string), sweepAt: minSweep,
	}
}

// Record merges ch into the record of serviceID; see sms.StatusStore.
func (s *StatusStore) Record(ctx context.Context, serviceID string, ch sms.Change) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, sms.E(sms.KindUnavailable, "status store unavailable", sms.Cause(fmt.Errorf("memory: status record: %w", err)))
	}
	if err := sms.CheckRecordArgs(serviceID, ch); err != nil {
		return false, fmt.Errorf("memory: status record: %w", err)
	}
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.records[serviceID]
	if old.ServiceID == "" {
		old = sms.Record{ServiceID: serviceID}
	}
	next, moved, modified := old.Apply(ch, now)
	if !modified {
		return false, nil
	}
	s.records[serviceID] = next
	if next.ProviderMessageID != "" {
		s.byProvider[next.ProviderMessageID] = serviceID
	}
	s.sweep(now)
	if moved && s.onChange != nil {
		s.onChange(old.Status, next.Clone())
	}
	return moved, nil
}

// Get finds a record by service id, producer's id or provider id; see
// sms.StatusStore.
func (s *StatusStore) Get(ctx context.Context, id string) (sms.Record, error) {
	if err := ctx.Err(); err != nil {
		return sms.Record{}, sms.E(sms.KindUnavailable, "status store unavailable", sms.Cause(fmt.Errorf("memory: status get: %w", err)))
	}
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if id != "" {
		if sms.IsServiceIDShaped(id) {
			if r, ok := s.live(id, now); ok {
				return r, nil
			}
		}
		if r, ok := s.live(sms.ServiceIDForProducer(id), now); ok && (r.ProducerID == "" || r.ProducerID == id) {
			return r, nil
		}
		if r, ok := s.live(s.byProvider[id], now); ok {
			return r, nil
		}
	}
	return sms.Record{}, sms.RecordNotFound(id)
}

// live returns a copy of the record of serviceID unless it is absent or
// past its retention. s.mu must be held.
func (s *StatusStore) live(serviceID string, now time.Time) (sms.Record, bool) {
	r, ok := s.records[serviceID]
	if !ok || s.expired(r, now) {
		return sms.Record{}, false
	}
	return r.Clone(), true
}

func (s *StatusStore) expired(r sms.Record, now time.Time) bool {
	return r.UpdatedAt.Add(s.retention).Before(now)
}

// sweep drops expired records once the map has doubled since the last
// sweep. s.mu must be held.
func (s *StatusStore) sweep(now time.Time) {
	if len(s.records) < s.sweepAt {
		return
	}
	for id, r := range s.records {
		if s.expired(r, now) {
			delete(s.records, id)
			if s.byProvider[r.ProviderMessageID] == id {
				delete(s.byProvider, r.ProviderMessageID)
			}
		}
	}
	s.sweepAt = max(2*len(s.records), minSweep)
}

// Len reports how many records the store holds, expired ones not yet
// swept included.
func (s *StatusStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records)
}
