package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// defaultRules are the deployment's default destination rules.
func defaultRules() GuardConfig {
	return GuardConfig{DefaultFrom: "FluxKit", BlockedNumberTypes: DefaultBlockedNumberTypes, BlockNonGeographic: true}
}

func TestGuardSenders(t *testing.T) {
	tests := []struct {
		name    string
		allowed []string
		from    string
		wantErr bool
	}{
		{"no from: the default sender", nil, "", false},
		{"the default sender named", nil, "FluxKit", false},
		{"another sender, none allowed", nil, "MyBank", true},
		{"another number, none allowed", nil, "+14155550100", true},
		{"a listed sender", []string{"Alerts", "+14155550100"}, "+14155550100", false},
		{"the default sender besides a list", []string{"Alerts"}, "FluxKit", false},
		{"a sender off the list", []string{"Alerts"}, "MyBank", true},
		{"the list is case-sensitive", []string{"Alerts"}, "ALERTS", true},
		{"any sender", []string{AnySender}, "MyBank", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaultRules()
			cfg.AllowedSenders = tt.allowed
			err := NewGuard(cfg, nil).Check(context.Background(), Message{To: "+14155552671", Body: "hi", From: tt.from})
			if got := err != nil; got != tt.wantErr {
				t.Fatalf("Check() = %v, want error %v", err, tt.wantErr)
			}
			if err == nil {
				return
			}
			e := AsError(err)
			if e.Kind != KindForbidden || e.Code != CodeSenderNotAllowed || e.Field != "from" {
				t.Errorf("Check() = kind %v code %q field %q, want forbidden %q from", e.Kind, e.Code, e.Field, CodeSenderNotAllowed)
			}
		})
	}
}

