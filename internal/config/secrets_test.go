package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const (
	testAccountSID = "AC0123456789abcdef0123456789abcdef"
	testAPIKeySID  = "SK0123456789abcdef0123456789abcdef"
	testAuthToken  = "tok-0123456789abcdef0123456789ab"
	testJWTSecret  = "jwt-secret-0123456789-0123456789-abc"
)

// fullSecrets has a distinct value in every field.
var fullSecrets = Secrets{
	Twilio: TwilioCredentials{
		AccountSID:   testAccountSID,
		AuthToken:    testAuthToken,
		APIKeySID:    testAPIKeySID,
		APIKeySecret: "apikey-secret-value-xyz",
	},
	Vonage: VonageCredentials{
		APIKey: "vonage-key-1", APISecret: "vonage-secret-value",
		SignatureSecret: "vonage-signature-secret", SignatureMethod: "sha256", ReceiptsToken: "receipts-token-value",
	},
	JWTSecret:         testJWTSecret,
	JWTSecretPrevious: "jwt-previous-0123456789-0123456789-abc",
	LogKey:            "log-key-5b8e1f0c2d7a9e34",
}

// secretValues lists every value in fullSecrets.
func secretValues() []string {
	s := fullSecrets
	return []string{s.Twilio.AccountSID, s.Twilio.AuthToken, s.Twilio.APIKeySID, s.Twilio.APIKeySecret,
		s.Vonage.APIKey, s.Vonage.APISecret, s.JWTSecret, s.JWTSecretPrevious, s.LogKey,
		s.Vonage.SignatureSecret, s.Vonage.ReceiptsToken}
}

func TestParseSecret(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		want    Secrets
		wantErr string // fragment of the error; empty means success
	}{
		{
			name: "every key",
			json: `{"accountSid":"` + testAccountSID + `","authToken":"` + testAuthToken + `","apiKeySid":"` + testAPIKeySID +
				`","apiKeySecret":"apikey-secret-value-xyz","apiKey":"vonage-key-1","apiSecret":"vonage-secret-value",` +
				`"jwtSecret":"` + testJWTSecret + `","jwtSecretPrevious":"jwt-previous-0123456789-0123456789-abc","logKey":"log-key-5b8e1f0c2d7a9e34",` +
				`"signatureSecret":"vonage-signature-secret","signatureMethod":"sha256","receiptsToken":"receipts-token-value"}`,
			want: fullSecrets,
		},
		{
			name: "vonage only, unknown keys ignored",
			json: `{"apiKey":"k","apiSecret":"s","note":{"owner":"ops"},"rotatedAt":17}`,
			want: Secrets{Vonage: VonageCredentials{APIKey: "k", APISecret: "s"}},
		},
		{name: "empty object", json: `{}`, want: Secrets{}},
		{name: "number value", json: `{"accountSid":12345678}`, wantErr: "config: secret key accountSid: must be a string"},
		{name: "object value", json: `{"jwtSecret":{"v":"hidden-value-1"}}`, wantErr: "config: secret key jwtSecret: must be a string"},
		{name: "array", json: `["hidden-value-1"]`, wantErr: "must be a JSON object"},
		{name: "plain string", json: `"hidden-value-1"`, wantErr: "must be a JSON object"},
		{name: "broken JSON", json: `{"authToken":"hidden-value-1",}`, wantErr: "not valid JSON"},
		{name: "not JSON", json: `authToken=hidden-value-1`, wantErr: "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSecret([]byte(tt.json))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseSecret error = %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "hidden-value-1") || strings.Contains(err.Error(), "12345678") {
					t.Errorf("ParseSecret error = %q, contains a value", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSecret = %v, want nil", err)
			}
			if got != tt.want {
				t.Errorf("ParseSecret = %#v, want %#v", fieldsOf(got), fieldsOf(tt.want))
			}
		})
	}
}

// fieldsOf lists the values of s for failure messages in tests (Secrets
// itself prints as "[redacted]").
func fieldsOf(s Secrets) []string {
	return []string{s.Twilio.AccountSID, s.Twilio.AuthToken, s.Twilio.APIKeySID, s.Twilio.APIKeySecret,
		s.Vonage.APIKey, s.Vonage.APISecret, s.JWTSecret, s.JWTSecretPrevious, s.LogKey,
		s.Vonage.SignatureSecret, s.Vonage.ReceiptsToken} // the signature method is no secret
}

