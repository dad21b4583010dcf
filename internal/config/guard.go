package config

import (
	"slices"
	"strings"

	"github.com/fluxkit/sms/internal/sms"
)

// Environment variables of the destination and sender rules
// (README.md#configuration); SMS_ALLOWED_SENDERS is EnvAllowedSenders.
const (
	EnvAllowedCountries   = "SMS_ALLOWED_COUNTRIES"
	EnvBlockedNumberTypes = "SMS_BLOCKED_NUMBER_TYPES"
	EnvSmartEncoding      = "SMS_SMART_ENCODING"
)

// NoBlockedNumberTypes in SMS_BLOCKED_NUMBER_TYPES lifts every number type
// rule and the non-geographic one.
const NoBlockedNumberTypes = "none"

// guardFromEnv reads the sender and destination rules and smart encoding
// into c, reporting each bad value through fail. Unset, they are the
// defaults: only SMS_FROM as sender, every country,
// sms.DefaultBlockedNumberTypes and non-geographic codes blocked, smart
// encoding on.
func guardFromEnv(get func(string) string, c *Config, fail func(*SettingError)) {
	c.BlockedNumberTypes = slices.Clone(sms.DefaultBlockedNumberTypes)
	c.BlockNonGeographic = true
	c.SmartEncoding = true

	if v := get(EnvAllowedSenders); v != "" {
		c.AllowedSenders = allowedSenders(v, fail)
	}
	if v := get(EnvAllowedCountries); v != "" {
		for _, code := range list(v) {
			code = strings.ToUpper(code)
			if !sms.IsRegion(code) {
				fail(settingErr(EnvAllowedCountries, "entry %q is not an ISO 3166-1 alpha-2 region code with phone numbers (such as US, GB, DE)", code))
				continue
			}
			if !slices.Contains(c.AllowedCountries, code) {
				c.AllowedCountries = append(c.AllowedCountries, code)
			}
		}
	}
	if v := get(EnvBlockedNumberTypes); v != "" {
		c.BlockedNumberTypes = blockedNumberTypes(v, fail)
		c.BlockNonGeographic = !strings.EqualFold(v, NoBlockedNumberTypes)
	}
	if v := get(EnvSmartEncoding); v != "" {
		switch strings.ToLower(v) {
		case "true":
			c.SmartEncoding = true
		case "false":
			c.SmartEncoding = false
		default:
			fail(settingErr(EnvSmartEncoding, `must be "true" or "false", got %q`, v))
		}
	}
}

// allowedSenders parses SMS_ALLOWED_SENDERS: "*" alone, or sender values
// as a request's "from" may be.
func allowedSenders(v string, fail func(*SettingError)) []string {
	entries := list(v)
	if slices.Contains(entries, sms.AnySender) {
		if len(entries) > 1 {
			fail(settingErr(EnvAllowedSenders, "%q allows any sender and cannot be combined with other entries", sms.AnySender))
			return nil
		}
		return []string{sms.AnySender}
	}
	var out []string
	for _, s := range entries {
		if err := sms.ValidateFrom(s); err != nil {
			fail(settingErr(EnvAllowedSenders, "entry %q %s", s, reasonOf(err)))
			continue
		}
		out = append(out, s)
	}
	return out
}

// blockedNumberTypes parses SMS_BLOCKED_NUMBER_TYPES: "none", or
// libphonenumber number type names in any case.
func blockedNumberTypes(v string, fail func(*SettingError)) []string {
	if strings.EqualFold(v, NoBlockedNumberTypes) {
		return nil
	}
	var out []string
	for _, name := range list(v) {
		name = strings.ToUpper(name)
		switch {
		case name == strings.ToUpper(NoBlockedNumberTypes):
			fail(settingErr(EnvBlockedNumberTypes, "%q lifts every type rule and cannot be combined with types", NoBlockedNumberTypes))
		case !sms.IsNumberType(name):
			fail(settingErr(EnvBlockedNumberTypes, "entry %q is not a libphonenumber number type (PREMIUM_RATE, SHARED_COST, UAN, PERSONAL_NUMBER, VOICEMAIL, PAGER, TOLL_FREE, VOIP, FIXED_LINE, MOBILE, FIXED_LINE_OR_MOBILE)", name))
		case !slices.Contains(out, name):
			out = append(out, name)
		}
	}
	return out
}

// list splits a comma-separated setting into its trimmed, non-empty,
// distinct entries, in order.
func list(v string) []string {
	var out []string
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
