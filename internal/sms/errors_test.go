package sms

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestKindOfAndAsError(t *testing.T) {
	base := &Error{Kind: KindRejected, ProviderCode: "21614", Message: "not a mobile number"}
	tests := []struct {
		name     string
		err      error
		wantKind Kind
		wantCode string
	}{
		{"nil has no kind", nil, -1, ""},
		{"domain error", base, KindRejected, CodeProviderRejected},
		{"wrapped domain error", fmt.Errorf("twilio: send: %w", base), KindRejected, CodeProviderRejected},
		{"explicit code wins", &Error{Kind: KindInvalid, Code: CodeInvalidTo}, KindInvalid, CodeInvalidTo},
		{"plain error is internal", errors.New("boom"), KindInternal, CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := KindOf(tt.err); got != tt.wantKind {
				t.Errorf("KindOf = %v, want %v", got, tt.wantKind)
			}
			if tt.err == nil {
				return
			}
			if got := AsError(tt.err).ErrorCode(); got != tt.wantCode {
				t.Errorf("ErrorCode = %q, want %q", got, tt.wantCode)
			}
		})
	}
}

func TestDefaultCodeCoversEveryKind(t *testing.T) {
	want := map[Kind]string{
		KindInternal: CodeInternal, KindInvalid: CodeInvalidRequest, KindUnauthorized: CodeUnauthorized,
		KindForbidden: CodeForbidden, KindConflict: CodeConflict, KindRateLimited: CodeRateLimited,
		KindTransient: CodeUnavailable, KindAmbiguous: CodeUnavailable, KindRejected: CodeProviderRejected,
		KindProviderAccount: CodeProviderError, KindPartial: CodeProviderError, KindUnavailable: CodeUnavailable,
	}
	for k := KindInternal; k <= KindUnavailable; k++ {
		if got := DefaultCode(k); got != want[k] {
			t.Errorf("DefaultCode(%v) = %q, want %q", k, got, want[k])
		}
		if strings.HasPrefix(k.String(), "kind(") {
			t.Errorf("kind %d has no name", int(k))
		}
	}
	if got := Kind(99).String(); got != "kind(99)" {
		t.Errorf("Kind(99).String() = %q, want kind(99)", got)
	}
}

func TestErrorTextKeepsContext(t *testing.T) {
	cause := errors.New("connection reset")
	e := &Error{Kind: KindAmbiguous, Field: "to", Message: "outcome unknown", ProviderCode: "5", Err: cause}
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
