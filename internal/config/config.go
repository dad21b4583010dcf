// Package config turns the environment (and, through SecretSource, the
// Secrets Manager secret) into the settings of the service, once per cold
// start. A missing or invalid setting is an error that names the variable or
// the secret's key, never a secret value.
package config

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fluxkit/sms/internal/httpclient"
	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/twilio"
	"github.com/fluxkit/sms/internal/vonage"
)

// Provider names accepted in SMS_PROVIDER.
const (
	ProviderTwilio = "twilio"
	ProviderVonage = "vonage"
)

// Environment variables read by FromEnv; README.md#configuration describes
// each.
const (
	EnvProvider         = "SMS_PROVIDER"
	EnvFrom             = "SMS_FROM"
	EnvSecretID         = "SMS_SECRET_ID"
	EnvRateLimit        = "SMS_RATE_LIMIT"
	EnvQueueEnabled     = "SMS_QUEUE_ENABLED"
	EnvRateMargin       = "SMS_RATE_MARGIN"
	EnvMaxWait          = "SMS_MAX_WAIT"
	EnvTableName        = "SMS_TABLE_NAME"
	EnvQueueURL         = "SMS_QUEUE_URL"
	EnvDLQURL           = "SMS_DLQ_URL"
	EnvAllowedSenders   = "SMS_ALLOWED_SENDERS"
	EnvJWTIssuer        = "JWT_ISSUER"
	EnvJWTAudience      = "JWT_AUDIENCE"
	EnvJWTJWKSURL       = "JWT_JWKS_URL"
	EnvJWTRequiredScope = "JWT_REQUIRED_SCOPE"
	EnvJWTReadAllScope  = "JWT_READ_ALL_SCOPE"
	EnvJWTSecretID      = "JWT_SECRET_ID"
	EnvJWTMaxLifetime   = "JWT_MAX_LIFETIME"
	EnvTwilioAPIURL     = "TWILIO_API_URL"
	EnvVonageAPIURL     = "VONAGE_API_URL"
	EnvAWSEndpointURL   = "AWS_ENDPOINT_URL"
	EnvStatusTracking   = "SMS_STATUS_TRACKING"
	EnvStatusRetention  = "SMS_STATUS_RETENTION"
	EnvMaxReceives      = "SMS_MAX_RECEIVES"
	EnvPublicURL        = "SMS_PUBLIC_URL"
	EnvEventBus         = "SMS_EVENT_BUS"
)

// Defaults and bounds.
const (
	DefaultRateLimit    = 10.0
	DefaultRateMargin   = sms.DefaultMargin
	MaxRateMargin       = 0.5 // exclusive
	DefaultMaxWait      = 250 * time.Millisecond
	MaxWaitLimit        = 5 * time.Second
	DefaultTwilioAPIURL = twilio.DefaultBaseURL
	DefaultVonageAPIURL = vonage.DefaultBaseURL
	// DefaultStatusRetention is SMS_STATUS_RETENTION's default;
	// MaxStatusRetention bounds it (ten years).
	DefaultStatusRetention = sms.DefaultStatusRetention
	MaxStatusRetention     = 87600 * time.Hour
	// DefaultMaxReceives is SMS_MAX_RECEIVES's default: the template's
	// MaxReceiveCount default. MaxMaxReceives is the template's bound.
	DefaultMaxReceives = 10
	MaxMaxReceives     = 1000
	// DefaultReadAllScope is JWT_READ_ALL_SCOPE's default.
	DefaultReadAllScope = "sms:read-all"
)

