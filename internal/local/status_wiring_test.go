package local

import (
	"context"
	"testing"

	"github.com/fluxkit/sms/internal/local/memory"
	"github.com/fluxkit/sms/internal/sms"
)

// TestStatusStoreInMemory: memory mode keeps status records in memory
// unless SMS_STATUS_TRACKING=false.
func TestStatusStoreInMemory(t *testing.T) {
	s := startServer(t, nil)
	store, ok := s.st.svc.Parts.Status.(*memory.StatusStore)
	if !ok {
		t.Fatalf("Parts.Status = %T, want *memory.StatusStore", s.st.svc.Parts.Status)
	}
	id := sms.NewServiceID()
	if _, err := store.Record(context.Background(), id, sms.Change{Status: sms.StatusQueued, MessageID: id}); err != nil {
		t.Fatal(err)
	}
	if r, err := store.Get(context.Background(), id); err != nil || r.Status != sms.StatusQueued {
		t.Errorf("Get = %s, %v; want queued", r.Status, err)
	}

	off := startServer(t, map[string]string{"SMS_STATUS_TRACKING": "false"})
	if off.st.svc.Parts.Status != nil {
		t.Errorf("with SMS_STATUS_TRACKING=false: Parts.Status = %T, want nil", off.st.svc.Parts.Status)
	}
}
