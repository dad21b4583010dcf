package app_test

import (
	"context"
	"testing"

	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/dynamo"
	"github.com/fluxkit/sms/internal/sms"
)

// TestStatusStoreWiring: both functions get the DynamoDB status store on
// the deployed table (its provider-id index included) unless
// SMS_STATUS_TRACKING=false, which builds none.
func TestStatusStoreWiring(t *testing.T) {
	s := newStack(t)
	for _, mode := range []config.Mode{config.ModeSend, config.ModeDrain} {
		f := s.function(t, mode)
		store, ok := f.Parts.Status.(*dynamo.StatusStore)
		if !ok {
			t.Fatalf("%v: Parts.Status = %T, want *dynamo.StatusStore", mode, f.Parts.Status)
		}
		id := sms.NewServiceID()
		providerID := "SM" + mode.String() + "0123456789abcdef"
		if _, err := store.Record(context.Background(), id, sms.Change{Status: sms.StatusSent, ProviderMessageID: providerID, Owner: sms.CallerOwner("client-1")}); err != nil {
			t.Fatalf("%v: Record: %v", mode, err)
		}
		if r, err := store.Get(context.Background(), providerID); err != nil || r.ServiceID != id {
			t.Errorf("%v: Get(provider id) = %s, %v; want %s", mode, r.ServiceID, err, id)
		}
	}

	s.env["SMS_STATUS_TRACKING"] = "false"
	for _, mode := range []config.Mode{config.ModeSend, config.ModeDrain} {
		f := s.function(t, mode)
		if f.Parts.Status != nil {
			t.Errorf("%v with SMS_STATUS_TRACKING=false: Parts.Status = %T, want nil", mode, f.Parts.Status)
		}
	}
}
