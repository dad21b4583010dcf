package config

import (
	"strings"
	"testing"
)

func TestFromEnvEventBus(t *testing.T) {
	tests := []struct {
		value string
		ok    bool
	}{
		{"", true},
		{"default", true},
		{"fluxkit-sms.events_1", true},
		{"aws.partner/example.com/123/sms", true},
		{strings.Repeat("b", 256), true},
		{"arn:aws:events:eu-west-1:123456789012:event-bus/sms-events", true},
		{"arn:aws-us-gov:events:us-gov-west-1:123456789012:event-bus/default", true},
		{strings.Repeat("b", 257), false},
		{"sms events", false},
		{"bus:name", false},
		{"arn:aws:events:eu-west-1:123456789012:rule/sms-events", false},
		{"arn:aws:sqs:eu-west-1:123456789012:event-bus/sms-events", false},
		{"arn:aws:events:eu-west-1:12345:event-bus/sms-events", false},
		{"arn:aws:events:eu-west-1:123456789012:event-bus/", false},
		{"arn:aws:events::123456789012:event-bus/x", false},
	}
	for _, tt := range tests {
		c, err := FromEnv(env(map[string]string{EnvEventBus: tt.value}))
		switch {
		case tt.ok && err != nil:
			t.Errorf("FromEnv(%s=%q) = %v, want nil", EnvEventBus, tt.value, err)
		case tt.ok && c.EventBus != tt.value:
			t.Errorf("FromEnv(%s=%q).EventBus = %q, want %q", EnvEventBus, tt.value, c.EventBus, tt.value)
		case !tt.ok && (err == nil || !strings.Contains(err.Error(), "config: "+EnvEventBus+": ")):
			t.Errorf("FromEnv(%s=%q) = %v, want an error naming %s", EnvEventBus, tt.value, err, EnvEventBus)
		}
	}
}

// TestValidatePublisher: the publisher needs the bus and nothing else (it
// reads the table's stream, not the table, and no secret); the settings
// the other functions share with it through the template's globals do not
// stop it, JWT_JWKS_URL without issuer and audience included.
func TestValidatePublisher(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
		want string // a setting the error names; "" means valid
	}{
		{"bus alone", map[string]string{EnvEventBus: "sms-events"}, ""},
		{"with the others' settings", with(lambdaEnv, map[string]string{EnvEventBus: "sms-events", EnvJWTJWKSURL: "https://issuer.example/jwks"}), ""},
		{"no bus", lambdaEnv, EnvEventBus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(env(tt.vars), ModePublisher)
			if tt.want == "" {
				if err != nil {
					t.Errorf("Load(publisher) = %v, want nil", err)
				}
				return
			}
			if want := "config: " + tt.want + ": required by the publisher program"; err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Load(publisher) = %v, want it to contain %q", err, want)
			}
		})
	}
}
