package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/fluxkit/sms/internal/twilio"
	"github.com/fluxkit/sms/internal/vonage"
)

// redacted is what every secret type prints, logs and marshals as.
const redacted = "[redacted]"

// minJWTSecretSize is the shortest HS256 secret accepted, in bytes (the
// same rule as auth.MinSecretSize: RFC 7518 §3.2).
const minJWTSecretSize = 32

// LocalDevSecret signs the development tokens of `make local` (`make
// token`). It is published, so CheckSecrets refuses it as a deployment's
// jwtSecret: only the local server accepts tokens signed with it.
const LocalDevSecret = "fluxkit-local-development-secret-not-for-production"

// TwilioCredentials are a Twilio account's credentials: the account SID with
// either its auth token or an API key (SID and secret).
type TwilioCredentials struct {
	AccountSID   string
	AuthToken    string
	APIKeySID    string
	APIKeySecret string
}

// UsesAPIKey reports whether the API key, rather than the auth token,
// authenticates requests: the Twilio client's rule.
func (t TwilioCredentials) UsesAPIKey() bool { return twilio.Credentials(t).UsesAPIKey() }

// VonageCredentials are a Vonage account's API key and secret, and what
// verifies its delivery receipts (docs/receipts.md): the signature secret
// and method of signed webhooks, or a token of the operator's choosing in
// the account's receipt URL.
type VonageCredentials struct {
	APIKey    string
	APISecret string
	// SignatureSecret, when set, verifies receipts by their sig, and each
	// message asks for its receipts at the receipts route (callback).
	SignatureSecret string
	// SignatureMethod is the account's signature method
	// (vonage.SignatureMethods); empty means vonage.DefaultSignatureMethod.
	SignatureMethod string
	// ReceiptsToken, without a SignatureSecret, verifies receipts by the
	// token query parameter of the receipt URL the operator set.
	ReceiptsToken string
}

// Secrets are the credentials of the secret JSON (README.md#configuration,
// docs/deploy.md#setting-the-secret). Every way of
// printing, logging or marshalling them shows "[redacted]".
type Secrets struct {
	Twilio TwilioCredentials
	Vonage VonageCredentials
	// JWTSecret signs HS256 tokens; JWTSecretPrevious is accepted too while
	// a rotation is under way.
	JWTSecret         string
	JWTSecretPrevious string
	// LogKey, optional, keys the hash that names API callers in logs
	// (logging.CallerHash); never logged itself.
	LogKey string
}

// JWTSecrets returns the HS256 secrets for verification, current first.
func (s Secrets) JWTSecrets() [][]byte {
	var out [][]byte
	for _, v := range []string{s.JWTSecret, s.JWTSecretPrevious} {
		if v != "" {
			out = append(out, []byte(v))
		}
	}
	return out
}

// The JSON keys of the secret.
const (
	KeyAccountSID        = "accountSid"
	KeyAuthToken         = "authToken"
	KeyAPIKeySID         = "apiKeySid"
	KeyAPIKeySecret      = "apiKeySecret"
	KeyAPIKey            = "apiKey"
	KeyAPISecret         = "apiSecret"
	KeyJWTSecret         = "jwtSecret"
	KeyJWTSecretPrevious = "jwtSecretPrevious"
	KeyLogKey            = "logKey"
	KeySignatureSecret   = "signatureSecret"
	KeySignatureMethod   = "signatureMethod"
	KeyReceiptsToken     = "receiptsToken"
)

// minLogKeySize is the shortest logKey accepted, in bytes: a key short
// enough to guess would let anyone check a caller's name against a
// guessed subject.
const minLogKeySize = 16

// Environment variables SecretsFromEnv reads (local runs only).
const (
	EnvTwilioAccountSID   = "TWILIO_ACCOUNT_SID"
	EnvTwilioAuthToken    = "TWILIO_AUTH_TOKEN"
	EnvTwilioAPIKeySID    = "TWILIO_API_KEY_SID"
	EnvTwilioAPIKeySecret = "TWILIO_API_KEY_SECRET"
	EnvVonageAPIKey       = "VONAGE_API_KEY"
	EnvVonageAPISecret    = "VONAGE_API_SECRET"
	EnvJWTSecret          = "JWT_SECRET"
	EnvJWTSecretPrevious  = "JWT_SECRET_PREVIOUS"
	// The Vonage receipt keys (docs/receipts.md), for a local server that
	// receives receipts.
	EnvVonageSignatureSecret = "VONAGE_SIGNATURE_SECRET"
	EnvVonageSignatureMethod = "VONAGE_SIGNATURE_METHOD"
	EnvVonageReceiptsToken   = "VONAGE_RECEIPTS_TOKEN"
)

