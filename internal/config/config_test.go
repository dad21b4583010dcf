package config

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/sms"
)

// env returns a getenv over vars.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// with returns base plus changes.
func with(base map[string]string, changes map[string]string) map[string]string {
	out := make(map[string]string, len(base)+len(changes))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range changes {
		out[k] = v
	}
	return out
}

var lambdaEnv = map[string]string{
	EnvProvider:  "twilio",
	EnvFrom:      "+14155550100",
	EnvSecretID:  "arn:aws:secretsmanager:us-east-1:123456789012:secret:sms-AbCdEf",
	EnvTableName: "sms-table",
	EnvQueueURL:  "https://sqs.us-east-1.amazonaws.com/123456789012/sms",
	EnvDLQURL:    "https://sqs.us-east-1.amazonaws.com/123456789012/sms-dlq",
}

func TestFromEnvDefaults(t *testing.T) {
	got, err := FromEnv(env(nil))
	if err != nil {
		t.Fatalf("FromEnv(empty) = %v, want nil", err)
	}
	want := Config{
		RateLimit:    10,
		QueueEnabled: true,
		RateMargin:   0.05,
		MaxWait:      250 * time.Millisecond,
		TwilioAPIURL: "https://api.twilio.com",
		VonageAPIURL: "https://rest.nexmo.com",
		// Status records on, kept 30 days; the template's redrive limit.
		StatusTracking:  true,
		StatusRetention: 720 * time.Hour,
		MaxReceives:     10,
		JWTReadAllScope: "sms:read-all",
	}
	// The guard's defaults (guard_test.go): only SMS_FROM, every country,
	// the costly number types and non-geographic codes blocked, smart
	// encoding on.
	want.BlockedNumberTypes = []string{"PREMIUM_RATE", "SHARED_COST", "UAN", "PERSONAL_NUMBER", "VOICEMAIL", "PAGER"}
	want.BlockNonGeographic, want.SmartEncoding = true, true
	// The quotas' defaults (quota_test.go): 5 messages per number per 10
	// minutes, no caller limit, 10000 segments a day.
	want.RecipientLimit, want.DailySegmentLimit, want.JWTAdminScope = sms.Limit{Count: 5, Window: 10 * time.Minute}, 10000, "sms:admin"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FromEnv(empty) = %+v, want %+v", got, want)
	}
}

func TestFromEnvValues(t *testing.T) {
	got, err := FromEnv(env(map[string]string{
		EnvProvider:         "vonage",
		EnvFrom:             " MyApp ",
		EnvSecretID:         "sms/credentials",
		EnvRateLimit:        "2.5",
		EnvQueueEnabled:     "FALSE",
		EnvRateMargin:       "0",
		EnvMaxWait:          "1s",
		EnvTableName:        "sms.table_1-a",
		EnvQueueURL:         "http://127.0.0.1:5000/123456789012/sms",
		EnvDLQURL:           "http://127.0.0.1:5000/123456789012/sms-dlq",
		EnvAllowedSenders:   "MyApp, +14155550100,,MyApp , Other App",
		EnvJWTIssuer:        "https://issuer.example/",
		EnvJWTAudience:      "sms-api",
		EnvJWTJWKSURL:       "https://issuer.example/.well-known/jwks.json",
		EnvJWTRequiredScope: "sms:send",
		EnvJWTReadAllScope:  " ops:read ",
		EnvTwilioAPIURL:     "https://api.dublin.ie1.twilio.com/",
		EnvVonageAPIURL:     "http://127.0.0.1:9000",
		EnvAWSEndpointURL:   "http://127.0.0.1:5000",
		EnvJWTSecretID:      "sms/jwt",
		EnvJWTMaxLifetime:   "24h",
		EnvStatusTracking:   "False",
		EnvStatusRetention:  "2160h",
		EnvMaxReceives:      " 5 ",
		EnvPublicURL:        "https://sms.example.com/api/",
	}))
	if err != nil {
		t.Fatalf("FromEnv = %v, want nil", err)
	}
	want := Config{
		Provider:         "vonage",
		Providers:        []string{"vonage"},
		From:             "MyApp",
		SecretID:         "sms/credentials",
		JWTSecretID:      "sms/jwt",
		RateLimit:        2.5,
		QueueEnabled:     false,
		RateMargin:       0,
		MaxWait:          time.Second,
		TableName:        "sms.table_1-a",
		QueueURL:         "http://127.0.0.1:5000/123456789012/sms",
		DLQURL:           "http://127.0.0.1:5000/123456789012/sms-dlq",
		AllowedSenders:   []string{"MyApp", "+14155550100", "Other App"},
		JWTIssuer:        "https://issuer.example/", // compared verbatim with iss
		JWTAudience:      "sms-api",
		JWTJWKSURL:       "https://issuer.example/.well-known/jwks.json",
		JWTRequiredScope: "sms:send",
		JWTReadAllScope:  "ops:read",
		JWTMaxLifetime:   24 * time.Hour,
		TwilioAPIURL:     "https://api.dublin.ie1.twilio.com",
		VonageAPIURL:     "http://127.0.0.1:9000",
		AWSEndpointURL:   "http://127.0.0.1:5000",
		StatusTracking:   false,
		StatusRetention:  90 * 24 * time.Hour,
		MaxReceives:      5,
		PublicURL:        "https://sms.example.com/api",
	}
	want.BlockedNumberTypes = sms.DefaultBlockedNumberTypes
	want.BlockNonGeographic, want.SmartEncoding = true, true
	want.RecipientLimit, want.DailySegmentLimit, want.JWTAdminScope = DefaultRecipientLimit, DefaultDailySegmentLimit, DefaultJWTAdminScope
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FromEnv =\n%+v, want\n%+v", got, want)
	}
}