func TestGuardDestinations(t *testing.T) {
	none := GuardConfig{DefaultFrom: "FluxKit"}
	countries := func(c ...string) GuardConfig {
		cfg := defaultRules()
		cfg.AllowedCountries = c
		return cfg
	}
	types := func(ts ...string) GuardConfig {
		cfg := defaultRules()
		cfg.BlockedNumberTypes = ts
		return cfg
	}
	tests := []struct {
		name string
		cfg  GuardConfig
		to   string
		// wantRule is the words the refusal's message must contain; empty
		// means allowed.
		wantRule   string
		wantRegion string
	}{
		{"US number, defaults", defaultRules(), "+14155552671", "", ""},
		{"UK mobile, defaults", defaultRules(), "+447400123456", "", ""},
		{"toll-free is not blocked by default", defaultRules(), "+18002345678", "", ""},
		{"UK premium rate", defaultRules(), "+449012345678", "number type PREMIUM_RATE", "GB"},
		{"US premium rate", defaultRules(), "+19002345678", "number type PREMIUM_RATE", "US"},
		{"German shared cost", defaultRules(), "+4918012345", "number type SHARED_COST", "DE"},
		{"UK universal access", defaultRules(), "+445512345678", "number type UAN", "GB"},
		{"UK personal number", defaultRules(), "+447012345678", "number type PERSONAL_NUMBER", "GB"},
		{"German voicemail", defaultRules(), "+49177991234567", "number type VOICEMAIL", "DE"},
		{"UK pager", defaultRules(), "+447640123456", "number type PAGER", "GB"},
		{"Inmarsat satellite (+870)", defaultRules(), "+870301234567", "non-geographic", "001"},
		{"Iridium satellite (+881)", defaultRules(), "+881612345678", "non-geographic", "001"},
		{"international network (+882)", defaultRules(), "+8823421234", "non-geographic", "001"},
		{"international network (+883)", defaultRules(), "+883510012345", "non-geographic", "001"},
		{"international premium rate (+979)", defaultRules(), "+979123456789", "non-geographic", "001"},
		{"international freephone (+800)", defaultRules(), "+80012345678", "non-geographic", "001"},
		{"none: premium rate allowed", none, "+449012345678", "", ""},
		{"none: satellite allowed", none, "+870301234567", "", ""},
		{"only toll-free blocked", types("TOLL_FREE"), "+18002345678", "number type TOLL_FREE", "US"},
		{"only toll-free blocked: premium allowed", types("TOLL_FREE"), "+449012345678", "", ""},
		{"only toll-free blocked: non-geographic still refused", types("TOLL_FREE"), "+870301234567", "non-geographic", "001"},
		{"FIXED_LINE does not block fixed-line-or-mobile", types("FIXED_LINE"), "+14155552671", "", ""},
		{"FIXED_LINE blocks a fixed line", types("FIXED_LINE"), "+441212345678", "number type FIXED_LINE", "GB"},
		{"country allowed", countries("US", "GB"), "+447400123456", "", ""},
		{"country not allowed", countries("US", "GB"), "+33612345678", "country", "FR"},
		{"shared +1: Canada allowed", countries("CA"), "+15062345678", "", ""},
		{"shared +1: US refused when only Canada is allowed", countries("CA"), "+14155552671", "country", "US"},
		{"shared +44: Jersey refused when only GB is allowed", countries("GB"), "+447797712345", "country", "JE"},
		{"shared +7: Kazakhstan allowed", countries("KZ"), "+77710009998", "", ""},
		{"shared +7: Russia refused", countries("KZ"), "+79123456789", "country", "RU"},
		{"every region of +1 refused", countries("FR"), "+14155552671", "country", "US"},
		{"country rule and premium rate", countries("GB"), "+449012345678", "number type PREMIUM_RATE", "GB"},
		{"non-geographic with a country list", countries("GB"), "+870301234567", "non-geographic", "001"},
		{"lower-case country codes", countries("gb"), "+447400123456", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			g := NewGuard(tt.cfg, slog.New(slog.NewJSONHandler(&logs, nil)))
			err := g.Check(context.Background(), Message{To: tt.to, Body: "hi"})
			if tt.wantRule == "" {
				if err != nil {
					t.Fatalf("Check(%s) = %v, want nil", tt.to, err)
				}
				if logs.Len() != 0 {
					t.Errorf("an allowed message logged %q", logs.String())
				}
				return
			}
			if err == nil {
				t.Fatalf("Check(%s) = nil, want a refusal naming %q", tt.to, tt.wantRule)
			}
			e := AsError(err)
			if e.Kind != KindForbidden || e.Code != CodeDestinationNotAllowed || e.Field != "to" {
				t.Errorf("Check() = kind %v code %q field %q, want forbidden %q to", e.Kind, e.Code, e.Field, CodeDestinationNotAllowed)
			}
			if !strings.Contains(e.Message, tt.wantRule) {
				t.Errorf("message %q does not name the rule %q", e.Message, tt.wantRule)
			}
			if strings.Contains(e.Message, tt.to[1:]) {
				t.Errorf("message %q repeats the number", e.Message)
			}
			var rec map[string]any
			if err := json.Unmarshal(logs.Bytes(), &rec); err != nil {
				t.Fatalf("refusal log %q: %v", logs.String(), err)
			}
			if rec["event"] != CodeDestinationNotAllowed || rec["region"] != tt.wantRegion {
				t.Errorf("refusal logged event %v region %v, want %s %s", rec["event"], rec["region"], CodeDestinationNotAllowed, tt.wantRegion)
			}
			if strings.Contains(logs.String(), tt.to) {
				t.Errorf("the refusal log %q holds the number unmasked", logs.String())
			}
		})
	}
}

func TestGuardChecksValidityFirst(t *testing.T) {
	g := NewGuard(defaultRules(), nil)
	tests := []struct {
		name string
		m    Message
		code string
	}{
		{"invalid number", Message{To: "+1415", Body: "hi", From: "MyBank"}, CodeInvalidTo},
		{"empty body", Message{To: "+449012345678", Body: ""}, CodeInvalidBody},
		{"invalid sender", Message{To: "+449012345678", Body: "hi", From: "My-Bank"}, CodeInvalidFrom},
		{"sender before destination", Message{To: "+449012345678", Body: "hi", From: "MyBank"}, CodeSenderNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AsError(g.Check(context.Background(), tt.m)).Code; got != tt.code {
				t.Errorf("Check() code = %q, want %q", got, tt.code)
			}
		})
	}
}

