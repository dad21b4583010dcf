package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/fluxkit/sms/internal/sms"
)

func TestFromEnvGuard(t *testing.T) {
	tests := []struct {
		name          string
		vars          map[string]string
		senders       []string
		countries     []string
		types         []string
		nonGeographic bool
		smartEncoding bool
	}{
		{name: "defaults", types: sms.DefaultBlockedNumberTypes, nonGeographic: true, smartEncoding: true},
		{name: "any sender", vars: map[string]string{EnvAllowedSenders: " * "}, senders: []string{"*"}, types: sms.DefaultBlockedNumberTypes, nonGeographic: true, smartEncoding: true},
		{name: "senders", vars: map[string]string{EnvAllowedSenders: "Alerts, +14155550100"}, senders: []string{"Alerts", "+14155550100"}, types: sms.DefaultBlockedNumberTypes, nonGeographic: true, smartEncoding: true},
		{name: "countries", vars: map[string]string{EnvAllowedCountries: "de,AT , ch"}, countries: []string{"DE", "AT", "CH"}, types: sms.DefaultBlockedNumberTypes, nonGeographic: true, smartEncoding: true},
		{name: "none lifts the type and non-geographic rules", vars: map[string]string{EnvBlockedNumberTypes: "None"}, smartEncoding: true},
		{name: "own types keep the non-geographic rule", vars: map[string]string{EnvBlockedNumberTypes: "PREMIUM_RATE"}, types: []string{"PREMIUM_RATE"}, nonGeographic: true, smartEncoding: true},
		{name: "smart encoding off", vars: map[string]string{EnvSmartEncoding: "false"}, types: sms.DefaultBlockedNumberTypes, nonGeographic: true},
		{name: "everything at once", vars: map[string]string{EnvAllowedSenders: "MyApp, +14155550100,,MyApp ", EnvAllowedCountries: "us, GB,US", EnvBlockedNumberTypes: "premium_rate, TOLL_FREE", EnvSmartEncoding: "False"},
			senders: []string{"MyApp", "+14155550100"}, countries: []string{"US", "GB"}, types: []string{"PREMIUM_RATE", "TOLL_FREE"}, nonGeographic: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := FromEnv(env(tt.vars))
			if err != nil {
				t.Fatalf("FromEnv = %v, want nil", err)
			}
			got := []any{c.AllowedSenders, c.AllowedCountries, c.BlockedNumberTypes, c.BlockNonGeographic, c.SmartEncoding}
			want := []any{tt.senders, tt.countries, tt.types, tt.nonGeographic, tt.smartEncoding}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("senders, countries, types, non-geographic, smart encoding = %v, want %v", got, want)
			}
		})
	}
}

func TestDefaultBlockedTypesNotShared(t *testing.T) {
	c, err := FromEnv(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	c.BlockedNumberTypes[0] = "MOBILE"
	if sms.DefaultBlockedNumberTypes[0] == "MOBILE" {
		t.Error("changing a configuration's blocked types changed sms.DefaultBlockedNumberTypes")
	}
}

func TestFromEnvGuardErrors(t *testing.T) {
	tests := []struct {
		name    string
		vars    map[string]string
		setting string
		reason  string
	}{
		{"any sender with others", map[string]string{EnvAllowedSenders: "*,Alerts"}, EnvAllowedSenders, "cannot be combined"},
		{"sender not a sender", map[string]string{EnvAllowedSenders: "Alerts,My-Bank"}, EnvAllowedSenders, `entry "My-Bank"`},
		{"country unknown", map[string]string{EnvAllowedCountries: "US,UK"}, EnvAllowedCountries, `entry "UK"`},
		{"country numeric", map[string]string{EnvAllowedCountries: "001"}, EnvAllowedCountries, `entry "001"`},
		{"country alpha-3", map[string]string{EnvAllowedCountries: "USA"}, EnvAllowedCountries, "alpha-2"},
		{"number type unknown", map[string]string{EnvBlockedNumberTypes: "PREMIUM_RATE,SATELLITE"}, EnvBlockedNumberTypes, `entry "SATELLITE"`},
		{"number type UNKNOWN", map[string]string{EnvBlockedNumberTypes: "UNKNOWN"}, EnvBlockedNumberTypes, `entry "UNKNOWN"`},
		{"none with types", map[string]string{EnvBlockedNumberTypes: "none,PAGER"}, EnvBlockedNumberTypes, "cannot be combined"},
		{"smart encoding yes", map[string]string{EnvSmartEncoding: "yes"}, EnvSmartEncoding, `"true" or "false"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromEnv(env(tt.vars))
			var se *SettingError
			if !errors.As(err, &se) || se.Setting != tt.setting {
				t.Fatalf("FromEnv error = %v, want a *SettingError for %s", err, tt.setting)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("FromEnv error = %q, want it to contain %q", err, tt.reason)
			}
		})
	}
}