func TestFromEnvJWTSettings(t *testing.T) {
	tests := []struct {
		name         string
		vars         map[string]string
		wantSecretID string
		wantLifetime time.Duration
	}{
		{"JWT secret defaults to the provider secret", map[string]string{EnvSecretID: "sms/credentials"}, "sms/credentials", 0},
		{"JWT secret of its own", map[string]string{EnvSecretID: "sms/credentials", EnvJWTSecretID: " sms/jwt "}, "sms/jwt", 0},
		{"max lifetime off by default", nil, "", 0},
		{"max lifetime off", map[string]string{EnvJWTMaxLifetime: "off"}, "", 0},
		{"max lifetime OFF", map[string]string{EnvJWTMaxLifetime: "OFF"}, "", 0},
		{"max lifetime 24h", map[string]string{EnvJWTMaxLifetime: "24h"}, "", 24 * time.Hour},
		{"max lifetime 90m", map[string]string{EnvJWTMaxLifetime: "1h30m"}, "", 90 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := FromEnv(env(tt.vars))
			if err != nil {
				t.Fatalf("FromEnv = %v, want nil", err)
			}
			if c.JWTSecretID != tt.wantSecretID || c.JWTMaxLifetime != tt.wantLifetime {
				t.Errorf("JWTSecretID, JWTMaxLifetime = %q, %v; want %q, %v", c.JWTSecretID, c.JWTMaxLifetime, tt.wantSecretID, tt.wantLifetime)
			}
		})
	}
}

func TestSplitJWTSecret(t *testing.T) {
	tests := []struct {
		vars map[string]string
		want bool
	}{
		{map[string]string{EnvSecretID: "sms/credentials"}, false},
		{map[string]string{EnvSecretID: "sms/credentials", EnvJWTSecretID: "sms/credentials"}, false},
		{map[string]string{EnvSecretID: "sms/credentials", EnvJWTSecretID: "sms/jwt"}, true},
		{nil, false},
	}
	for _, tt := range tests {
		c, err := FromEnv(env(tt.vars))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.SplitJWTSecret(); got != tt.want {
			t.Errorf("SplitJWTSecret(%v) = %v, want %v", tt.vars, got, tt.want)
		}
	}
}

func TestFromEnvAcceptedSenders(t *testing.T) {
	tests := []struct {
		provider, from string
	}{
		{"twilio", "+447700900123"},
		{"twilio", "A"},
		{"twilio", "My App 2024"},
		{"twilio", "MG0123456789abcdef0123456789ABCDEF"},
		{"vonage", "+14155550100"},
		{"vonage", "Shop"},
		{"", "Local"},
	}
	for _, tt := range tests {
		c, err := FromEnv(env(map[string]string{EnvProvider: tt.provider, EnvFrom: tt.from}))
		if err != nil {
			t.Errorf("FromEnv(%s=%q, %s=%q) = %v, want nil", EnvProvider, tt.provider, EnvFrom, tt.from, err)
			continue
		}
		if c.From != tt.from {
			t.Errorf("From = %q, want %q", c.From, tt.from)
		}
	}
}