func TestGuardLogsSenderRefusalWithRegion(t *testing.T) {
	var logs bytes.Buffer
	g := NewGuard(defaultRules(), slog.New(slog.NewJSONHandler(&logs, nil)))
	if err := g.Check(context.Background(), Message{To: "+33612345678", Body: "hi", From: "MyBank"}); err == nil {
		t.Fatal("Check() = nil, want a sender refusal")
	}
	var rec map[string]any
	if err := json.Unmarshal(logs.Bytes(), &rec); err != nil {
		t.Fatalf("refusal log %q: %v", logs.String(), err)
	}
	if rec["event"] != CodeSenderNotAllowed || rec["region"] != "FR" || rec["to"] != MaskNumber("+33612345678") {
		t.Errorf("refusal log %v, want event %s, region FR and the masked number", rec, CodeSenderNotAllowed)
	}
	if strings.Contains(logs.String(), "MyBank") {
		t.Errorf("refusal log %q names the sender", logs.String())
	}
}

// TestNonGeographicCodes checks that libphonenumber's region "001" is what
// names the non-geographic country codes the guard refuses, and that it
// names all of them.
func TestNonGeographicCodes(t *testing.T) {
	want := []int{800, 808, 870, 878, 881, 882, 883, 888, 979}
	for _, cc := range want {
		if got := phonenumbers.GetRegionCodeForCountryCode(cc); got != nonGeographicRegion {
			t.Errorf("region of +%d = %q, want %q", cc, got, nonGeographicRegion)
		}
	}
	global := phonenumbers.GetSupportedGlobalNetworkCallingCodes()
	if len(global) != len(want) {
		t.Errorf("libphonenumber knows %d non-geographic codes %v, want the %d of %v", len(global), global, len(want), want)
	}
	for _, cc := range []int{1, 44, 7, 290, 683} {
		if got := phonenumbers.GetRegionCodeForCountryCode(cc); got == nonGeographicRegion {
			t.Errorf("region of +%d = %q, want a country", cc, got)
		}
	}
}

// example is one of libphonenumber's example numbers.
type example struct {
	region string // "001" for a non-geographic entity
	typ    string
	e164   string
}

// exampleNumbers returns libphonenumber's example numbers, for every
// region and non-geographic entity, of every type of types.
func exampleNumbers(t *testing.T, types ...string) []example {
	t.Helper()
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		t.Fatal(err)
	}
	var out []example
	for _, md := range coll.GetMetadata() {
		descs := map[string]*phonenumbers.PhoneNumberDesc{
			"FIXED_LINE": md.GetFixedLine(), "MOBILE": md.GetMobile(), "TOLL_FREE": md.GetTollFree(),
			"PREMIUM_RATE": md.GetPremiumRate(), "SHARED_COST": md.GetSharedCost(), "VOIP": md.GetVoip(),
			"PERSONAL_NUMBER": md.GetPersonalNumber(), "PAGER": md.GetPager(), "UAN": md.GetUan(), "VOICEMAIL": md.GetVoicemail(),
		}
		for _, typ := range types {
			if ex := descs[typ].GetExampleNumber(); ex != "" {
				out = append(out, example{md.GetId(), typ, fmt.Sprintf("+%d%s", md.GetCountryCode(), ex)})
			}
		}
	}
	return out
}

// TestGuardRefusesEveryBlockedExample runs the default guard over
// libphonenumber's own example numbers of every blocked type in every
// region, and of every type of every non-geographic country code.
func TestGuardRefusesEveryBlockedExample(t *testing.T) {
	g := NewGuard(defaultRules(), nil)
	all := []string{"FIXED_LINE", "MOBILE", "TOLL_FREE", "PREMIUM_RATE", "SHARED_COST", "VOIP", "PERSONAL_NUMBER", "PAGER", "UAN", "VOICEMAIL"}
	perType := map[string]int{}
	for _, ex := range exampleNumbers(t, all...) {
		blocked := ex.region == nonGeographicRegion
		for _, b := range DefaultBlockedNumberTypes {
			blocked = blocked || ex.typ == b
		}
		if !blocked {
			continue
		}
		err := g.Check(context.Background(), Message{To: ex.e164, Body: "win a prize"})
		if e := AsError(err); err == nil || e.Code != CodeDestinationNotAllowed {
			t.Errorf("%s %s example %s: Check() = %v, want %s", ex.region, ex.typ, ex.e164, err, CodeDestinationNotAllowed)
			continue
		}
		if ex.region == nonGeographicRegion {
			perType["non-geographic"]++
		} else {
			perType[ex.typ]++
		}
	}
	for _, typ := range append([]string{"non-geographic"}, DefaultBlockedNumberTypes...) {
		if perType[typ] == 0 {
			t.Errorf("no example of %s was refused: the battery proves nothing for it", typ)
		}
	}
	t.Logf("refused examples: %v", perType)
}