func TestSecretsFromEnv(t *testing.T) {
	got := SecretsFromEnv(env(map[string]string{
		EnvTwilioAccountSID:   fullSecrets.Twilio.AccountSID,
		EnvTwilioAuthToken:    fullSecrets.Twilio.AuthToken,
		EnvTwilioAPIKeySID:    fullSecrets.Twilio.APIKeySID,
		EnvTwilioAPIKeySecret: fullSecrets.Twilio.APIKeySecret,
		EnvVonageAPIKey:       fullSecrets.Vonage.APIKey,
		EnvVonageAPISecret:    fullSecrets.Vonage.APISecret,
		EnvJWTSecret:          fullSecrets.JWTSecret,
		EnvJWTSecretPrevious:  fullSecrets.JWTSecretPrevious,

		EnvVonageSignatureSecret: fullSecrets.Vonage.SignatureSecret,
		EnvVonageSignatureMethod: fullSecrets.Vonage.SignatureMethod,
		EnvVonageReceiptsToken:   fullSecrets.Vonage.ReceiptsToken,
	}))
	// The environment has no logKey: local runs log no callers worth hiding.
	want := fullSecrets
	want.LogKey = ""
	if got != want {
		t.Errorf("SecretsFromEnv = %v, want %v", fieldsOf(got), fieldsOf(want))
	}
}