func TestFromEnvInvalid(t *testing.T) {
	tests := []struct {
		name    string
		vars    map[string]string
		setting string
		reason  string // a fragment of the error
	}{
		{"provider unknown", map[string]string{EnvProvider: "nexmo"}, EnvProvider, `got "nexmo"`},
		{"provider case", map[string]string{EnvProvider: "Twilio"}, EnvProvider, `must be "twilio", "vonage" or a comma-separated list`},
		{"provider list with an unknown", map[string]string{EnvProvider: "twilio,sinch"}, EnvProvider, `got "twilio,sinch"`},
		{"provider twice", map[string]string{EnvProvider: "twilio, twilio"}, EnvProvider, `names "twilio" twice`},
		{"provider list with a hole", map[string]string{EnvProvider: "twilio,,vonage"}, EnvProvider, `comma-separated list`},
		{"messaging service for the vonage of a list", map[string]string{EnvProvider: "twilio,vonage", EnvFrom: "MG0123456789abcdef0123456789abcdef"}, EnvFrom, "only for SMS_PROVIDER=twilio"},
		{"sender per provider misses one", map[string]string{EnvProvider: "twilio,vonage", EnvFrom: "twilio=+15005550006"}, EnvFrom, "names no sender for vonage"},
		{"sender per provider names another", map[string]string{EnvProvider: "twilio", EnvFrom: "twilio=+15005550006,vonage=MyApp"}, EnvFrom, `names provider "vonage", which SMS_PROVIDER does not list`},
		{"sender per provider without a provider", map[string]string{EnvFrom: "twilio=+15005550006"}, EnvFrom, `names provider "twilio"`},
		{"sender per provider twice", map[string]string{EnvProvider: "twilio,vonage", EnvFrom: "twilio=A,twilio=B,vonage=C"}, EnvFrom, `names provider "twilio" twice`},
		{"sender per provider empty", map[string]string{EnvProvider: "twilio,vonage", EnvFrom: "twilio=,vonage=MyApp"}, EnvFrom, `entry "twilio=" must be "provider=sender"`},
		{"sender per provider without a name", map[string]string{EnvProvider: "twilio,vonage", EnvFrom: "twilio=A,MyApp"}, EnvFrom, `entry "MyApp" must be`},
		{"sender per provider invalid", map[string]string{EnvProvider: "twilio,vonage", EnvFrom: "twilio=+1,vonage=MyApp"}, EnvFrom, "sender for twilio:"},
		{"messaging service for vonage per provider", map[string]string{EnvProvider: "twilio,vonage", EnvFrom: "twilio=+15005550006,vonage=MG0123456789abcdef0123456789abcdef"}, EnvFrom, "sender for vonage: a Messaging Service SID"},
		{"from too long", map[string]string{EnvFrom: "TwelveLetters"}, EnvFrom, "longer than 11"},
		{"from no letter", map[string]string{EnvFrom: "12345"}, EnvFrom, "at least one letter"},
		{"from bad E.164", map[string]string{EnvFrom: "+1 415 555"}, EnvFrom, "only digits"},
		{"from punctuation", map[string]string{EnvFrom: "My-App"}, EnvFrom, "alphanumeric"},
		{"messaging service for vonage", map[string]string{EnvProvider: "vonage", EnvFrom: "MG0123456789abcdef0123456789abcdef"}, EnvFrom, "only for SMS_PROVIDER=twilio"},
		{"messaging service SID not hex", map[string]string{EnvProvider: "twilio", EnvFrom: "MG0123456789abcdef0123456789abcdeg"}, EnvFrom, "Messaging Service SID"},
		{"rate limit text", map[string]string{EnvRateLimit: "x"}, EnvRateLimit, `must be a number > 0, got "x"`},
		{"rate limit zero", map[string]string{EnvRateLimit: "0"}, EnvRateLimit, "> 0"},
		{"rate limit negative", map[string]string{EnvRateLimit: "-1"}, EnvRateLimit, "> 0"},
		{"rate limit NaN", map[string]string{EnvRateLimit: "NaN"}, EnvRateLimit, "> 0"},
		{"rate limit Inf", map[string]string{EnvRateLimit: "+Inf"}, EnvRateLimit, "> 0"},
		{"queue enabled yes", map[string]string{EnvQueueEnabled: "yes"}, EnvQueueEnabled, `"true" or "false"`},
		{"queue enabled 1", map[string]string{EnvQueueEnabled: "1"}, EnvQueueEnabled, `got "1"`},
		{"margin 0.5", map[string]string{EnvRateMargin: "0.5"}, EnvRateMargin, "[0, 0.5)"},
		{"margin negative", map[string]string{EnvRateMargin: "-0.01"}, EnvRateMargin, "[0, 0.5)"},
		{"margin percent", map[string]string{EnvRateMargin: "5%"}, EnvRateMargin, `got "5%"`},
		{"max wait no unit", map[string]string{EnvMaxWait: "250"}, EnvMaxWait, `got "250"`},
		{"max wait negative", map[string]string{EnvMaxWait: "-1ms"}, EnvMaxWait, "between 0s and 5s"},
		{"max wait too long", map[string]string{EnvMaxWait: "6s"}, EnvMaxWait, "between 0s and 5s"},
		{"table name short", map[string]string{EnvTableName: "ab"}, EnvTableName, "3 to 255"},
		{"table name chars", map[string]string{EnvTableName: "sms table"}, EnvTableName, "only a-z"},
		{"queue URL relative", map[string]string{EnvQueueURL: "sms-queue"}, EnvQueueURL, "absolute"},
		{"DLQ URL scheme", map[string]string{EnvDLQURL: "sqs://queue"}, EnvDLQURL, "http or https"},
		{"JWKS over http", map[string]string{EnvJWTJWKSURL: "http://issuer.example/jwks"}, EnvJWTJWKSURL, "https"},
		{"Twilio URL bad", map[string]string{EnvTwilioAPIURL: "api.twilio.com"}, EnvTwilioAPIURL, "absolute"},
		{"Vonage URL bad", map[string]string{EnvVonageAPIURL: "://x"}, EnvVonageAPIURL, "absolute"},
		{"AWS endpoint bad", map[string]string{EnvAWSEndpointURL: "localhost:5000"}, EnvAWSEndpointURL, "absolute"},
		{"allowed sender bad", map[string]string{EnvAllowedSenders: "Good,+1"}, EnvAllowedSenders, `entry "+1"`},
		{"allowed sender MG", map[string]string{EnvAllowedSenders: "MG0123456789abcdef0123456789abcdef"}, EnvAllowedSenders, "entry"},
		{"scope with space", map[string]string{EnvJWTRequiredScope: "sms:send sms:read"}, EnvJWTRequiredScope, "single scope"},
		{"read-all scope with space", map[string]string{EnvJWTReadAllScope: "sms:read all"}, EnvJWTReadAllScope, `single scope without spaces, or "off"`},
		{"max lifetime without unit", map[string]string{EnvJWTMaxLifetime: "86400"}, EnvJWTMaxLifetime, `got "86400"`},
		{"max lifetime zero", map[string]string{EnvJWTMaxLifetime: "0s"}, EnvJWTMaxLifetime, `"off"`},
		{"max lifetime negative", map[string]string{EnvJWTMaxLifetime: "-1h"}, EnvJWTMaxLifetime, "> 0"},
		{"max lifetime in days", map[string]string{EnvJWTMaxLifetime: "1d"}, EnvJWTMaxLifetime, `such as "24h"`},
		{"status tracking on", map[string]string{EnvStatusTracking: "on"}, EnvStatusTracking, `must be "true" or "false", got "on"`},
		{"status tracking 0", map[string]string{EnvStatusTracking: "0"}, EnvStatusTracking, `got "0"`},
		{"retention in days", map[string]string{EnvStatusRetention: "30d"}, EnvStatusRetention, `such as "720h", got "30d"`},
		{"retention without unit", map[string]string{EnvStatusRetention: "720"}, EnvStatusRetention, `got "720"`},
		{"retention zero", map[string]string{EnvStatusRetention: "0s"}, EnvStatusRetention, "between 1h and"},
		{"retention too short", map[string]string{EnvStatusRetention: "59m"}, EnvStatusRetention, "between 1h and"},
		{"retention negative", map[string]string{EnvStatusRetention: "-720h"}, EnvStatusRetention, "between 1h and"},
		{"retention too long", map[string]string{EnvStatusRetention: "87601h"}, EnvStatusRetention, "and 87600h (ten years)"},
		{"max receives zero", map[string]string{EnvMaxReceives: "0"}, EnvMaxReceives, `from 1 to 1000`},
		{"max receives too many", map[string]string{EnvMaxReceives: "1001"}, EnvMaxReceives, `got "1001"`},
		{"max receives fraction", map[string]string{EnvMaxReceives: "2.5"}, EnvMaxReceives, `whole number`},
		{"max receives text", map[string]string{EnvMaxReceives: "ten"}, EnvMaxReceives, `got "ten"`},
		{"public URL over http", map[string]string{EnvPublicURL: "http://sms.example.com"}, EnvPublicURL, "must be an https URL (http only on a loopback host)"},
		{"public URL relative", map[string]string{EnvPublicURL: "sms.example.com"}, EnvPublicURL, "absolute"},
		{"public URL with a query", map[string]string{EnvPublicURL: "https://sms.example.com/?stage=prod"}, EnvPublicURL, "without a query or fragment"},
		{"public URL with a fragment", map[string]string{EnvPublicURL: "https://sms.example.com#x"}, EnvPublicURL, "without a query or fragment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromEnv(env(tt.vars))
			if err == nil {
				t.Fatalf("FromEnv error = nil, want one naming %s", tt.setting)
			}
			var se *SettingError
			if !errors.As(err, &se) || se.Setting != tt.setting {
				t.Errorf("FromEnv error = %v, want a *SettingError for %s", err, tt.setting)
			}
			if want := "config: " + tt.setting + ": "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("FromEnv error = %q, want prefix %q", err, want)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("FromEnv error = %q, want it to contain %q", err, tt.reason)
			}
		})
	}
}

