package logging

import (
	"fmt"
	"strings"
	"testing"
)

func TestCallerHash(t *testing.T) {
	const key = "log-key-0123456789abcdef"
	keyed, unkeyed := NewCallerHash(key), NewCallerHash("")
	tests := []struct {
		name    string
		h       CallerHash
		subject string
		want    string
	}{
		// SHA-256("client-1") and HMAC-SHA256(key, "client-1"), first 8 bytes.
		{"unkeyed", unkeyed, "client-1", "5704de18fc6045e4"},
		{"keyed", keyed, "client-1", "ba005e4d951a08d2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.h.Of(tt.subject); got != tt.want {
				t.Errorf("Of(%q) = %q, want %q", tt.subject, got, tt.want)
			}
			if a, b := tt.h.Of(tt.subject), tt.h.Of(tt.subject); a != b {
				t.Errorf("Of is not stable: %q, %q", a, b)
			}
			if tt.h.Of("client-2") == tt.h.Of(tt.subject) {
				t.Error("two subjects share a name")
			}
		})
	}
	if !keyed.Keyed() || unkeyed.Keyed() || (CallerHash{}).Keyed() {
		t.Errorf("Keyed() = %v, %v, %v; want true, false, false", keyed.Keyed(), unkeyed.Keyed(), (CallerHash{}).Keyed())
	}
	for _, out := range []string{fmt.Sprint(keyed), fmt.Sprintf("%+v", keyed), fmt.Sprintf("%#v", keyed), keyed.String()} {
		if strings.Contains(out, key) || strings.Contains(out, fmt.Sprint([]byte(key))) {
			t.Errorf("printed CallerHash %q shows the key", out)
		}
	}
}
