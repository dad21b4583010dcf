package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/sms"
)

func TestFromEnvQuotas(t *testing.T) {
	tests := []struct {
		name      string
		vars      map[string]string
		recipient sms.Limit
		caller    sms.Limit
		budget    int64
		unit      sms.RateUnit
		scope     string
	}{
		{name: "defaults", recipient: sms.Limit{Count: 5, Window: 10 * time.Minute}, budget: 10000, scope: "sms:admin"},
		{name: "everything off", vars: map[string]string{EnvRecipientLimit: "off", EnvCallerLimit: "OFF", EnvDailySegmentLimit: "Off"}, scope: "sms:admin"},
		{name: "values", vars: map[string]string{EnvRecipientLimit: " 3 / 1h ", EnvCallerLimit: "10000/24h", EnvDailySegmentLimit: "250000", EnvRateUnit: "Segments", EnvJWTAdminScope: "ops:sms"},
			recipient: sms.Limit{Count: 3, Window: time.Hour}, caller: sms.Limit{Count: 10000, Window: 24 * time.Hour}, budget: 250000, unit: sms.UnitSegments, scope: "ops:sms"},
		{name: "messages", vars: map[string]string{EnvRateUnit: "messages", EnvRecipientLimit: "100/90s"},
			recipient: sms.Limit{Count: 100, Window: 90 * time.Second}, budget: 10000, scope: "sms:admin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := FromEnv(env(tt.vars))
			if err != nil {
				t.Fatalf("FromEnv = %v", err)
			}
			if c.RecipientLimit != tt.recipient || c.CallerLimit != tt.caller || c.DailySegmentLimit != tt.budget || c.RateUnit != tt.unit || c.JWTAdminScope != tt.scope {
				t.Errorf("recipient %v caller %v budget %d unit %v scope %q, want %v %v %d %v %q",
					c.RecipientLimit, c.CallerLimit, c.DailySegmentLimit, c.RateUnit, c.JWTAdminScope, tt.recipient, tt.caller, tt.budget, tt.unit, tt.scope)
			}
		})
	}
}

func TestFromEnvQuotaErrors(t *testing.T) {
	tests := []struct {
		name    string
		vars    map[string]string
		setting string
	}{
		{"no window", map[string]string{EnvRecipientLimit: "5"}, EnvRecipientLimit},
		{"zero count", map[string]string{EnvRecipientLimit: "0/10m"}, EnvRecipientLimit},
		{"count over the item's bound", map[string]string{EnvRecipientLimit: "101/10m"}, EnvRecipientLimit},
		{"fractional second", map[string]string{EnvRecipientLimit: "5/1500ms"}, EnvRecipientLimit},
		{"window too long", map[string]string{EnvCallerLimit: "5/169h"}, EnvCallerLimit},
		{"not a duration", map[string]string{EnvCallerLimit: "5/day"}, EnvCallerLimit},
		{"negative", map[string]string{EnvCallerLimit: "-5/1h"}, EnvCallerLimit},
		{"budget zero", map[string]string{EnvDailySegmentLimit: "0"}, EnvDailySegmentLimit},
		{"budget words", map[string]string{EnvDailySegmentLimit: "ten thousand"}, EnvDailySegmentLimit},
		{"unit", map[string]string{EnvRateUnit: "parts"}, EnvRateUnit},
		{"scope with a space", map[string]string{EnvJWTAdminScope: "sms admin"}, EnvJWTAdminScope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromEnv(env(tt.vars))
			var se *SettingError
			if !errors.As(err, &se) || se.Setting != tt.setting {
				t.Fatalf("FromEnv error = %v, want a *SettingError for %s", err, tt.setting)
			}
			for _, v := range tt.vars {
				if !strings.Contains(se.Reason, v) {
					t.Errorf("reason %q does not echo the value %q", se.Reason, v)
				}
			}
		})
	}
}