// TestNumberTypeMatchesValidity checks what parseTo relies on: for
// libphonenumber, a number is valid exactly when its type is known.
func TestNumberTypeMatchesValidity(t *testing.T) {
	all := []string{"FIXED_LINE", "MOBILE", "TOLL_FREE", "PREMIUM_RATE", "SHARED_COST", "VOIP", "PERSONAL_NUMBER", "PAGER", "UAN", "VOICEMAIL"}
	checked, valid := 0, 0
	for _, ex := range exampleNumbers(t, all...) {
		last := ex.e164[len(ex.e164)-1]
		for _, v := range []string{ex.e164, ex.e164[:len(ex.e164)-1], ex.e164 + "5", ex.e164[:len(ex.e164)-1] + string('0'+(last-'0'+1)%10)} {
			num, _, ok := e164Number(v[1:])
			if !ok {
				t.Fatalf("%s: no country code", v)
			}
			checked++
			isValid := phonenumbers.IsValidNumber(num)
			if typed := phonenumbers.GetNumberType(num) != phonenumbers.UNKNOWN; typed != isValid {
				t.Errorf("%s (%s %s): IsValidNumber = %v, but GetNumberType known = %v", v, ex.region, ex.typ, isValid, typed)
			}
			if isValid {
				valid++
			}
		}
	}
	if checked < 1000 || valid < 500 {
		t.Errorf("checked %d numbers, %d valid: too few to mean anything", checked, valid)
	}
}

func TestRefusedDisposition(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Disposition
	}{
		{"sender", E(KindForbidden, "x", Code(CodeSenderNotAllowed)), Disposition{Action: Poison, Kind: KindForbidden, PoisonReason: PoisonSenderNotAllowed}},
		{"destination", E(KindForbidden, "x", Code(CodeDestinationNotAllowed)), Disposition{Action: Poison, Kind: KindForbidden, PoisonReason: PoisonDestinationNotAllowed}},
		{"invalid number", InvalidField("to", "is bad"), Disposition{Action: Poison, Kind: KindInvalid, PoisonReason: CodeInvalidTo}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := refusedDisposition(tt.err); got != tt.want {
				t.Errorf("refusedDisposition() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestGuardEncode(t *testing.T) {
	m := Message{To: "+14155552671", Body: "“Hi” – it’s 5…"}
	if got, want := NewGuard(GuardConfig{SmartEncoding: true}, nil).Encode(m).Body, `"Hi" - it's 5...`; got != want {
		t.Errorf("Encode() with smart encoding = %q, want %q", got, want)
	}
	if got := NewGuard(GuardConfig{}, nil).Encode(m).Body; got != m.Body {
		t.Errorf("Encode() without smart encoding = %q, want the body as written", got)
	}
}

func TestIsNumberTypeAndRegion(t *testing.T) {
	for _, name := range append([]string{"FIXED_LINE", "MOBILE", "FIXED_LINE_OR_MOBILE", "TOLL_FREE", "VOIP"}, DefaultBlockedNumberTypes...) {
		if !IsNumberType(name) {
			t.Errorf("IsNumberType(%q) = false, want true", name)
		}
	}
	for _, name := range []string{"", "UNKNOWN", "premium_rate", "SATELLITE"} {
		if IsNumberType(name) {
			t.Errorf("IsNumberType(%q) = true, want false", name)
		}
	}
	for code, want := range map[string]bool{"US": true, "GB": true, "JE": true, "001": false, "UK": false, "us": false, "": false} {
		if got := IsRegion(code); got != want {
			t.Errorf("IsRegion(%q) = %v, want %v", code, got, want)
		}
	}
}