func TestCheckSecrets(t *testing.T) {
	twilioToken := Secrets{Twilio: TwilioCredentials{AccountSID: testAccountSID, AuthToken: testAuthToken}, JWTSecret: testJWTSecret}
	twilioKey := Secrets{Twilio: TwilioCredentials{AccountSID: testAccountSID, APIKeySID: testAPIKeySID, APIKeySecret: "apikey-secret-value-xyz"}, JWTSecret: testJWTSecret}
	vonage := Secrets{Vonage: VonageCredentials{APIKey: "vonage-key-1", APISecret: "vonage-secret-value"}, JWTSecret: testJWTSecret}
	fromSecret := Config{Provider: ProviderTwilio, SecretID: "sms/credentials"}
	failover := Config{Provider: ProviderTwilio, Providers: []string{ProviderTwilio, ProviderVonage}, SecretID: "sms/credentials"}
	change := func(s Secrets, f func(*Secrets)) Secrets { f(&s); return s }

	tests := []struct {
		name    string
		cfg     Config
		s       Secrets
		wantErr []string // fragments; none means valid
	}{
		{"twilio auth token", fromSecret, twilioToken, nil},
		{"twilio API key", fromSecret, twilioKey, nil},
		{"twilio both", fromSecret, change(twilioKey, func(s *Secrets) { s.Twilio.AuthToken = testAuthToken }), nil},
		{"twilio account SID missing", fromSecret, change(twilioToken, func(s *Secrets) { s.Twilio.AccountSID = "" }),
			[]string{"config: secret key accountSid: required"}},
		{"twilio account SID malformed", fromSecret, change(twilioToken, func(s *Secrets) { s.Twilio.AccountSID = "AC123" }),
			[]string{`secret key accountSid: must be "AC" followed by 32 hexadecimal digits`}},
		{"twilio API key SID as account SID", fromSecret, change(twilioToken, func(s *Secrets) { s.Twilio.AccountSID = testAPIKeySID }),
			[]string{"secret key accountSid: must be"}},
		{"twilio no token, no key", fromSecret, change(twilioToken, func(s *Secrets) { s.Twilio.AuthToken = "" }),
			[]string{"secret key authToken: required (or secret key apiKeySid with secret key apiKeySecret)"}},
		{"twilio key without secret", fromSecret, change(twilioKey, func(s *Secrets) { s.Twilio.APIKeySecret = "" }),
			[]string{"secret key apiKeySecret: required"}},
		{"twilio secret without key", fromSecret, change(twilioKey, func(s *Secrets) { s.Twilio.APIKeySID = "" }),
			[]string{"secret key apiKeySid: required"}},
		{"twilio key SID malformed", fromSecret, change(twilioKey, func(s *Secrets) { s.Twilio.APIKeySID = testAccountSID }),
			[]string{`secret key apiKeySid: must be "SK"`}},
		{"twilio ignores vonage", fromSecret, change(twilioToken, func(s *Secrets) { s.Vonage.APIKey = "x" }), nil},
		{"vonage", Config{Provider: ProviderVonage, SecretID: "x"}, vonage, nil},
		{"vonage missing both", Config{Provider: ProviderVonage, SecretID: "x"}, Secrets{JWTSecret: testJWTSecret},
			[]string{"secret key apiKey: required", "secret key apiSecret: required"}},
		{"vonage does not need twilio", Config{Provider: ProviderVonage, SecretID: "x"}, vonage, nil},
		{"failover with both credential sets", failover, change(twilioToken, func(s *Secrets) { s.Vonage = vonage.Vonage }), nil},
		{"failover needs vonage's too", failover, twilioToken,
			[]string{"secret key apiKey: required", "secret key apiSecret: required"}},
		{"failover needs twilio's too", failover, vonage,
			[]string{"secret key accountSid: required", "secret key authToken: required"}},
		{"jwt secret missing", fromSecret, change(twilioToken, func(s *Secrets) { s.JWTSecret = "" }),
			[]string{"secret key jwtSecret: required"}},
		{"jwt secret short", fromSecret, change(twilioToken, func(s *Secrets) { s.JWTSecret = "short" }),
			[]string{"secret key jwtSecret: must be at least 32 bytes"}},
		{"jwt previous short", fromSecret, change(twilioToken, func(s *Secrets) { s.JWTSecretPrevious = "short" }),
			[]string{"secret key jwtSecretPrevious: must be at least 32 bytes"}},
		{"jwt secret is the local development secret", fromSecret, change(twilioToken, func(s *Secrets) { s.JWTSecret = LocalDevSecret }),
			[]string{"secret key jwtSecret: is the published local development secret"}},
		{"jwt previous is the local development secret", fromSecret, change(twilioToken, func(s *Secrets) { s.JWTSecretPrevious = LocalDevSecret }),
			[]string{"secret key jwtSecretPrevious: is the published local development secret"}},
		{"jwt secret not needed with JWKS", Config{Provider: ProviderTwilio, SecretID: "x", JWTJWKSURL: "https://issuer.example/jwks"},
			change(twilioToken, func(s *Secrets) { s.JWTSecret = "" }), nil},
		{"console provider needs only the jwt secret", Config{}, Secrets{JWTSecret: testJWTSecret}, nil},
		{"log key", fromSecret, change(twilioToken, func(s *Secrets) { s.LogKey = "0123456789abcdef" }), nil},
		{"log key short", fromSecret, change(twilioToken, func(s *Secrets) { s.LogKey = "short" }),
			[]string{"secret key logKey: must be at least 16 bytes"}},
		{"log key with a newline", fromSecret, change(twilioToken, func(s *Secrets) { s.LogKey = "0123456789abcdef\n" }),
			[]string{"secret key logKey: has leading or trailing whitespace"}},
		{"trailing newline", fromSecret, change(twilioToken, func(s *Secrets) { s.Twilio.AuthToken += "\n" }),
			[]string{"secret key authToken: has leading or trailing whitespace"}},
		{"env names without a secret id", Config{Provider: ProviderTwilio}, Secrets{},
			[]string{"config: TWILIO_ACCOUNT_SID: required", "config: TWILIO_AUTH_TOKEN: required (or TWILIO_API_KEY_SID with TWILIO_API_KEY_SECRET)", "config: JWT_SECRET: required"}},
		{"env names for vonage", Config{Provider: ProviderVonage, JWTJWKSURL: "https://issuer.example/jwks"}, Secrets{},
			[]string{"config: VONAGE_API_KEY: required", "config: VONAGE_API_SECRET: required"}},
		{"vonage receipt keys", Config{Provider: ProviderVonage, SecretID: "x"},
			change(vonage, func(s *Secrets) {
				s.Vonage.SignatureSecret, s.Vonage.SignatureMethod, s.Vonage.ReceiptsToken = "sig-secret", "sha512", "tok"
			}), nil},
		{"signature method unknown", Config{Provider: ProviderVonage, SecretID: "x"},
			change(vonage, func(s *Secrets) { s.Vonage.SignatureSecret, s.Vonage.SignatureMethod = "sig-secret", "SHA256" }),
			[]string{`secret key signatureMethod: must be one of md5hash, md5, sha1, sha256, sha512, got "SHA256"`}},
		{"signature secret pasted with a newline", Config{Provider: ProviderVonage, SecretID: "x"},
			change(vonage, func(s *Secrets) { s.Vonage.SignatureSecret = "sig-secret\n" }),
			[]string{"secret key signatureSecret: has leading or trailing whitespace"}},
		{"receipts token with a space, env names", Config{Provider: ProviderVonage, JWTJWKSURL: "https://issuer.example/jwks"},
			change(vonage, func(s *Secrets) { s.Vonage.ReceiptsToken = " tok" }),
			[]string{"config: VONAGE_RECEIPTS_TOKEN: has leading or trailing whitespace"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.CheckSecrets(tt.s)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Errorf("CheckSecrets = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckSecrets = nil, want errors %q", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("CheckSecrets = %q, want it to contain %q", err, w)
				}
			}
			if got := strings.Count(err.Error(), "config: "); got != len(tt.wantErr) {
				t.Errorf("CheckSecrets reported %d problems, want %d: %q", got, len(tt.wantErr), err)
			}
			for _, v := range append(fieldsOf(tt.s), "short") {
				if len(v) > 3 && strings.Contains(err.Error(), strings.TrimSpace(v)) {
					t.Errorf("CheckSecrets error %q contains a secret value", err)
				}
			}
		})
	}
}