// Config holds every setting of README.md#configuration.
type Config struct {
	// Provider is the first provider of SMS_PROVIDER (ProviderTwilio or
	// ProviderVonage), or empty (local mode only: the console provider).
	Provider string
	// Providers are SMS_PROVIDER's providers in the order they are tried:
	// Provider alone, or an ordered list for failover
	// (docs/failover.md); empty with the console provider.
	Providers []string
	// From is the default sender of Provider: E.164, an alphanumeric
	// sender ID or, for Twilio, a Messaging Service SID (MG + 32 hex
	// digits). FromFor gives each provider's.
	From string
	// Senders holds each provider's default sender when SMS_FROM names one
	// per provider ("twilio=+15550001111,vonage=MyApp"); nil when one value
	// is every provider's.
	Senders map[string]string
	// SecretID is the Secrets Manager secret holding the credentials; empty
	// means they come from the environment (local runs only).
	SecretID string
	// JWTSecretID is the secret holding the HS256 signing keys
	// (JWT_SECRET_ID): SecretID unless set. Another secret than SecretID
	// (SplitJWTSecret) keeps the keys away from the programs that need only
	// the provider credentials.
	JWTSecretID string
	// RateLimit is the most provider sends per second for the deployment.
	RateLimit float64
	// QueueEnabled queues messages when no slot is free; false answers 429.
	QueueEnabled bool
	// RateMargin is the fraction of each slot kept free to absorb jitter.
	RateMargin float64
	// MaxWait is how long a direct send may wait for a near rate slot before
	// it is queued instead (SMS_MAX_WAIT, a Go duration such as "250ms").
	MaxWait time.Duration
	// TableName is the DynamoDB table of the limiter and idempotency store.
	TableName string
	// QueueURL and DLQURL are the SQS queue and its dead-letter queue.
	QueueURL, DLQURL string
	// AllowedSenders are the "from" values a message may name besides From
	// (SMS_ALLOWED_SENDERS); sms.AnySender alone allows any. Empty: only
	// From.
	AllowedSenders []string
	// AllowedCountries, when not empty, are the only regions (ISO 3166-1
	// alpha-2, upper case) messages may go to (SMS_ALLOWED_COUNTRIES).
	AllowedCountries []string
	// BlockedNumberTypes are libphonenumber number types never sent to
	// (SMS_BLOCKED_NUMBER_TYPES; sms.DefaultBlockedNumberTypes unless set).
	BlockedNumberTypes []string
	// BlockNonGeographic refuses numbers of non-geographic country codes;
	// SMS_BLOCKED_NUMBER_TYPES=none lifts it with the type rules.
	BlockNonGeographic bool
	// SmartEncoding replaces look-alike characters by GSM-7 ones when that
	// makes a body GSM-7 (SMS_SMART_ENCODING, default true).
	SmartEncoding bool
	// JWTIssuer and JWTAudience, when set, are the required iss and aud.
	JWTIssuer, JWTAudience string
	// JWTJWKSURL selects RS256/ES256 tokens verified with that JWKS; empty
	// means HS256 with the secret's jwtSecret.
	JWTJWKSURL string
	// JWTRequiredScope, when set, must be among the token's scopes.
	JWTRequiredScope string
	// JWTReadAllScope is the scope that lets a token read the status of
	// every message, not only its own (JWT_READ_ALL_SCOPE, default
	// DefaultReadAllScope; "off" for none).
	JWTReadAllScope string
	// JWTMaxLifetime, when positive, is the longest token lifetime accepted
	// (JWT_MAX_LIFETIME: a Go duration, or "off", the default, for none).
	JWTMaxLifetime time.Duration
	// TwilioAPIURL and VonageAPIURL are the providers' base URLs, without a
	// trailing slash.
	TwilioAPIURL, VonageAPIURL string
	// AWSEndpointURL mirrors AWS_ENDPOINT_URL, which the AWS SDK reads by
	// itself; it is kept so that local mode can tell an emulator is meant.
	AWSEndpointURL string
	// StatusTracking keeps a status record for every message
	// (SMS_STATUS_TRACKING, default true); false keeps none and costs
	// nothing.
	StatusTracking bool
	// StatusRetention is how long a status record is kept after its last
	// change (SMS_STATUS_RETENTION, a Go duration, default 720h).
	StatusRetention time.Duration
	// MaxReceives is the queue's redrive limit, its maxReceiveCount
	// (SMS_MAX_RECEIVES, default 10): on a record's last receive the drain
	// knows a failure hands the message to the dead-letter queue.
	MaxReceives int
	// RecipientLimit bounds the messages to one number per window
	// (SMS_RECIPIENT_LIMIT, default 5/10m); the zero Limit is off.
	RecipientLimit sms.Limit
	// CallerLimit bounds the messages of one API caller per window
	// (SMS_CALLER_LIMIT, default off).
	CallerLimit sms.Limit
	// DailySegmentLimit is the most segments the deployment sends per UTC
	// day (SMS_DAILY_SEGMENT_LIMIT, default 10000); zero is off.
	DailySegmentLimit int64
	// RateUnit is what SMS_RATE_LIMIT counts (SMS_RATE_UNIT): messages
	// (default) or segments.
	RateUnit sms.RateUnit
	// JWTAdminScope is the scope that may change the suppression list and
	// cancel any caller's message (JWT_ADMIN_SCOPE, default
	// DefaultJWTAdminScope; "off", empty here, for none).
	JWTAdminScope string
	// PublicURL is the API's public base URL (SMS_PUBLIC_URL: https, or
	// http on a loopback host; no trailing slash, query or fragment). With
	// it providers are asked for delivery receipts at its receipt routes,
	// and the receipts program verifies Twilio's signatures against it.
	PublicURL string
	// EventBus is the EventBridge bus (a name or an ARN) the publisher
	// puts status events on (SMS_EVENT_BUS); empty means no events.
	EventBus string
	// ScheduleGroup, ScheduleRoleARN and QueueARN are the EventBridge
	// Scheduler group of scheduled messages, the role Scheduler assumes to
	// send to the queue, and the queue's ARN, the schedules' target
	// (SMS_SCHEDULE_GROUP, SMS_SCHEDULE_ROLE_ARN, SMS_QUEUE_ARN): all set,
	// or none (no send time beyond 15 minutes; see Schedules).
	ScheduleGroup, ScheduleRoleARN, QueueARN string
}

