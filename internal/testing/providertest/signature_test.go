package providertest

import (
	"net/url"
	"testing"
)

// TestFakeSignaturesMatchPublishedVectors: the fakes sign with code of
// their own, not the service's, so that a mistake shared by both cannot
// pass; the providers' published test vectors check it.
func TestFakeSignaturesMatchPublishedVectors(t *testing.T) {
	twilioParams := url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+12349013030"}, "Digits": {"1234"},
		"From": {"+12349013030"}, "To": {"+18005551212"}}
	if got, want := twilioSignature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", twilioParams), "0/KCTR6DLpKmkAf8muzZqo1nDgQ="; got != want {
		t.Errorf("twilioSignature = %s, want %s", got, want)
	}
	for _, tt := range []struct {
		method, secret string
		params         url.Values
		want           string
	}{
		{"md5hash", "secret", url.Values{"a": {"1"}, "b": {"2"}, "timestamp": {"1461605396"}}, "6af838ef94998832dbfc29020b564830"},
		{"sha256", "signature_secret", url.Values{"param1": {"value1"}, "param2": {"value2"}, "timestamp": {"1234567890"}},
			"280c4320703dbc98bfa22db676655ed2acfbfe8792b062ff7622e67f1183c287"},
	} {
		if got, err := vonageSignature(tt.method, tt.secret, tt.params); err != nil || got != tt.want {
			t.Errorf("vonageSignature(%s) = %s, %v; want %s", tt.method, got, err, tt.want)
		}
	}
}