// TestSecretCheck: what the secret of SMS_SECRET_ID must hold depends on
// the program. The drain verifies no tokens, so it never needs jwtSecret;
// with JWT_SECRET_ID naming another secret (or a JWKS) the send function
// does not need it in the provider secret either, and the JWT secret needs
// only jwtSecret.
func TestSecretCheck(t *testing.T) {
	provider := Secrets{Twilio: TwilioCredentials{AccountSID: testAccountSID, AuthToken: testAuthToken}}
	combined := provider
	combined.JWTSecret = testJWTSecret
	jwtOnly := Secrets{JWTSecret: testJWTSecret}
	one := Config{Provider: ProviderTwilio, SecretID: "sms/credentials", JWTSecretID: "sms/credentials"}
	split := Config{Provider: ProviderTwilio, SecretID: "sms/credentials", JWTSecretID: "sms/jwt"}
	jwks := one
	jwks.JWTJWKSURL = "https://issuer.example/jwks"

	tests := []struct {
		name    string
		check   func(Secrets) error
		s       Secrets
		wantErr string // fragment; empty means valid
	}{
		{"send, one secret, complete", one.SecretCheck(ModeSend), combined, ""},
		{"send, one secret, no jwtSecret", one.SecretCheck(ModeSend), provider, "secret key jwtSecret: required"},
		{"drain, one secret, no jwtSecret", one.SecretCheck(ModeDrain), provider, ""},
		{"drain, jwtSecret short is not its concern", one.SecretCheck(ModeDrain), func() Secrets { s := provider; s.JWTSecret = "short"; return s }(), ""},
		{"drain still needs the provider", one.SecretCheck(ModeDrain), jwtOnly, "secret key accountSid: required"},
		{"send, split, provider secret without jwtSecret", split.SecretCheck(ModeSend), provider, ""},
		{"send, split, provider secret still with jwtSecret", split.SecretCheck(ModeSend), combined, ""},
		{"send, split, provider secret without provider", split.SecretCheck(ModeSend), jwtOnly, "secret key accountSid: required"},
		{"local, one secret, no jwtSecret", one.SecretCheck(ModeLocal), provider, "secret key jwtSecret: required"},
		{"send, JWKS, no jwtSecret", jwks.SecretCheck(ModeSend), provider, ""},
		{"JWT secret", split.CheckJWTSecrets, jwtOnly, ""},
		{"JWT secret without jwtSecret", split.CheckJWTSecrets, provider, "secret key jwtSecret: required"},
		{"JWT secret short", split.CheckJWTSecrets, Secrets{JWTSecret: "short"}, "secret key jwtSecret: must be at least 32 bytes"},
		{"JWT secret with a pasted newline", split.CheckJWTSecrets, Secrets{JWTSecret: testJWTSecret + "\n"}, "secret key jwtSecret: has leading or trailing whitespace"},
		{"JWT secret is the local development secret", split.CheckJWTSecrets, Secrets{JWTSecret: LocalDevSecret}, "is the published local development secret"},
		{"provider check ignores the JWT keys", split.CheckProviderSecrets, func() Secrets { s := provider; s.JWTSecret = " x"; return s }(), ""},
		// The receipts program sends nothing: it needs no provider
		// credentials, only what verifies receipts, and no JWT keys.
		{"receipts, only an auth token", one.SecretCheck(ModeReceipts), Secrets{Twilio: TwilioCredentials{AuthToken: testAuthToken}}, ""},
		{"receipts, nothing to verify with", one.SecretCheck(ModeReceipts), Secrets{}, ""},
		{"receipts, short jwtSecret is not its concern", one.SecretCheck(ModeReceipts), Secrets{JWTSecret: "short"}, ""},
		{"receipts, auth token with a newline", one.SecretCheck(ModeReceipts), Secrets{Twilio: TwilioCredentials{AuthToken: testAuthToken + "\n"}},
			"secret key authToken: has leading or trailing whitespace"},
		{"receipts, unknown signature method", one.SecretCheck(ModeReceipts), Secrets{Vonage: VonageCredentials{SignatureSecret: "s", SignatureMethod: "sha384"}},
			"secret key signatureMethod: must be one of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.check(tt.s)
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("check = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("check = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestSecretsRedacted(t *testing.T) {
	s := fullSecrets
	wrapper := struct {
		Name    string
		Secrets Secrets
		Ptr     *Secrets
	}{"cfg", s, &s}
	var logBuf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logBuf, nil))
	logger.Info("loaded", "secrets", s, "twilio", s.Twilio, "vonage", s.Vonage, "ptr", &s)
	jsonOut, err := json.Marshal(wrapper)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}

	outputs := map[string]string{
		"String":       s.String(),
		"%v":           fmt.Sprintf("%v", s),
		"%+v":          fmt.Sprintf("%+v", s),
		"%#v":          fmt.Sprintf("%#v", s),
		"%s":           fmt.Sprintf("%s", s),
		"%q":           fmt.Sprintf("%q", s),
		"%x":           fmt.Sprintf("%x", s),
		"%d":           fmt.Sprintf("%d", s),
		"pointer %v":   fmt.Sprintf("%v", &s),
		"twilio %+v":   fmt.Sprintf("%+v", s.Twilio),
		"twilio %#v":   fmt.Sprintf("%#v", s.Twilio),
		"vonage %v":    fmt.Sprintf("%v", s.Vonage),
		"vonage %d":    fmt.Sprintf("%d", s.Vonage),
		"wrapper %+v":  fmt.Sprintf("%+v", wrapper),
		"wrapper %#v":  fmt.Sprintf("%#v", wrapper),
		"Sprint":       fmt.Sprint(s, s.Twilio),
		"slog JSON":    logBuf.String(),
		"json.Marshal": string(jsonOut),
	}
	for name, out := range outputs {
		if !strings.Contains(out, redacted) {
			t.Errorf("%s = %q, want it to show %q", name, out, redacted)
		}
		for _, v := range secretValues() {
			if strings.Contains(out, v) {
				t.Errorf("%s = %q, leaks a secret value", name, out)
				break
			}
		}
	}
}

func TestJWTSecrets(t *testing.T) {
	got := fullSecrets.JWTSecrets()
	if len(got) != 2 || string(got[0]) != fullSecrets.JWTSecret || string(got[1]) != fullSecrets.JWTSecretPrevious {
		t.Errorf("JWTSecrets = %d secrets, want current then previous", len(got))
	}
	if got := (Secrets{JWTSecret: testJWTSecret}).JWTSecrets(); len(got) != 1 {
		t.Errorf("JWTSecrets without a previous secret = %d secrets, want 1", len(got))
	}
	if got := (Secrets{}).JWTSecrets(); len(got) != 0 {
		t.Errorf("JWTSecrets of empty Secrets = %d secrets, want 0", len(got))
	}
}

func TestTwilioUsesAPIKey(t *testing.T) {
	tests := []struct {
		c    TwilioCredentials
		want bool
	}{
		{TwilioCredentials{AccountSID: testAccountSID, AuthToken: testAuthToken}, false},
		{TwilioCredentials{AccountSID: testAccountSID, APIKeySID: testAPIKeySID, APIKeySecret: "s"}, true},
		{TwilioCredentials{AccountSID: testAccountSID, AuthToken: testAuthToken, APIKeySID: testAPIKeySID, APIKeySecret: "s"}, true},
		{TwilioCredentials{AccountSID: testAccountSID, AuthToken: testAuthToken, APIKeySID: testAPIKeySID}, false},
	}
	for i, tt := range tests {
		if got := tt.c.UsesAPIKey(); got != tt.want {
			t.Errorf("case %d: UsesAPIKey = %v, want %v", i, got, tt.want)
		}
	}
}
