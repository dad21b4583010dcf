package twilio

import (
	"net/url"
	"testing"
)

// twilioDocsParams are the parameters of the example in Twilio's webhook
// security documentation.
var twilioDocsParams = url.Values{
	"CallSid": {"CA1234567890ABCDE"},
	"Caller":  {"+12349013030"},
	"Digits":  {"1234"},
	"From":    {"+12349013030"},
	"To":      {"+18005551212"},
}

// TestSignatureTwilioVector is Twilio's published test vector: the URL
// https://mycompany.com/myapp.php?foo=1&bar=2 with these parameters,
// keyed with the auth token 12345, signs as 0/KCTR6DLpKmkAf8muzZqo1nDgQ=.
func TestSignatureTwilioVector(t *testing.T) {
	const u, token, want = "https://mycompany.com/myapp.php?foo=1&bar=2", "12345", "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
	if got := Signature(token, u, twilioDocsParams); got != want {
		t.Errorf("Signature = %s, want %s", got, want)
	}
	if !CheckSignature(token, u, twilioDocsParams, want) {
		t.Errorf("CheckSignature(the vector) = false, want true")
	}
}

func TestSignatureSortsNamesAndValues(t *testing.T) {
	a := url.Values{"b": {"2", "1", "2"}, "a": {"x"}}
	b := url.Values{"a": {"x"}, "b": {"1", "2"}}
	if Signature("t", "https://h/p", a) != Signature("t", "https://h/p", b) {
		t.Errorf("the signature depends on the order of names or values, or on repeated values")
	}
	if Signature("t", "https://h/p", a) == Signature("t", "https://h/p", url.Values{"a": {"x"}, "b": {"1"}}) {
		t.Errorf("the signature ignores a value")
	}
}

// TestCheckSignaturePortForms: a signature made over the URL with the
// default port, or without its port, verifies against the other form, as
// Twilio's validators accept; anything else fails.
func TestCheckSignaturePortForms(t *testing.T) {
	form := url.Values{"MessageStatus": {"delivered"}, "MessageSid": {"SM0123"}}
	const token = "auth-token"
	tests := []struct {
		name        string
		signed, got string
		want        bool
	}{
		{"as given", "https://api.example.com/r?ref=1", "https://api.example.com/r?ref=1", true},
		{"signed with :443", "https://api.example.com:443/r?ref=1", "https://api.example.com/r?ref=1", true},
		{"signed without the port", "https://api.example.com/r?ref=1", "https://api.example.com:443/r?ref=1", true},
		{"explicit port signed without it", "https://api.example.com/r?ref=1", "https://api.example.com:8443/r?ref=1", true},
		{"http with :80", "http://127.0.0.1:80/r", "http://127.0.0.1/r", true},
		{"another port", "https://api.example.com:8443/r?ref=1", "https://api.example.com/r?ref=1", false},
		{"another ref", "https://api.example.com/r?ref=2", "https://api.example.com/r?ref=1", false},
		{"another host", "https://evil.example.com/r?ref=1", "https://api.example.com/r?ref=1", false},
		{"another path", "https://api.example.com/x?ref=1", "https://api.example.com/r?ref=1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig := Signature(token, tt.signed, form)
			if got := CheckSignature(token, tt.got, form, sig); got != tt.want {
				t.Errorf("CheckSignature(%s) of a signature over %s = %v, want %v", tt.got, tt.signed, got, tt.want)
			}
		})
	}
	good := Signature(token, "https://api.example.com/r", form)
	for name, c := range map[string]struct {
		token, sig string
		form       url.Values
	}{
		"another token":     {"other-token", good, form},
		"no token":          {"", good, form},
		"no signature":      {token, "", form},
		"a changed status":  {token, good, url.Values{"MessageStatus": {"failed"}, "MessageSid": {"SM0123"}}},
		"an added param":    {token, good, url.Values{"MessageStatus": {"delivered"}, "MessageSid": {"SM0123"}, "ErrorCode": {"30003"}}},
		"a truncated value": {token, good[:len(good)-2], form},
	} {
		if CheckSignature(c.token, "https://api.example.com/r", c.form, c.sig) {
			t.Errorf("%s: CheckSignature = true, want false", name)
		}
	}
}