// TestFromEnvProviders: SMS_PROVIDER's list in its order, and SMS_FROM as
// one sender for all or one per provider.
func TestFromEnvProviders(t *testing.T) {
	tests := []struct {
		name, provider, from string
		wantProviders        []string
		wantFrom             map[string]string // FromFor of each provider
		wantDefaults         []string
	}{
		{"one provider", "twilio", "+15005550006", []string{"twilio"}, map[string]string{"twilio": "+15005550006"}, []string{"+15005550006"}},
		{"one provider, its sender by name", "vonage", "vonage=MyApp", []string{"vonage"}, map[string]string{"vonage": "MyApp"}, []string{"MyApp"}},
		{"failover, one sender for both", "twilio,vonage", "MyApp", []string{"twilio", "vonage"},
			map[string]string{"twilio": "MyApp", "vonage": "MyApp"}, []string{"MyApp"}},
		{"failover the other way, a sender each", " vonage , twilio ", "twilio=+15005550006, vonage=My App", []string{"vonage", "twilio"},
			map[string]string{"twilio": "+15005550006", "vonage": "My App"}, []string{"My App", "+15005550006"}},
		{"a messaging service for twilio only", "twilio,vonage", "vonage=MyApp,twilio=MG0123456789abcdef0123456789abcdef", []string{"twilio", "vonage"},
			map[string]string{"twilio": "MG0123456789abcdef0123456789abcdef", "vonage": "MyApp"}, []string{"MG0123456789abcdef0123456789abcdef", "MyApp"}},
		{"console", "", "Dev", nil, map[string]string{"": "Dev"}, []string{"Dev"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := FromEnv(env(map[string]string{EnvProvider: tt.provider, EnvFrom: tt.from}))
			if err != nil {
				t.Fatalf("FromEnv: %v", err)
			}
			if !slices.Equal(c.Providers, tt.wantProviders) || !slices.Equal(c.ProviderList(), tt.wantProviders) {
				t.Errorf("Providers = %q (list %q), want %q", c.Providers, c.ProviderList(), tt.wantProviders)
			}
			if want := ""; len(tt.wantProviders) > 0 {
				want = tt.wantProviders[0]
				if c.Provider != want {
					t.Errorf("Provider = %q, want the first, %q", c.Provider, want)
				}
				if c.From != tt.wantFrom[want] {
					t.Errorf("From = %q, want the first provider's, %q", c.From, tt.wantFrom[want])
				}
			}
			for p, want := range tt.wantFrom {
				if got := c.FromFor(p); got != want {
					t.Errorf("FromFor(%q) = %q, want %q", p, got, want)
				}
			}
			if got := c.DefaultSenders(); !slices.Equal(got, tt.wantDefaults) {
				t.Errorf("DefaultSenders() = %q, want %q", got, tt.wantDefaults)
			}
			if got, want := c.Failover(), len(tt.wantProviders) > 1; got != want {
				t.Errorf("Failover() = %v, want %v", got, want)
			}
		})
	}
}

