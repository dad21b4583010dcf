package memory

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/sms"
)

// TestStatusStoreOnChange: every write that moves a record's status is
// reported once, in order, with the status it left; duplicates and merges
// that leave the status are not.
func TestStatusStoreOnChange(t *testing.T) {
	var got []string
	var last sms.Record
	s := NewStatusStore(StatusConfig{OnChange: func(prev sms.Status, r sms.Record) {
		got = append(got, string(prev)+">"+string(r.Status))
		last = r
	}})
	ctx := context.Background()
	id := sms.NewServiceID()
	at := time.Now().Add(-time.Minute)
	for _, ch := range []sms.Change{
		{Status: sms.StatusQueued, At: at, MessageID: id},
		{Status: sms.StatusQueued, At: at}, // duplicate
		{Status: sms.StatusSent, At: at.Add(time.Second), ProviderMessageID: "SM1"},
		{Status: sms.StatusQueued, At: at.Add(-time.Second)}, // earlier report: history only
		{Status: sms.StatusDelivered, At: at.Add(2 * time.Second)},
		{Status: sms.StatusSent, At: at.Add(3 * time.Second)}, // behind: nothing
	} {
		if _, err := s.Record(ctx, id, ch); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{">queued", "queued>sent", "sent>delivered"}; !reflect.DeepEqual(got, want) {
		t.Errorf("changes reported = %v, want %v", got, want)
	}
	if last.ServiceID != id || last.ProviderMessageID != "SM1" || len(last.History) != 3 {
		t.Errorf("last record reported = %+v, want the record after the change", last)
	}
	// The record handed over is a copy.
	last.History[0].Status = "changed"
	if r, _ := s.Get(ctx, id); r.History[0].Status == "changed" {
		t.Error("OnChange got the store's own record")
	}
}