// SettingError reports one missing or invalid setting. Setting names the
// environment variable or the secret's JSON key; Reason never contains a
// secret value.
type SettingError struct {
	Setting string
	Reason  string
}

// Error implements error.
func (e *SettingError) Error() string { return "config: " + e.Setting + ": " + e.Reason }

// settingErr builds a *SettingError.
func settingErr(setting, format string, args ...any) *SettingError {
	return &SettingError{Setting: setting, Reason: fmt.Sprintf(format, args...)}
}

// Mode says which program the configuration is for; each requires
// different settings (see Validate).
type Mode int

// The programs that load a configuration.
const (
	// ModeSend is the send Lambda.
	ModeSend Mode = iota
	// ModeDrain is the drain Lambda.
	ModeDrain
	// ModeLocal is the local development runner.
	ModeLocal
	// ModeReceipts is the receipts Lambda: provider status callbacks and
	// delivery receipts.
	ModeReceipts
	// ModePublisher is the status event publisher Lambda.
	ModePublisher
)

// String returns the mode's name.
func (m Mode) String() string {
	switch m {
	case ModeSend:
		return "send"
	case ModeDrain:
		return "drain"
	case ModeLocal:
		return "local"
	case ModeReceipts:
		return "receipts"
	case ModePublisher:
		return "publisher"
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// Load reads the configuration with FromEnv and checks it for mode with
// Validate.
func Load(getenv func(string) string, mode Mode) (Config, error) {
	c, err := FromEnv(getenv)
	if err != nil {
		return Config{}, err
	}
	if err := c.Validate(mode); err != nil {
		return Config{}, err
	}
	return c, nil
}

// FromEnv reads every setting through getenv (os.Getenv in production),
// applies the defaults and checks the format of each value that is set.
// Whether a setting is required depends on the program: see Validate. All
// problems are reported together, each as a *SettingError naming its
// variable.
func FromEnv(getenv func(string) string) (Config, error) {
	get := func(name string) string { return strings.TrimSpace(getenv(name)) }
	c := Config{
		Provider:         get(EnvProvider),
		From:             get(EnvFrom),
		SecretID:         get(EnvSecretID),
		JWTSecretID:      get(EnvJWTSecretID),
		RateLimit:        DefaultRateLimit,
		QueueEnabled:     true,
		RateMargin:       DefaultRateMargin,
		MaxWait:          DefaultMaxWait,
		TableName:        get(EnvTableName),
		JWTIssuer:        get(EnvJWTIssuer),
		JWTAudience:      get(EnvJWTAudience),
		JWTRequiredScope: get(EnvJWTRequiredScope),
		JWTReadAllScope:  DefaultReadAllScope,
		TwilioAPIURL:     DefaultTwilioAPIURL,
		VonageAPIURL:     DefaultVonageAPIURL,
		StatusTracking:   true,
		StatusRetention:  DefaultStatusRetention,
		MaxReceives:      DefaultMaxReceives,
	}
	if c.JWTSecretID == "" {
		c.JWTSecretID = c.SecretID
	}
	var errs []error
	fail := func(err *SettingError) { errs = append(errs, err) }

	providersFromEnv(&c, fail)
	if v := get(EnvRateLimit); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 {
			fail(settingErr(EnvRateLimit, "must be a number > 0, got %q", v))
		} else {
			c.RateLimit = f
		}
	}
	if v := get(EnvQueueEnabled); v != "" {
		switch strings.ToLower(v) {
		case "true":
			c.QueueEnabled = true
		case "false":
			c.QueueEnabled = false
		default:
			fail(settingErr(EnvQueueEnabled, `must be "true" or "false", got %q`, v))
		}
	}
	if v := get(EnvRateMargin); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || f < 0 || f >= MaxRateMargin {
			fail(settingErr(EnvRateMargin, "must be a number in [0, %g), got %q", MaxRateMargin, v))
		} else {
			c.RateMargin = f
		}
	}
	if v := get(EnvMaxWait); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > MaxWaitLimit {
			fail(settingErr(EnvMaxWait, "must be a duration between 0s and %v such as \"250ms\", got %q", MaxWaitLimit, v))
		} else {
			c.MaxWait = d
		}
	}
	if c.TableName != "" {
		if reason := tableNameProblem(c.TableName); reason != "" {
			fail(settingErr(EnvTableName, "%s, got %q", reason, c.TableName))
		}
	}
	for _, u := range []struct {
		name   string
		dst    *string
		strict bool // https only, except on loopback hosts
	}{
		{EnvQueueURL, &c.QueueURL, false},
		{EnvDLQURL, &c.DLQURL, false},
		{EnvJWTJWKSURL, &c.JWTJWKSURL, true},
		{EnvTwilioAPIURL, &c.TwilioAPIURL, false},
		{EnvVonageAPIURL, &c.VonageAPIURL, false},
		{EnvAWSEndpointURL, &c.AWSEndpointURL, false},
		{EnvPublicURL, &c.PublicURL, true},
	} {
		v := get(u.name)
		if v == "" {
			continue
		}
		norm, reason := urlProblem(v, u.strict)
		switch {
		case reason == reasonURLCredentials:
			fail(settingErr(u.name, "%s", reason)) // the value is not echoed
			continue
		case reason != "":
			fail(settingErr(u.name, "%s, got %q", reason, v))
			continue
		}
		if u.name == EnvPublicURL {
			if pu, _ := url.Parse(norm); pu.RawQuery != "" || pu.ForceQuery || pu.Fragment != "" {
				fail(settingErr(u.name, "must be a base URL without a query or fragment, got %q", v))
				continue
			}
		}
		*u.dst = norm
	}
	guardFromEnv(get, &c, fail)
	quotaFromEnv(get, &c, fail)
	scheduleFromEnv(get, &c, fail)
	if v := get(EnvJWTMaxLifetime); v != "" && !strings.EqualFold(v, "off") {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			fail(settingErr(EnvJWTMaxLifetime, `must be a duration > 0 such as "24h", or "off", got %q`, v))
		} else {
			c.JWTMaxLifetime = d
		}
	}
	if v := get(EnvStatusTracking); v != "" {
		switch strings.ToLower(v) {
		case "true":
			c.StatusTracking = true
		case "false":
			c.StatusTracking = false
		default:
			fail(settingErr(EnvStatusTracking, `must be "true" or "false", got %q`, v))
		}
	}
	if v := get(EnvStatusRetention); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Hour || d > MaxStatusRetention {
			fail(settingErr(EnvStatusRetention, `must be a duration between 1h and 87600h (ten years) such as "720h", got %q`, v))
		} else {
			c.StatusRetention = d
		}
	}
	if v := get(EnvMaxReceives); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxMaxReceives {
			fail(settingErr(EnvMaxReceives, "must be a whole number from 1 to %d (the queue's maxReceiveCount), got %q", MaxMaxReceives, v))
		} else {
			c.MaxReceives = n
		}
	}
	if c.EventBus = get(EnvEventBus); c.EventBus != "" {
		if reason := eventBusProblem(c.EventBus); reason != "" {
			fail(settingErr(EnvEventBus, "%s, got %q", reason, c.EventBus))
		}
	}
	if strings.ContainsAny(c.JWTRequiredScope, " \t") {
		fail(settingErr(EnvJWTRequiredScope, "must be a single scope without spaces, got %q", c.JWTRequiredScope))
	}
	switch v := get(EnvJWTReadAllScope); {
	case v == "":
	case strings.EqualFold(v, "off"):
		c.JWTReadAllScope = ""
	case strings.ContainsAny(v, " \t"):
		fail(settingErr(EnvJWTReadAllScope, `must be a single scope without spaces, or "off", got %q`, v))
	default:
		c.JWTReadAllScope = v
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return c, nil
}

