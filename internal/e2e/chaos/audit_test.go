package chaos_test

import (
	"reflect"
	"testing"

	"github.com/fluxkit/sms/internal/e2e/chaos"
)

func TestAudit(t *testing.T) {
	secret := chaos.Secret{Name: "JWT secret", Value: "s3cr3t-value"}
	tests := []struct {
		name string
		logs string
		want []chaos.Leak
	}{
		{"clean", `{"msg":"sent","to":"+1******2671"}` + "\n\n" + `{"msg":"queued"}` + "\n", nil},
		{"secret", `{"msg":"x","error":"key s3cr3t-value refused"}`, []chaos.Leak{{Line: 1, What: "JWT secret"}}},
		{"unmasked number", `{"msg":"sent"}` + "\n" + `{"to":"+14155552671"}`, []chaos.Leak{{Line: 2, What: "unmasked phone number"}}},
		{"short digit runs are not numbers", `{"latency":1234567,"to":"+1234567"}`, nil},
		{"token", `{"auth":"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig"}`, []chaos.Leak{{Line: 1, What: "token-shaped string"}}},
		{"not JSON", "panic: boom\n", []chaos.Leak{{Line: 1, What: "not a JSON object"}}},
		{"JSON but not an object", `["s3cr3t-value"]`, []chaos.Leak{{Line: 1, What: "not a JSON object"}, {Line: 1, What: "JWT secret"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := chaos.Audit([]byte(tt.logs), secret, chaos.Secret{Name: "empty is ignored"})
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Audit = %+v, want %+v", got, tt.want)
			}
		})
	}
}