// secretJSON is the wire shape of the secret. Unknown keys are ignored: the
// secret may hold other values.
type secretJSON struct {
	AccountSID        string `json:"accountSid"`
	AuthToken         string `json:"authToken"`
	APIKeySID         string `json:"apiKeySid"`
	APIKeySecret      string `json:"apiKeySecret"`
	APIKey            string `json:"apiKey"`
	APISecret         string `json:"apiSecret"`
	JWTSecret         string `json:"jwtSecret"`
	JWTSecretPrevious string `json:"jwtSecretPrevious"`
	LogKey            string `json:"logKey"`
	SignatureSecret   string `json:"signatureSecret"`
	SignatureMethod   string `json:"signatureMethod"`
	ReceiptsToken     string `json:"receiptsToken"`
}

// ParseSecret decodes the secret's JSON. It checks only the shape (an object
// whose known keys are strings); Config.CheckSecrets checks the content.
// Errors name the key and never contain a value.
func ParseSecret(data []byte) (Secrets, error) {
	var j secretJSON
	if err := json.Unmarshal(data, &j); err != nil {
		var typeErr *json.UnmarshalTypeError
		var syntaxErr *json.SyntaxError
		switch {
		case errors.As(err, &typeErr) && typeErr.Field != "":
			return Secrets{}, settingErr("secret key "+typeErr.Field, "must be a string")
		case errors.As(err, &typeErr):
			return Secrets{}, errors.New("config: secret: must be a JSON object")
		case errors.As(err, &syntaxErr):
			// The syntax error's text may quote a character of a value.
			return Secrets{}, fmt.Errorf("config: secret: not valid JSON (at byte %d)", syntaxErr.Offset)
		default:
			return Secrets{}, errors.New("config: secret: not valid JSON")
		}
	}
	return Secrets{
		Twilio: TwilioCredentials{
			AccountSID:   j.AccountSID,
			AuthToken:    j.AuthToken,
			APIKeySID:    j.APIKeySID,
			APIKeySecret: j.APIKeySecret,
		},
		Vonage: VonageCredentials{
			APIKey: j.APIKey, APISecret: j.APISecret,
			SignatureSecret: j.SignatureSecret, SignatureMethod: j.SignatureMethod, ReceiptsToken: j.ReceiptsToken,
		},
		JWTSecret:         j.JWTSecret,
		JWTSecretPrevious: j.JWTSecretPrevious,
		LogKey:            j.LogKey,
	}, nil
}

// SecretsFromEnv reads the credentials from the environment, for local runs
// without SMS_SECRET_ID. Config.CheckSecrets checks them.
func SecretsFromEnv(getenv func(string) string) Secrets {
	return Secrets{
		Twilio: TwilioCredentials{
			AccountSID:   getenv(EnvTwilioAccountSID),
			AuthToken:    getenv(EnvTwilioAuthToken),
			APIKeySID:    getenv(EnvTwilioAPIKeySID),
			APIKeySecret: getenv(EnvTwilioAPIKeySecret),
		},
		Vonage: VonageCredentials{
			APIKey: getenv(EnvVonageAPIKey), APISecret: getenv(EnvVonageAPISecret),
			SignatureSecret: getenv(EnvVonageSignatureSecret), SignatureMethod: getenv(EnvVonageSignatureMethod),
			ReceiptsToken: getenv(EnvVonageReceiptsToken),
		},
		JWTSecret:         getenv(EnvJWTSecret),
		JWTSecretPrevious: getenv(EnvJWTSecretPrevious),
	}
}

// secretNames maps each credential to the name errors use for it.
type secretNames struct {
	accountSID, authToken, apiKeySID, apiKeySecret, apiKey, apiSecret, jwtSecret, jwtSecretPrevious string
	signatureSecret, signatureMethod, receiptsToken                                                 string
}

var (
	jsonNames = secretNames{
		"secret key " + KeyAccountSID, "secret key " + KeyAuthToken, "secret key " + KeyAPIKeySID, "secret key " + KeyAPIKeySecret,
		"secret key " + KeyAPIKey, "secret key " + KeyAPISecret, "secret key " + KeyJWTSecret, "secret key " + KeyJWTSecretPrevious,
		"secret key " + KeySignatureSecret, "secret key " + KeySignatureMethod, "secret key " + KeyReceiptsToken,
	}
	envNames = secretNames{
		EnvTwilioAccountSID, EnvTwilioAuthToken, EnvTwilioAPIKeySID, EnvTwilioAPIKeySecret,
		EnvVonageAPIKey, EnvVonageAPISecret, EnvJWTSecret, EnvJWTSecretPrevious,
		EnvVonageSignatureSecret, EnvVonageSignatureMethod, EnvVonageReceiptsToken,
	}
)

