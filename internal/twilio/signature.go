package twilio

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net"
	"net/url"
	"slices"
	"strings"
)

// Signature is the X-Twilio-Signature of a form-encoded request Twilio
// makes to fullURL with the parameters form: base64 of the HMAC-SHA1,
// keyed with the account's auth token, of fullURL followed by each
// parameter name and value, names in sorted order and each name's
// distinct values sorted, with nothing between them (docs/receipts.md).
func Signature(authToken, fullURL string, form url.Values) string {
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(fullURL))
	names := make([]string, 0, len(form))
	for name := range form {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		values := slices.Compact(slices.Sorted(slices.Values(form[name])))
		for _, v := range values {
			mac.Write([]byte(name))
			mac.Write([]byte(v))
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// CheckSignature reports whether signature is Twilio's signature of a
// request to fullURL with the parameters form, keyed with authToken.
// Twilio's own validators accept the URL in two forms, with the scheme's
// default port added (":443", ":80") and with any port removed, because
// what Twilio signs depends on how the URL was written; so does
// CheckSignature, and the URL as given. Each comparison takes constant
// time.
func CheckSignature(authToken, fullURL string, form url.Values, signature string) bool {
	if authToken == "" || signature == "" {
		return false
	}
	got := []byte(signature)
	ok := false
	for _, u := range urlForms(fullURL) {
		if hmac.Equal(got, []byte(Signature(authToken, u, form))) {
			ok = true
		}
	}
	return ok
}

// urlForms returns fullURL as given, with the scheme's default port when
// it has none, and without its port, each once.
func urlForms(fullURL string) []string {
	forms := []string{fullURL}
	u, err := url.Parse(fullURL)
	if err != nil || u.Host == "" {
		return forms
	}
	host, port := u.Hostname(), u.Port()
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // an IPv6 literal
	}
	with, without := *u, *u
	without.Host = host
	switch {
	case port != "":
		with.Host = u.Host
	case u.Scheme == "https":
		with.Host = net.JoinHostPort(u.Hostname(), "443")
	case u.Scheme == "http":
		with.Host = net.JoinHostPort(u.Hostname(), "80")
	}
	for _, v := range []string{with.String(), without.String()} {
		if !slices.Contains(forms, v) {
			forms = append(forms, v)
		}
	}
	return forms
}
