package sms

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestKindOfAndAsError(t *testing.T) {
	base := E(KindRejected, "not a mobile number", ProviderDetail("21614", ""))
	tests := []struct {
		name     string
		err      error
		wantKind Kind
		wantCode string
	}{
		{"nil has no kind", nil, -1, ""},
		{"domain error", base, KindRejected, ""},
		{"wrapped domain error", fmt.Errorf("twilio: send: %w", base), KindRejected, ""},
		{"narrowing code kept", E(KindInvalid, "to is required", Code(CodeInvalidTo)), KindInvalid, CodeInvalidTo},
		{"plain error is internal", errors.New("boom"), KindInternal, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := KindOf(tt.err); got != tt.wantKind {
				t.Errorf("KindOf = %v, want %v", got, tt.wantKind)
			}
			if tt.err == nil {
				return
			}
			e := AsError(tt.err)
			if e.Kind != tt.wantKind || e.Code != tt.wantCode {
				t.Errorf("AsError = kind %v code %q, want kind %v code %q", e.Kind, e.Code, tt.wantKind, tt.wantCode)
			}
			if !errors.Is(e, tt.err) && !errors.Is(tt.err, e) {
				t.Errorf("AsError(%v) = %v, unrelated to the error", tt.err, e)
			}
		})
	}
}

func TestKindNames(t *testing.T) {
	seen := map[string]bool{}
	for k := KindInternal; k <= KindNotFound; k++ {
		name := k.String()
		if strings.HasPrefix(name, "kind(") || seen[name] {
			t.Errorf("kind %d has name %q, want a name of its own", int(k), name)
		}
		seen[name] = true
	}
	if got := Kind(99).String(); got != "kind(99)" {
		t.Errorf("Kind(99).String() = %q, want kind(99)", got)
	}
}

func TestEAppliesOptions(t *testing.T) {
	cause := errors.New("connection reset")
	got := E(KindUnavailable, "storage unavailable", Cause(cause), RetryAfter(2*time.Second),
		Field("to"), Code(CodeInvalidTo), ProviderDetail("5", "throttled"))
	want := Error{Kind: KindUnavailable, Code: CodeInvalidTo, Field: "to", Message: "storage unavailable",
		ProviderCode: "5", ProviderMessage: "throttled", RetryAfter: 2 * time.Second, Err: cause}
	if *got != want {
		t.Errorf("E(...) = %+v, want %+v", *got, want)
	}
	if plain := E(KindConflict, "busy"); *plain != (Error{Kind: KindConflict, Message: "busy"}) {
		t.Errorf("E without options = %+v, want only kind and message", *plain)
	}
}

func TestInvalidField(t *testing.T) {
	tests := []struct {
		field, reason string
		wantCode      string
	}{
		{"to", "is required", CodeInvalidTo},
		{"body", "is required", CodeInvalidBody},
		{"from", "must not be empty when given", CodeInvalidFrom},
		{"Idempotency-Key", "must be 1-255 printable ASCII characters", ""},
	}
	for _, tt := range tests {
		got := InvalidField(tt.field, tt.reason)
		want := Error{Kind: KindInvalid, Code: tt.wantCode, Field: tt.field, Message: tt.field + " " + tt.reason}
		if *got != want {
			t.Errorf("InvalidField(%q, %q) = %+v, want %+v", tt.field, tt.reason, *got, want)
		}
	}
}

func TestErrorTextKeepsContext(t *testing.T) {
	cause := errors.New("connection reset")
	e := E(KindAmbiguous, "outcome unknown", Field("to"), ProviderDetail("5", ""), Cause(cause))
	got := e.Error()
	for _, want := range []string{"ambiguous", "to", "outcome unknown", "provider code 5", "connection reset"} {
		if !strings.Contains(got, want) {
			t.Errorf("Error() = %q, want it to contain %q", got, want)
		}
	}
	if !errors.Is(e, cause) {
		t.Error("errors.Is does not reach the cause")
	}
}
