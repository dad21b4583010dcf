package vonage_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/providertest"
	"github.com/fluxkit/sms/internal/vonage"
)

// FuzzVonageResponse feeds arbitrary answers (status, Content-Type, body)
// to the client. It never panics; a success has the first part's id, at
// least one part and a 2xx; every error is an *sms.Error of a provider
// kind with the kind's code and a client-safe message, transient for 429
// and 503, ambiguous for any other 5xx, provider-account for any other
// non-2xx; a partial failure
// carries the id of a part that went out; and no error text holds the
// API secret.
func FuzzVonageResponse(f *testing.F) {
	f.Add(200, "application/json", []byte(`{"message-count":"1","messages":[{"message-id":"0A0000000123ABCD1","status":"0"}]}`))
	c0 := vonage.Credentials{APIKey: providertest.VonageAPIKey, APISecret: providertest.VonageAPISecret}
	msg := sms.Message{To: "+447700900123", From: "FluxKit", Body: "Your code is 482901"}
	f.Fuzz(func(t *testing.T, status int, contentType string, body []byte) {
		st := providertest.FuzzStatus(status)
		c := vonage.New(c0, vonage.Config{BaseURL: "https://rest.vonage.test", HTTPClient: &http.Client{Transport: providertest.Canned{Status: st, ContentType: contentType, Body: body}}})
		rc, err := c.Send(context.Background(), msg)
		success := st >= 200 && st < 300
		if err == nil {
			if rc.ID == "" {
				t.Fatalf("Send = %+v on %d %q: want an id", rc, st, body)
			}
			if !success {
				t.Fatalf("Send succeeded on HTTP %d", st)
			}
			return
		}
		e := providertest.CheckProviderError(t, err)
		switch {
		case st == http.StatusTooManyRequests || st == http.StatusServiceUnavailable:
			if e.Kind != sms.KindTransient {
				t.Errorf("kind = %v on HTTP %d, want transient", e.Kind, st)
			}
		case st >= 500:
			if e.Kind != sms.KindAmbiguous {
				t.Errorf("kind = %v on HTTP %d, want ambiguous", e.Kind, st)
			}
		case !success:
			if e.Kind != sms.KindProviderAccount {
				t.Errorf("kind = %v on HTTP %d, want provider-account", e.Kind, st)
			}
		}
		if e.Kind == sms.KindPartial && rc.ID == "" {
			t.Errorf("partial failure without the id of a part that went out: %+v", e)
		}
		if strings.Contains(err.Error(), providertest.VonageAPISecret) {
			t.Errorf("error text %q holds the API secret", err.Error())
		}
	})
}
