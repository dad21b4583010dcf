package sms

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// wantInvalid checks that err is a KindInvalid *Error for field with code,
// whose message names the field and does not repeat input.
func wantInvalid(t *testing.T, err error, code, field, input string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *sms.Error", err, err)
	}
	if e.Kind != KindInvalid {
		t.Errorf("Kind = %v, want %v", e.Kind, KindInvalid)
	}
	if e.Code != code {
		t.Errorf("Code = %q, want %q", e.Code, code)
	}
	if e.Field != field {
		t.Errorf("Field = %q, want %q", e.Field, field)
	}
	if !strings.HasPrefix(e.Message, field+" ") {
		t.Errorf("Message = %q, want it to start with the field name %q", e.Message, field)
	}
	if len(e.Message) <= len(field)+1 {
		t.Errorf("Message = %q, want a reason after the field name", e.Message)
	}
	if len(input) >= 4 && strings.Contains(e.Message, input) {
		t.Errorf("Message = %q repeats the input %q", e.Message, input)
	}
	if e.Err != nil {
		t.Errorf("Err = %v, want nil for a validation failure", e.Err)
	}
}

func TestValidateTo(t *testing.T) {
	tests := []struct {
		name   string
		to     string
		ok     bool
		reason string // a fragment the message must contain when !ok
	}{
		{name: "US", to: "+14155551234", ok: true},
		{name: "US DC", to: "+12025550123", ok: true},
		{name: "Twilio test number", to: "+15005550006", ok: true},
		{name: "UK London", to: "+442079460000", ok: true},
		{name: "Germany mobile", to: "+4915112345678", ok: true},
		{name: "France mobile", to: "+33612345678", ok: true},
		{name: "India mobile", to: "+919876543210", ok: true},
		{name: "Brazil mobile", to: "+5511987654321", ok: true},
		{name: "Australia mobile", to: "+61412345678", ok: true},
		{name: "Japan mobile", to: "+819012345678", ok: true},
		{name: "Italy fixed keeps leading zero", to: "+390612345678", ok: true},
		{name: "China mobile", to: "+8613812345678", ok: true},
		{name: "Russia mobile", to: "+79161234567", ok: true},
		{name: "international freephone", to: "+80012345678", ok: true},
		{name: "Niue, seven digits", to: "+6834002", ok: true},
		{name: "Tristan da Cunha under +290, seven digits", to: "+2908000", ok: true},
		{name: "Tokelau, seven digits", to: "+6902200", ok: true},
		{name: "Saint Helena, eight digits", to: "+29022000", ok: true},

		{name: "empty", to: "", reason: "required"},
		{name: "plus only", to: "+", reason: "too short"},
		{name: "not a valid US number", to: "+1234567890", reason: "not a valid phone number"},
		{name: "one digit", to: "+1", reason: "too short"},
		{name: "seven digits invalid for the US", to: "+1415555", reason: "not a valid phone number"},
		{name: "seven digits unassigned in Saint Helena", to: "+2902000", reason: "not a valid phone number"},
		{name: "eight digits but invalid", to: "+12345678", reason: "not a valid phone number"},
		{name: "sixteen digits", to: "+1415555123456789", reason: "too long"},
		{name: "fifteen digits invalid for UK", to: "+441234567890123", reason: "not a valid phone number"},
		{name: "unknown country code", to: "+999123456789", reason: "not a valid phone number"},
		{name: "leading zero", to: "+04155551234", reason: "must not start with 0"},
		{name: "national format", to: "4155551234", reason: "E.164 format"},
		{name: "national with punctuation", to: "(415) 555-1234", reason: "E.164 format"},
		{name: "international without plus", to: "14155551234", reason: "E.164 format"},
		{name: "00 prefix", to: "0014155551234", reason: "E.164 format"},
		{name: "spaces", to: "+1 415 555 1234", reason: "only digits"},
		{name: "dashes", to: "+1-415-555-1234", reason: "only digits"},
		{name: "letters", to: "+1415CALLNOW", reason: "only digits"},
		{name: "trailing newline", to: "+14155551234\n", reason: "only digits"},
		{name: "leading space", to: " +14155551234", reason: "E.164 format"},
		{name: "double plus", to: "++14155551234", reason: "only digits"},
		{name: "extension", to: "+14155551234;ext=1", reason: "only digits"},
		{name: "fullwidth digits", to: "+１４１５５５５１２３４", reason: "only digits"},
		{name: "national prefix kept after country code", to: "+4402079460000", reason: "canonical"},
		{name: "Irish national prefix kept", to: "+3530871234567", reason: "canonical"},
		{name: "UK drama range is not assigned", to: "+447700900123", reason: "not a valid phone number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateTo(tt.to)
			if tt.ok {
				if err != nil {
					t.Fatalf("ValidateTo(%q) = %v, want nil", tt.to, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateTo(%q) = nil, want an error containing %q", tt.to, tt.reason)
			}
			wantInvalid(t, err, CodeInvalidTo, "to", tt.to)
			if got := AsError(err).Message; !strings.Contains(got, tt.reason) {
				t.Errorf("ValidateTo(%q) message = %q, want it to contain %q", tt.to, got, tt.reason)
			}
		})
	}
}

func TestValidateBody(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		ok     bool
		reason string
	}{
		{name: "OTP", body: "Your code is 482901", ok: true},
		{name: "one character", body: "x", ok: true},
		{name: "1600 ASCII", body: strings.Repeat("a", 1600), ok: true},
		{name: "1600 emoji", body: strings.Repeat("😀", 1600), ok: true},
		{name: "1600 accented (3200 bytes)", body: strings.Repeat("é", 1600), ok: true},
		{name: "newlines and tabs", body: "line 1\nline 2\tend", ok: true},
		{name: "NUL is valid UTF-8", body: "a\x00b", ok: true},
		{name: "whitespace only", body: "   ", ok: true},

		{name: "empty", body: "", reason: "required"},
		{name: "1601 ASCII", body: strings.Repeat("a", 1601), reason: "at most 1600"},
		{name: "1601 emoji", body: strings.Repeat("😀", 1601), reason: "at most 1600"},
		{name: "1601 accented", body: strings.Repeat("é", 1601), reason: "at most 1600"},
		{name: "invalid byte", body: "abc\xffdef", reason: "UTF-8"},
		{name: "truncated sequence", body: "abc\xe2\x82", reason: "UTF-8"},
		{name: "overlong encoding", body: "\xc0\xaf", reason: "UTF-8"},
		{name: "lone surrogate", body: "\xed\xa0\x80", reason: "UTF-8"},
		{name: "invalid and too long", body: strings.Repeat("a", 2000) + "\xff", reason: "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateBody(tt.body)
			if tt.ok {
				if err != nil {
					t.Fatalf("ValidateBody(%.20q) = %v, want nil", tt.body, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateBody(%.20q) = nil, want an error containing %q", tt.body, tt.reason)
			}
			wantInvalid(t, err, CodeInvalidBody, "body", tt.body)
			if got := AsError(err).Message; !strings.Contains(got, tt.reason) {
				t.Errorf("ValidateBody(%.20q) message = %q, want it to contain %q", tt.body, got, tt.reason)
			}
		})
	}
}

func TestValidateFrom(t *testing.T) {
	tests := []struct {
		name   string
		from   string
		ok     bool
		reason string
	}{
		{name: "US number", from: "+14155551234", ok: true},
		{name: "number outside libphonenumber ranges", from: "+12345678", ok: true},
		{name: "fifteen digits", from: "+123456789012345", ok: true},
		{name: "sender ID", from: "MyApp", ok: true},
		{name: "one letter", from: "A", ok: true},
		{name: "eleven characters", from: "FluxKit2FA1", ok: true},
		{name: "with space", from: "Flux Kit", ok: true},
		{name: "letters and digits", from: "Shop24", ok: true},
		{name: "lowercase", from: "alerts", ok: true},

		{name: "empty", from: "", reason: "must not be empty"},
		{name: "twelve characters", from: "FluxKitAlert", reason: "longer than 11"},
		{name: "digits only", from: "12345", reason: "at least one letter"},
		{name: "national number", from: "4155551234", reason: "at least one letter"},
		{name: "spaces only", from: "   ", reason: "at least one letter"},
		{name: "Niue number, seven digits", from: "+6834002", ok: true},
		{name: "one digit", from: "+1", reason: "too short"},
		{name: "sixteen digits", from: "+1234567890123456", reason: "too long"},
		{name: "leading zero", from: "+0123456789", reason: "must not start with 0"},
		{name: "number with spaces", from: "+1 415 555 1234", reason: "only digits"},
		{name: "CRLF injection", from: "MyApp\r\nBcc", reason: "A-Z, a-z, 0-9 and space"},
		{name: "LF", from: "My\nApp", reason: "A-Z, a-z, 0-9 and space"},
		{name: "NUL", from: "My\x00App", reason: "A-Z, a-z, 0-9 and space"},
		{name: "tab", from: "My\tApp", reason: "A-Z, a-z, 0-9 and space"},
		{name: "hyphen", from: "My-App", reason: "A-Z, a-z, 0-9 and space"},
		{name: "accented", from: "Café", reason: "A-Z, a-z, 0-9 and space"},
		{name: "emoji", from: "App😀", reason: "A-Z, a-z, 0-9 and space"},
		{name: "messaging service SID", from: "MG0123456789abcdef0123456789abcdef", reason: "longer than 11"},
		{name: "invalid UTF-8", from: "App\xff", reason: "A-Z, a-z, 0-9 and space"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateFrom(tt.from)
			if tt.ok {
				if err != nil {
					t.Fatalf("ValidateFrom(%q) = %v, want nil", tt.from, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateFrom(%q) = nil, want an error containing %q", tt.from, tt.reason)
			}
			wantInvalid(t, err, CodeInvalidFrom, "from", tt.from)
			if got := AsError(err).Message; !strings.Contains(got, tt.reason) {
				t.Errorf("ValidateFrom(%q) message = %q, want it to contain %q", tt.from, got, tt.reason)
			}
		})
	}
}

func TestValidateDefaultSender(t *testing.T) {
	tests := []struct {
		name   string
		from   string
		ok     bool
		reason string
	}{
		{name: "number", from: "+14155551234", ok: true},
		{name: "sender ID", from: "FluxKit", ok: true},
		{name: "messaging service SID", from: "MG0123456789abcdef0123456789abcdef", ok: true},
		{name: "messaging service SID upper hex", from: "MG0123456789ABCDEF0123456789ABCDEF", ok: true},

		{name: "empty", from: "", reason: "must not be empty"},
		{name: "SID with non-hex", from: "MG0123456789abcdef0123456789abcdeg", reason: "Messaging Service SID"},
		{name: "SID too short", from: "MG0123456789abcdef0123456789abcde", reason: "longer than 11"},
		{name: "SID too long", from: "MG0123456789abcdef0123456789abcdef0", reason: "longer than 11"},
		{name: "account SID is not a sender", from: "AC0123456789abcdef0123456789abcdef", reason: "longer than 11"},
		{name: "lowercase prefix", from: "mg0123456789abcdef0123456789abcdef", reason: "longer than 11"},
		{name: "SID with newline", from: "MG0123456789abcdef0123456789abcde\n", reason: "Messaging Service SID"},
		{name: "digits only", from: "12345", reason: "at least one letter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateDefaultSender(tt.from)
			if tt.ok {
				if err != nil {
					t.Fatalf("ValidateDefaultSender(%q) = %v, want nil", tt.from, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateDefaultSender(%q) = nil, want an error containing %q", tt.from, tt.reason)
			}
			wantInvalid(t, err, CodeInvalidFrom, "from", tt.from)
			if got := AsError(err).Message; !strings.Contains(got, tt.reason) {
				t.Errorf("ValidateDefaultSender(%q) message = %q, want it to contain %q", tt.from, got, tt.reason)
			}
		})
	}
}

func TestMessageValidate(t *testing.T) {
	const (
		goodTo   = "+14155551234"
		goodBody = "Your code is 482901"
	)
	tests := []struct {
		name      string
		msg       Message
		wantField string // "" when valid
		wantCode  string
	}{
		{name: "valid without from", msg: Message{To: goodTo, Body: goodBody}},
		{name: "valid with sender ID", msg: Message{To: goodTo, Body: goodBody, From: "FluxKit"}},
		{name: "valid with number", msg: Message{To: goodTo, Body: goodBody, From: "+12025550123"}},
		{name: "ID is not checked", msg: Message{ID: "anything \n at all", To: goodTo, Body: goodBody}},
		{name: "bad to", msg: Message{To: "4155551234", Body: goodBody}, wantField: "to", wantCode: CodeInvalidTo},
		{name: "bad body", msg: Message{To: goodTo, Body: ""}, wantField: "body", wantCode: CodeInvalidBody},
		{name: "bad from", msg: Message{To: goodTo, Body: goodBody, From: "Bad\r\nFrom"}, wantField: "from", wantCode: CodeInvalidFrom},
		{name: "to is checked first", msg: Message{To: "", Body: "", From: "!"}, wantField: "to", wantCode: CodeInvalidTo},
		{name: "body before from", msg: Message{To: goodTo, Body: "\xff", From: "!"}, wantField: "body", wantCode: CodeInvalidBody},
		{name: "messaging service SID not allowed as override", msg: Message{To: goodTo, Body: goodBody, From: "MG0123456789abcdef0123456789abcdef"}, wantField: "from", wantCode: CodeInvalidFrom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.msg.Validate()
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error for field %q", tt.wantField)
			}
			wantInvalid(t, err, tt.wantCode, tt.wantField, "")
			if got, want := KindOf(err), KindInvalid; got != want {
				t.Errorf("KindOf(err) = %v, want %v", got, want)
			}
			if got, want := AsError(err).Code, tt.wantCode; got != want {
				t.Errorf("Code = %q, want %q", got, want)
			}
		})
	}
}

func TestIsMessagingServiceSID(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"MG0123456789abcdef0123456789abcdef", true},
		{"MG" + strings.Repeat("AB", 16), true},
		{"MG" + strings.Repeat("ab", 15), false},
		{"MG" + strings.Repeat("xy", 16), false},
		{"mg" + strings.Repeat("ab", 16), false},
		{"+15005550006", false},
		{"MGFluxKit", false},
	}
	for _, tt := range tests {
		if got := IsMessagingServiceSID(tt.s); got != tt.want {
			t.Errorf("IsMessagingServiceSID(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

// parseValid is ValidateTo's verdict by way of phonenumbers.Parse, the
// library's general parser, for TestE164NumberMatchesParse.
func parseValid(to string) bool {
	if to == "" || e164ShapeProblem(to) != "" {
		return false
	}
	num, err := phonenumbers.Parse(to, "")
	return err == nil && phonenumbers.IsValidNumber(num) && phonenumbers.Format(num, phonenumbers.E164) == to
}

// TestE164NumberMatchesParse checks ValidateTo's fast construction of the
// number against phonenumbers.Parse on every region's example numbers of
// every type, and on variants of them: a national prefix 0 inserted after
// the country code, a digit dropped, a digit added, and the last digit
// changed.
func TestE164NumberMatchesParse(t *testing.T) {
	types := []phonenumbers.PhoneNumberType{
		phonenumbers.FIXED_LINE, phonenumbers.MOBILE, phonenumbers.TOLL_FREE, phonenumbers.PREMIUM_RATE,
		phonenumbers.SHARED_COST, phonenumbers.VOIP, phonenumbers.PERSONAL_NUMBER, phonenumbers.PAGER,
		phonenumbers.UAN, phonenumbers.VOICEMAIL,
	}
	checked, accepted := 0, 0
	for region := range phonenumbers.GetSupportedRegions() {
		for _, typ := range types {
			ex := phonenumbers.GetExampleNumberForType(region, typ)
			if ex == nil {
				continue
			}
			e164 := phonenumbers.Format(ex, phonenumbers.E164)
			cc := len(fmt.Sprint(ex.GetCountryCode()))
			last := e164[len(e164)-1]
			variants := []string{
				e164,
				e164[:1+cc] + "0" + e164[1+cc:],
				e164[:len(e164)-1],
				e164 + "5",
				e164[:len(e164)-1] + string('0'+(last-'0'+1)%10),
			}
			for _, v := range variants {
				checked++
				want := parseValid(v)
				got := ValidateTo(v) == nil
				if got != want {
					t.Errorf("%s %v: ValidateTo(%q) accepted = %v, Parse-based verdict %v", region, typ, v, got, want)
				}
				if got {
					accepted++
				}
			}
		}
	}
	if checked < 1000 || accepted < 500 {
		t.Errorf("checked %d numbers, %d accepted: the example set is too small to mean anything", checked, accepted)
	}
	t.Logf("%d numbers compared, %d valid", checked, accepted)
}
