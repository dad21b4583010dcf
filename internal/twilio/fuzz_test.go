package twilio_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/providertest"
	"github.com/fluxkit/sms/internal/twilio"
)

// FuzzTwilioResponse feeds arbitrary answers (status, Content-Type, body)
// to the client. It never panics; a success has a message SID and comes
// with a 2xx; every error is an *sms.Error of a provider kind with the
// kind's code and a client-safe message, transient for 429 and 503,
// ambiguous for any other 5xx and for a 2xx (Twilio may have created the
// message), and its text never holds the credentials.
func FuzzTwilioResponse(f *testing.F) {
	f.Add(201, "application/json", []byte(`{"sid":"SM0123456789abcdef0123456789abcdef","num_segments":"1"}`))
	creds := twilio.Credentials{AccountSID: providertest.TwilioAccountSID, AuthToken: providertest.TwilioAuthToken}
	msg := sms.Message{To: "+14155552671", From: providertest.TwilioFrom, Body: "Your code is 482901"}
	f.Fuzz(func(t *testing.T, status int, contentType string, body []byte) {
		st := providertest.FuzzStatus(status)
		c := twilio.New(creds, twilio.Config{BaseURL: "https://api.twilio.test", HTTPClient: &http.Client{Transport: providertest.Canned{Status: st, ContentType: contentType, Body: body}}})
		rc, err := c.Send(context.Background(), msg)
		success := st >= 200 && st < 300
		if err == nil {
			if rc.ID == "" {
				t.Fatalf("Send = %+v on %d %q: want a message SID", rc, st, body)
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
		case success:
			if e.Kind != sms.KindAmbiguous {
				t.Errorf("kind = %v on HTTP %d %q, want ambiguous", e.Kind, st, body)
			}
		}
		for _, secret := range []string{providertest.TwilioAuthToken, providertest.TwilioAccountSID} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error text %q holds an account credential", err.Error())
			}
		}
	})
}