// CheckSecrets checks s as the one secret of a program that verifies
// tokens with it: the credentials of c.Providers (none for the console
// provider) and, unless c.JWTJWKSURL is set, a jwtSecret of at least 32
// bytes (local mode, which mints its own tokens, fills it before calling).
// Errors name the secret's JSON key when c.SecretID is set and the
// environment variable otherwise; they never contain a value. All problems
// are reported together. SecretCheck says which check a program's secret
// of SMS_SECRET_ID needs.
func (c Config) CheckSecrets(s Secrets) error {
	errs := []error{c.CheckProviderSecrets(s)}
	if c.JWTJWKSURL == "" {
		errs = append(errs, c.CheckJWTSecrets(s))
	}
	return errors.Join(errs...)
}

// SecretCheck returns the check of the secret of SMS_SECRET_ID for mode:
// CheckSecrets when the program verifies HS256 tokens with that secret's
// jwtSecret, CheckProviderSecrets otherwise: for the drain, which verifies
// no tokens, with a JWKS, and when the keys are in a secret of their own
// (SplitJWTSecret; CheckJWTSecrets checks that one). The receipts program
// sends nothing and verifies no tokens: CheckReceiptSecrets.
func (c Config) SecretCheck(mode Mode) func(Secrets) error {
	if mode == ModeReceipts {
		return c.CheckReceiptSecrets
	}
	if mode == ModeDrain || c.JWTJWKSURL != "" || c.SplitJWTSecret() {
		return c.CheckProviderSecrets
	}
	return c.CheckSecrets
}

// names returns the names errors give the credentials: the secret's JSON
// keys with a secret, the environment variables without.
func (c Config) names() secretNames {
	if c.SecretID != "" {
		return jsonNames
	}
	return envNames
}

// CheckProviderSecrets checks the credentials of every provider of
// c.Providers in s (both credential sets with failover; none for the
// console provider), ignoring the JWT keys. Errors are as CheckSecrets's.
func (c Config) CheckProviderSecrets(s Secrets) error {
	n := c.names()
	var errs []error
	fail := func(name, reason string) { errs = append(errs, settingErr(name, "%s", reason)) }
	required := func(name, v string) bool {
		if v == "" {
			fail(name, "required")
			return false
		}
		return true
	}
	for _, p := range c.ProviderList() {
		c.checkCredentials(p, s, n, fail, required)
	}
	if s.LogKey != "" && len(s.LogKey) < minLogKeySize {
		fail("secret key "+KeyLogKey, fmt.Sprintf("must be at least %d bytes (a random value)", minLogKeySize))
	}
	errs = append(errs, untrimmed(
		field{"secret key " + KeyLogKey, s.LogKey},
		field{n.accountSID, s.Twilio.AccountSID}, field{n.authToken, s.Twilio.AuthToken},
		field{n.apiKeySID, s.Twilio.APIKeySID}, field{n.apiKeySecret, s.Twilio.APIKeySecret},
		field{n.apiKey, s.Vonage.APIKey}, field{n.apiSecret, s.Vonage.APISecret},
	)...)
	errs = append(errs, receiptKeyErrors(n, s)...)
	return errors.Join(errs...)
}

// checkCredentials checks provider's credentials in s, reporting each
// problem through fail; required reports a missing value.
func (c Config) checkCredentials(provider string, s Secrets, n secretNames, fail func(name, reason string), required func(name, v string) bool) {
	switch provider {
	case ProviderTwilio:
		t := s.Twilio
		if required(n.accountSID, t.AccountSID) && !isSID(t.AccountSID, "AC") {
			fail(n.accountSID, `must be "AC" followed by 32 hexadecimal digits`)
		}
		switch {
		case t.APIKeySID != "" || t.APIKeySecret != "":
			if required(n.apiKeySID, t.APIKeySID) && !isSID(t.APIKeySID, "SK") {
				fail(n.apiKeySID, `must be "SK" followed by 32 hexadecimal digits`)
			}
			required(n.apiKeySecret, t.APIKeySecret)
		case t.AuthToken == "":
			fail(n.authToken, "required (or "+n.apiKeySID+" with "+n.apiKeySecret+")")
		}
	case ProviderVonage:
		required(n.apiKey, s.Vonage.APIKey)
		required(n.apiSecret, s.Vonage.APISecret)
	}
}

