package config

import (
	"strconv"
	"strings"
	"time"

	"github.com/fluxkit/sms/internal/sms"
)

// Environment variables of the quotas, the rate unit and the suppression
// list's scope (README.md#configuration).
const (
	EnvRecipientLimit    = "SMS_RECIPIENT_LIMIT"
	EnvCallerLimit       = "SMS_CALLER_LIMIT"
	EnvDailySegmentLimit = "SMS_DAILY_SEGMENT_LIMIT"
	EnvRateUnit          = "SMS_RATE_UNIT"
	EnvJWTAdminScope     = "JWT_ADMIN_SCOPE"
)

// Defaults and bounds of the quotas.
const (
	// DefaultDailySegmentLimit is SMS_DAILY_SEGMENT_LIMIT's default.
	DefaultDailySegmentLimit = 10000
	// MaxDailySegmentLimit bounds it (a trillion segments).
	MaxDailySegmentLimit = 1_000_000_000_000
	// MaxRecipientCount bounds SMS_RECIPIENT_LIMIT's count: a number's item
	// keeps the ids of two windows, one write unit up to 25 a window.
	MaxRecipientCount = 100
	// MaxCallerCount bounds SMS_CALLER_LIMIT's count.
	MaxCallerCount = 1_000_000_000
	// MaxLimitWindow bounds the window of either limit.
	MaxLimitWindow = 7 * 24 * time.Hour
	// DefaultJWTAdminScope is JWT_ADMIN_SCOPE's default.
	DefaultJWTAdminScope = "sms:admin"
	// Off turns a limit or the budget off.
	Off = "off"
	// RateUnitMessages and RateUnitSegments are SMS_RATE_UNIT's values.
	RateUnitMessages = "messages"
	RateUnitSegments = "segments"
)

// DefaultRecipientLimit is SMS_RECIPIENT_LIMIT's default: 5 messages to a
// number per 10 minutes.
var DefaultRecipientLimit = sms.Limit{Count: 5, Window: 10 * time.Minute}

// quotaFromEnv reads the recipient and caller limits, the daily segment
// budget, the rate unit and the admin scope into c, reporting each bad
// value through fail.
func quotaFromEnv(get func(string) string, c *Config, fail func(*SettingError)) {
	c.RecipientLimit = DefaultRecipientLimit
	c.DailySegmentLimit = DefaultDailySegmentLimit
	c.JWTAdminScope = DefaultJWTAdminScope
	if v := get(EnvRecipientLimit); v != "" {
		c.RecipientLimit = parseLimit(EnvRecipientLimit, v, MaxRecipientCount, fail)
	}
	if v := get(EnvCallerLimit); v != "" {
		c.CallerLimit = parseLimit(EnvCallerLimit, v, MaxCallerCount, fail)
	}
	if v := get(EnvDailySegmentLimit); v != "" {
		if strings.EqualFold(v, Off) {
			c.DailySegmentLimit = 0
		} else if n, err := strconv.ParseInt(v, 10, 64); err != nil || n < 1 || n > MaxDailySegmentLimit {
			fail(settingErr(EnvDailySegmentLimit, `must be a whole number of segments from 1 to %d, or "off", got %q`, int64(MaxDailySegmentLimit), v))
		} else {
			c.DailySegmentLimit = n
		}
	}
	switch v := strings.ToLower(get(EnvRateUnit)); v {
	case "", RateUnitMessages:
		c.RateUnit = sms.UnitMessages
	case RateUnitSegments:
		c.RateUnit = sms.UnitSegments
	default:
		fail(settingErr(EnvRateUnit, "must be %q or %q, got %q", RateUnitMessages, RateUnitSegments, v))
	}
	switch v := get(EnvJWTAdminScope); {
	case v == "":
	case strings.EqualFold(v, Off):
		// No token is an admin: nobody changes the suppression list or
		// cancels another caller's message.
		c.JWTAdminScope = ""
	case strings.ContainsAny(v, " \t"):
		fail(settingErr(EnvJWTAdminScope, `must be a single scope without spaces, or "off", got %q`, v))
	default:
		c.JWTAdminScope = v
	}
}

// parseLimit reads a limit setting: "off", or "<count>/<duration>" with a
// count from 1 to most and a Go duration of whole seconds from 1s to
// MaxLimitWindow ("5/10m", "10000/24h").
func parseLimit(name, v string, most int, fail func(*SettingError)) sms.Limit {
	if strings.EqualFold(v, Off) {
		return sms.Limit{}
	}
	count, window, ok := strings.Cut(v, "/")
	n, err := strconv.Atoi(strings.TrimSpace(count))
	d, derr := time.ParseDuration(strings.TrimSpace(window))
	if !ok || err != nil || derr != nil || n < 1 || n > most || d < time.Second || d > MaxLimitWindow || d%time.Second != 0 {
		fail(settingErr(name, `must be "<count>/<duration>" with a count from 1 to %d and a duration of whole seconds from 1s to %v (such as "5/10m" or "10000/24h"), or "off", got %q`, most, MaxLimitWindow, v))
		return sms.Limit{}
	}
	return sms.Limit{Count: n, Window: d}
}