func TestFromEnvReportsEveryProblem(t *testing.T) {
	_, err := FromEnv(env(map[string]string{EnvRateLimit: "x", EnvRateMargin: "2", EnvQueueEnabled: "maybe"}))
	for _, name := range []string{EnvRateLimit, EnvRateMargin, EnvQueueEnabled} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("FromEnv error = %v, want it to name %s", err, name)
		}
	}
}

func TestFromEnvURLCredentialsNotEchoed(t *testing.T) {
	_, err := FromEnv(env(map[string]string{EnvTwilioAPIURL: "https://user:hunter2@api.twilio.com"}))
	if err == nil || !strings.Contains(err.Error(), EnvTwilioAPIURL) {
		t.Fatalf("FromEnv error = %v, want one naming %s", err, EnvTwilioAPIURL)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("FromEnv error = %q, echoes the URL's password", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mode    Mode
		vars    map[string]string
		missing []string // variables the error must name; none means valid
	}{
		{"send complete", ModeSend, lambdaEnv, nil},
		{"send needs provider", ModeSend, with(lambdaEnv, map[string]string{EnvProvider: ""}), []string{EnvProvider}},
		{"send needs from", ModeSend, with(lambdaEnv, map[string]string{EnvFrom: ""}), []string{EnvFrom}},
		{"send needs secret", ModeSend, with(lambdaEnv, map[string]string{EnvSecretID: ""}), []string{EnvSecretID}},
		{"send needs table and queue", ModeSend, with(lambdaEnv, map[string]string{EnvTableName: "", EnvQueueURL: ""}), []string{EnvTableName, EnvQueueURL}},
		{"send without queueing needs no queue", ModeSend, with(lambdaEnv, map[string]string{EnvQueueURL: "", EnvQueueEnabled: "false"}), nil},
		{"send needs no DLQ", ModeSend, with(lambdaEnv, map[string]string{EnvDLQURL: ""}), nil},
		{"drain complete", ModeDrain, lambdaEnv, nil},
		{"drain needs DLQ", ModeDrain, with(lambdaEnv, map[string]string{EnvDLQURL: ""}), []string{EnvDLQURL}},
		{"drain needs queue even without queueing", ModeDrain, with(lambdaEnv, map[string]string{EnvQueueURL: "", EnvQueueEnabled: "false"}), []string{EnvQueueURL}},
		{"drain needs everything", ModeDrain, nil, []string{EnvProvider, EnvFrom, EnvSecretID, EnvTableName, EnvQueueURL, EnvDLQURL}},
		{"local needs nothing", ModeLocal, nil, nil},
		{"local with a provider needs from", ModeLocal, map[string]string{EnvProvider: "vonage"}, []string{EnvFrom}},
		{"local with a provider", ModeLocal, map[string]string{EnvProvider: "vonage", EnvFrom: "Dev"}, nil},
		{"receipts complete", ModeReceipts, with(lambdaEnv, map[string]string{EnvPublicURL: "https://sms.example.com"}), nil},
		{"receipts needs the public URL", ModeReceipts, lambdaEnv, []string{EnvPublicURL}},
		{"receipts needs no provider, sender or queues", ModeReceipts,
			map[string]string{EnvSecretID: "sms/credentials", EnvTableName: "sms-table", EnvPublicURL: "https://sms.example.com"}, nil},
		{"receipts needs secret, table and public URL", ModeReceipts, nil, []string{EnvSecretID, EnvTableName, EnvPublicURL}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := FromEnv(env(tt.vars))
			if err != nil {
				t.Fatalf("FromEnv: %v", err)
			}
			err = c.Validate(tt.mode)
			if len(tt.missing) == 0 {
				if err != nil {
					t.Errorf("Validate(%v) = %v, want nil", tt.mode, err)
				}
				return
			}
			for _, name := range tt.missing {
				if want := "config: " + name + ": required by the " + tt.mode.String() + " program"; err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("Validate(%v) = %v, want it to contain %q", tt.mode, err, want)
				}
			}
			if got := strings.Count(err.Error(), "required by"); got != len(tt.missing) {
				t.Errorf("Validate(%v) names %d settings, want %d: %v", tt.mode, got, len(tt.missing), err)
			}
		})
	}
	if err := (Config{}).Validate(Mode(9)); err == nil {
		t.Errorf("Validate(Mode(9)) = nil, want an error")
	}
}