// FromFor returns provider's default sender: its own when SMS_FROM names
// one per provider, else the one value of SMS_FROM.
func (c Config) FromFor(provider string) string {
	if f, ok := c.Senders[provider]; ok {
		return f
	}
	return c.From
}

// DefaultSenders returns the distinct default senders of the configured
// providers, the first provider's first.
func (c Config) DefaultSenders() []string {
	var out []string
	if c.From != "" {
		out = append(out, c.From)
	}
	for _, p := range c.ProviderList() {
		if f := c.FromFor(p); f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// SplitJWTSecret reports whether the JWT signing keys are in another
// secret than the provider credentials (JWT_SECRET_ID set to another
// secret than SMS_SECRET_ID).
func (c Config) SplitJWTSecret() bool { return c.JWTSecretID != c.SecretID }

// Validate checks that the settings mode needs are present:
//   - ModeSend: SMS_PROVIDER, SMS_FROM, SMS_SECRET_ID, SMS_TABLE_NAME, and
//     SMS_QUEUE_URL unless SMS_QUEUE_ENABLED=false.
//   - ModeDrain: SMS_PROVIDER, SMS_FROM, SMS_SECRET_ID, SMS_TABLE_NAME,
//     SMS_QUEUE_URL (to extend a record's visibility) and SMS_DLQ_URL.
//   - ModeLocal: nothing, except SMS_FROM when SMS_PROVIDER names a real
//     provider; an empty SMS_PROVIDER means the console provider.
//   - ModeReceipts: SMS_SECRET_ID (the keys that verify receipts),
//     SMS_TABLE_NAME and SMS_PUBLIC_URL (Twilio signs the URL it calls).
//   - ModePublisher: SMS_EVENT_BUS, and nothing else: it reads neither the
//     table (its events come from the table's stream) nor the secret.
//
// The programs that verify tokens (send, local) also need JWT_ISSUER and
// JWT_AUDIENCE when JWT_JWKS_URL is set: an identity provider signs the
// tokens of every application it serves with the same keys. The drain and
// the receipts program verify no tokens and ignore them. JWT_SECRET_ID
// needs SMS_SECRET_ID.
func (c Config) Validate(mode Mode) error {
	var required []string
	switch mode {
	case ModeSend:
		required = []string{EnvProvider, EnvFrom, EnvSecretID, EnvTableName}
		if c.QueueEnabled {
			required = append(required, EnvQueueURL)
		}
	case ModeDrain:
		required = []string{EnvProvider, EnvFrom, EnvSecretID, EnvTableName, EnvQueueURL, EnvDLQURL}
	case ModeLocal:
		if c.Provider != "" {
			required = []string{EnvFrom}
		}
	case ModeReceipts:
		required = []string{EnvSecretID, EnvTableName, EnvPublicURL}
	case ModePublisher:
		required = []string{EnvEventBus}
	default:
		return fmt.Errorf("config: unknown mode %v", mode)
	}
	values := map[string]string{
		EnvProvider:  c.Provider,
		EnvFrom:      c.From,
		EnvSecretID:  c.SecretID,
		EnvTableName: c.TableName,
		EnvQueueURL:  c.QueueURL,
		EnvDLQURL:    c.DLQURL,
		EnvPublicURL: c.PublicURL,
		EnvEventBus:  c.EventBus,
	}
	var errs []error
	for _, name := range required {
		if values[name] == "" {
			errs = append(errs, settingErr(name, "required by the %s program", mode))
		}
	}
	if mode.verifiesTokens() && c.JWTJWKSURL != "" {
		for _, s := range []struct{ name, v string }{{EnvJWTIssuer, c.JWTIssuer}, {EnvJWTAudience, c.JWTAudience}} {
			if s.v == "" {
				errs = append(errs, settingErr(s.name, "required when %s is set: the identity provider's keys sign other applications' tokens too", EnvJWTJWKSURL))
			}
		}
	}
	if c.SecretID == "" && c.JWTSecretID != "" {
		errs = append(errs, settingErr(EnvJWTSecretID, "needs %s (without it the credentials and %s come from the environment)", EnvSecretID, EnvJWTSecret))
	}
	return errors.Join(errs...)
}

// verifiesTokens reports whether the program of mode verifies bearer
// tokens: the send function and the local server.
func (m Mode) verifiesTokens() bool { return m == ModeSend || m == ModeLocal }

// senderProblem says why from cannot be the default sender for provider,
// or returns "".
func senderProblem(from, provider string) string {
	if provider == ProviderVonage {
		if sms.IsMessagingServiceSID(from) {
			return "a Messaging Service SID is only for SMS_PROVIDER=twilio"
		}
		if err := sms.ValidateFrom(from); err != nil {
			return reasonOf(err)
		}
		return ""
	}
	if err := sms.ValidateDefaultSender(from); err != nil {
		return reasonOf(err)
	}
	return ""
}

// reasonOf returns the client message of a validation error without the
// leading field name.
func reasonOf(err error) string {
	var e *sms.Error
	if errors.As(err, &e) {
		return strings.TrimPrefix(e.Message, e.Field+" ")
	}
	return err.Error()
}

// tableNameProblem applies DynamoDB's table name rules: 3-255 characters of
// a-z, A-Z, 0-9, '_', '-' and '.'.
func tableNameProblem(name string) string {
	if len(name) < 3 || len(name) > 255 {
		return "must be 3 to 255 characters"
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return "must contain only a-z, A-Z, 0-9, '_', '-' and '.'"
		}
	}
	return ""
}

// reasonURLCredentials rejects a URL with user info, which is never echoed.
const reasonURLCredentials = "must not contain credentials"

// urlProblem checks that v is an absolute http(s) URL (https only, except
// on loopback hosts, when strict) and returns it without a trailing slash.
func urlProblem(v string, strict bool) (string, string) {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", "must be an absolute http or https URL"
	}
	if u.User != nil {
		return "", reasonURLCredentials
	}
	if strict && u.Scheme != "https" && !httpclient.IsLoopback(u.Hostname()) {
		return "", "must be an https URL (http only on a loopback host)"
	}
	return strings.TrimRight(v, "/"), ""
}