// CheckReceiptSecrets checks the keys in s that verify delivery receipts
// (docs/receipts.md), whichever the provider: the Twilio auth token and
// the Vonage signature secret and method and receipts token. None of them
// is required: a provider whose receipts cannot be verified has them
// refused, which the receipts program logs at start-up. A signatureMethod,
// when given, must be one of vonage.SignatureMethods, and no key may have
// leading or trailing whitespace. Errors are as CheckSecrets's.
func (c Config) CheckReceiptSecrets(s Secrets) error {
	n := c.names()
	errs := receiptKeyErrors(n, s)
	errs = append(errs, untrimmed(field{n.authToken, s.Twilio.AuthToken})...)
	return errors.Join(errs...)
}

// receiptKeyErrors checks the Vonage receipt keys of s.
func receiptKeyErrors(n secretNames, s Secrets) []error {
	var errs []error
	if m := s.Vonage.SignatureMethod; m != "" && !vonage.ValidSignatureMethod(m) {
		// The method is not a secret: naming it helps.
		errs = append(errs, settingErr(n.signatureMethod, "must be one of %s, got %q", strings.Join(vonage.SignatureMethods, ", "), m))
	}
	return append(errs, untrimmed(
		field{n.signatureSecret, s.Vonage.SignatureSecret}, field{n.receiptsToken, s.Vonage.ReceiptsToken},
	)...)
}

// CheckJWTSecrets checks the HS256 keys in s: a jwtSecret and, when
// present, a jwtSecretPrevious of at least 32 bytes, neither of them the
// published local development secret. It ignores the provider credentials,
// so it checks the secret of JWT_SECRET_ID as well as the JWT half of a
// combined secret. Errors are as CheckSecrets's.
func (c Config) CheckJWTSecrets(s Secrets) error {
	n := c.names()
	var errs []error
	fail := func(name, reason string) { errs = append(errs, settingErr(name, "%s", reason)) }
	switch {
	case s.JWTSecret == "":
		fail(n.jwtSecret, "required")
	case len(s.JWTSecret) < minJWTSecretSize:
		fail(n.jwtSecret, fmt.Sprintf("must be at least %d bytes", minJWTSecretSize))
	}
	if s.JWTSecretPrevious != "" && len(s.JWTSecretPrevious) < minJWTSecretSize {
		fail(n.jwtSecretPrevious, fmt.Sprintf("must be at least %d bytes", minJWTSecretSize))
	}
	for _, f := range []field{{n.jwtSecret, s.JWTSecret}, {n.jwtSecretPrevious, s.JWTSecretPrevious}} {
		if f.v == LocalDevSecret {
			fail(f.name, "is the published local development secret; only make local accepts it")
		}
	}
	errs = append(errs, untrimmed(field{n.jwtSecret, s.JWTSecret}, field{n.jwtSecretPrevious, s.JWTSecretPrevious})...)
	return errors.Join(errs...)
}

// field is one credential and the name errors give it.
type field struct{ name, v string }

// untrimmed reports the fields with leading or trailing whitespace.
func untrimmed(fields ...field) []error {
	var errs []error
	for _, f := range fields {
		if f.v != strings.TrimSpace(f.v) {
			errs = append(errs, settingErr(f.name, "has leading or trailing whitespace (a pasted newline?)"))
		}
	}
	return errs
}

// isSID reports whether s is prefix followed by 32 hexadecimal digits.
func isSID(s, prefix string) bool {
	if len(s) != len(prefix)+32 || !strings.HasPrefix(s, prefix) {
		return false
	}
	for i := len(prefix); i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// String returns "[redacted]".
func (Secrets) String() string { return redacted }

// GoString returns "[redacted]".
func (Secrets) GoString() string { return redacted }

// Format prints "[redacted]" whatever the verb.
func (Secrets) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue makes slog log "[redacted]".
func (Secrets) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON encodes "[redacted]".
func (Secrets) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// String returns "[redacted]".
func (TwilioCredentials) String() string { return redacted }

// GoString returns "[redacted]".
func (TwilioCredentials) GoString() string { return redacted }

// Format prints "[redacted]" whatever the verb.
func (TwilioCredentials) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue makes slog log "[redacted]".
func (TwilioCredentials) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON encodes "[redacted]".
func (TwilioCredentials) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// String returns "[redacted]".
func (VonageCredentials) String() string { return redacted }

// GoString returns "[redacted]".
func (VonageCredentials) GoString() string { return redacted }

// Format prints "[redacted]" whatever the verb.
func (VonageCredentials) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue makes slog log "[redacted]".
func (VonageCredentials) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON encodes "[redacted]".
func (VonageCredentials) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