// TestValidateJWKSNeedsIssuerAndAudience: with a JWKS, the issuer and the
// audience are required by every program that verifies tokens, so that
// another application's token from the same identity provider is refused.
// The drain and the receipts program verify no tokens: they start whatever
// they are.
func TestValidateJWKSNeedsIssuerAndAudience(t *testing.T) {
	jwks := with(lambdaEnv, map[string]string{EnvJWTJWKSURL: "https://issuer.example/.well-known/jwks.json"})
	tests := []struct {
		name  string
		mode  Mode
		vars  map[string]string
		names []string // settings the error must name; none means valid
	}{
		{"send without both", ModeSend, jwks, []string{EnvJWTIssuer, EnvJWTAudience}},
		{"send without audience", ModeSend, with(jwks, map[string]string{EnvJWTIssuer: "https://issuer.example/"}), []string{EnvJWTAudience}},
		{"send without issuer", ModeSend, with(jwks, map[string]string{EnvJWTAudience: "sms-api"}), []string{EnvJWTIssuer}},
		{"send with both", ModeSend, with(jwks, map[string]string{EnvJWTIssuer: "https://issuer.example/", EnvJWTAudience: "sms-api"}), nil},
		{"local without both", ModeLocal, map[string]string{EnvJWTJWKSURL: "https://issuer.example/jwks"}, []string{EnvJWTIssuer, EnvJWTAudience}},
		{"drain verifies no tokens", ModeDrain, jwks, nil},
		{"receipts verifies no tokens", ModeReceipts, with(jwks, map[string]string{EnvPublicURL: "https://sms.example.com"}), nil},
		{"HS256 needs neither", ModeSend, lambdaEnv, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(env(tt.vars), tt.mode)
			if len(tt.names) == 0 {
				if err != nil {
					t.Errorf("Load(%v) = %v, want nil", tt.mode, err)
				}
				return
			}
			for _, name := range tt.names {
				if want := "config: " + name + ": required when " + EnvJWTJWKSURL + " is set"; err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("Load(%v) = %v, want it to contain %q", tt.mode, err, want)
				}
			}
			if got := strings.Count(err.Error(), "config: "); got != len(tt.names) {
				t.Errorf("Load(%v) reported %d problems, want %d: %v", tt.mode, got, len(tt.names), err)
			}
		})
	}
}

