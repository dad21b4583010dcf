package config

import (
	"slices"
	"strings"
)

// providersFromEnv reads SMS_PROVIDER and SMS_FROM into c, which FromEnv
// has filled with their raw values, reporting each bad value through fail.
//
// SMS_PROVIDER is one provider or an ordered, comma-separated list of
// distinct ones (failover). SMS_FROM is one sender for every provider, or
// one per provider as "name=sender" entries separated by commas, naming
// every provider of SMS_PROVIDER and no other. Each sender must be valid
// for its provider: a Messaging Service SID only for Twilio.
func providersFromEnv(c *Config, fail func(*SettingError)) {
	raw := c.Provider
	c.Provider, c.Providers = "", nil
	if raw != "" {
		for p := range strings.SplitSeq(raw, ",") {
			p = strings.TrimSpace(p)
			switch {
			case p != ProviderTwilio && p != ProviderVonage:
				fail(settingErr(EnvProvider, "must be %q, %q or a comma-separated list of both in the order they are tried (%q), got %q",
					ProviderTwilio, ProviderVonage, ProviderTwilio+","+ProviderVonage, raw))
				return
			case slices.Contains(c.Providers, p):
				fail(settingErr(EnvProvider, "names %q twice, got %q", p, raw))
				return
			}
			c.Providers = append(c.Providers, p)
		}
		c.Provider = c.Providers[0]
	}
	if c.From == "" {
		return
	}
	if !strings.Contains(c.From, "=") {
		for _, p := range c.providersOrConsole() {
			if reason := senderProblem(c.From, p); reason != "" {
				fail(settingErr(EnvFrom, "%s, got %q", reason, c.From))
				return
			}
		}
		return
	}
	raw = c.From
	c.From, c.Senders = "", map[string]string{}
	for entry := range strings.SplitSeq(raw, ",") {
		name, from, ok := strings.Cut(entry, "=")
		name, from = strings.TrimSpace(name), strings.TrimSpace(from)
		switch {
		case !ok || from == "":
			fail(settingErr(EnvFrom, `entry %q must be "provider=sender", got %q`, entry, raw))
			return
		case !slices.Contains(c.Providers, name):
			fail(settingErr(EnvFrom, "names provider %q, which %s does not list (%q), got %q", name, EnvProvider, strings.Join(c.Providers, ","), raw))
			return
		case c.Senders[name] != "":
			fail(settingErr(EnvFrom, "names provider %q twice, got %q", name, raw))
			return
		}
		if reason := senderProblem(from, name); reason != "" {
			fail(settingErr(EnvFrom, "sender for %s: %s, got %q", name, reason, raw))
			return
		}
		c.Senders[name] = from
	}
	for _, p := range c.Providers {
		if c.Senders[p] == "" {
			fail(settingErr(EnvFrom, "names no sender for %s; with one sender per provider every provider of %s needs one, got %q", p, EnvProvider, raw))
			return
		}
	}
	c.From = c.Senders[c.Provider]
}

// providersOrConsole returns the configured providers, or the console
// provider's empty name when there are none.
func (c *Config) providersOrConsole() []string {
	if len(c.Providers) == 0 {
		return []string{""}
	}
	return c.Providers
}

// ProviderList returns the providers in the order they are tried:
// Providers, or Provider alone in a Config built without the list; empty
// with the console provider.
func (c Config) ProviderList() []string {
	if len(c.Providers) == 0 && c.Provider != "" {
		return []string{c.Provider}
	}
	return c.Providers
}

// Failover reports whether several providers are configured.
func (c Config) Failover() bool { return len(c.ProviderList()) > 1 }
