package deploytest

import (
	"regexp"
	"slices"
	"testing"

	"github.com/fluxkit/sms/internal/config"
)

// TestProviderParameters: Provider offers one provider or both in either
// order (failover), and Sender accepts exactly the SMS_FROM values the
// functions accept for some Provider value — one sender, or one per
// provider — so that the template refuses at deploy time what would stop
// every cold start.
func TestProviderParameters(t *testing.T) {
	_, cfn := loadTemplate(t)
	providers := asStrings(at(cfn, "Parameters", "Provider", "AllowedValues"))
	want := []string{"twilio", "vonage", "twilio,vonage", "vonage,twilio"}
	if !slices.Equal(providers, want) {
		t.Fatalf("Provider AllowedValues = %q, want %q", providers, want)
	}
	for _, p := range providers {
		c, err := config.FromEnv(func(k string) string { return map[string]string{config.EnvProvider: p}[k] })
		if err != nil || c.Provider == "" {
			t.Errorf("Provider %q: the functions refuse it: %v", p, err)
		}
	}
	pattern, _ := at(cfn, "Parameters", "Sender", "AllowedPattern").(string)
	re, err := regexp.Compile(pattern)
	if err != nil || pattern == "" {
		t.Fatalf("Sender AllowedPattern %q: %v", pattern, err)
	}
	accepted := []string{
		"+15005550006", "MyApp", "My App", "MG0123456789abcdef0123456789abcdef",
		"twilio=+15005550006,vonage=MyApp", "vonage=MyApp,twilio=MG0123456789abcdef0123456789abcdef",
		"twilio=+15005550006", "vonage=My App",
	}
	refused := []string{
		"", "+1", "MyVeryLongSenderID", "my_app", "twilio=", "twilio=+15005550006,", "sinch=MyApp",
		"twilio=+15005550006,vonage=MyApp,twilio=X", "twilio:+15005550006", "twilio=+15005550006;vonage=MyApp",
	}
	for _, v := range accepted {
		if !fullMatch(re, v) {
			t.Errorf("Sender AllowedPattern refuses %q, want it accepted", v)
		}
		if !acceptedForSomeProvider(providers, v) {
			t.Errorf("the functions refuse SMS_FROM=%q with every Provider value, yet the template accepts it", v)
		}
	}
	for _, v := range refused {
		if fullMatch(re, v) {
			t.Errorf("Sender AllowedPattern accepts %q, want it refused", v)
		}
		if v != "" && acceptedForSomeProvider(providers, v) {
			t.Errorf("the functions accept SMS_FROM=%q, yet the template refuses it", v)
		}
	}
}

// acceptedForSomeProvider reports whether config accepts SMS_FROM=from
// with one of providers.
func acceptedForSomeProvider(providers []string, from string) bool {
	for _, p := range providers {
		env := map[string]string{config.EnvProvider: p, config.EnvFrom: from}
		if _, err := config.FromEnv(func(k string) string { return env[k] }); err == nil {
			return true
		}
	}
	return false
}