func TestValidateJWTSecretIDNeedsSecretID(t *testing.T) {
	c, err := FromEnv(env(map[string]string{EnvJWTSecretID: "sms/jwt"}))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate(ModeLocal)
	if err == nil || !strings.Contains(err.Error(), "config: "+EnvJWTSecretID+": ") {
		t.Errorf("Validate(local) = %v, want an error naming %s", err, EnvJWTSecretID)
	}
	if err := (Config{}).Validate(Mode(9)); err == nil {
		t.Errorf("Validate(Mode(9)) = nil, want an error")
	}
}

func TestLoad(t *testing.T) {
	if _, err := Load(env(lambdaEnv), ModeDrain); err != nil {
		t.Errorf("Load(drain) = %v, want nil", err)
	}
	_, err := Load(env(with(lambdaEnv, map[string]string{EnvRateLimit: "0"})), ModeSend)
	if err == nil || !strings.Contains(err.Error(), EnvRateLimit) {
		t.Errorf("Load = %v, want an error naming %s", err, EnvRateLimit)
	}
	_, err = Load(env(nil), ModeSend)
	if err == nil || !strings.Contains(err.Error(), EnvProvider) {
		t.Errorf("Load = %v, want an error naming %s", err, EnvProvider)
	}
}

func TestFromEnvReadAllScope(t *testing.T) {
	tests := []struct {
		value, want string
	}{
		{"", DefaultReadAllScope},
		{"ops:read", "ops:read"},
		{"off", ""},
		{"OFF", ""},
	}
	for _, tt := range tests {
		got, err := FromEnv(env(map[string]string{EnvJWTReadAllScope: tt.value}))
		if err != nil {
			t.Fatalf("%s=%q: %v", EnvJWTReadAllScope, tt.value, err)
		}
		if got.JWTReadAllScope != tt.want {
			t.Errorf("%s=%q: JWTReadAllScope = %q, want %q", EnvJWTReadAllScope, tt.value, got.JWTReadAllScope, tt.want)
		}
	}
}
