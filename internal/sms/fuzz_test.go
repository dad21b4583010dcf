package sms

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

var e164Pattern = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

// FuzzValidate checks that validation never panics, that every accepted
// recipient has the E.164 shape, and that every rejection is a KindInvalid
// *Error naming the right field.
func FuzzValidate(f *testing.F) {
	f.Add("+14155551234", "Your code is 482901", "")
	f.Add("+447911123456", "Prix: 5€ {promo}", "FluxKit")
	f.Add("+4402079460000", "x", "+12345678")
	f.Add("4155551234", "", "MyApp\r\n")
	f.Add("+1234567890", strings.Repeat("😀", 1601), "MG0123456789abcdef0123456789abcdef")
	f.Add("+１４１５５５５１２３４", "\xff", "12345")
	f.Fuzz(func(t *testing.T, to, body, from string) {
		m := Message{To: to, Body: body, From: from}
		err := m.Validate()

		toErr, bodyErr := ValidateTo(to), ValidateBody(body)
		var fromErr error
		if from != "" {
			fromErr = ValidateFrom(from)
		}
		if toErr == nil && !e164Pattern.MatchString(to) {
			t.Fatalf("ValidateTo(%q) = nil, but it does not match %s", to, e164Pattern)
		}
		if bodyErr == nil && (!utf8.ValidString(body) || body == "" || utf8.RuneCountInString(body) > MaxBodyChars) {
			t.Fatalf("ValidateBody(%q) = nil for an empty, too long or invalid body", body)
		}
		if fromErr == nil && from != "" && !e164Pattern.MatchString(from) && !isSenderIDShape(from) {
			t.Fatalf("ValidateFrom(%q) = nil, but it is neither E.164 nor a sender ID", from)
		}

		want := toErr
		for _, e := range []error{bodyErr, fromErr} {
			if want == nil {
				want = e
			}
		}
		if (err == nil) != (want == nil) {
			t.Fatalf("Validate() = %v, want %v", err, want)
		}
		if err == nil {
			return
		}
		var e *Error
		if !errors.As(err, &e) || e.Kind != KindInvalid {
			t.Fatalf("Validate() = %#v, want a KindInvalid *Error", err)
		}
		if got, want := e.Field, AsError(want).Field; got != want {
			t.Errorf("Validate() field = %q, want %q", got, want)
		}
		if !strings.HasPrefix(e.Message, e.Field+" ") {
			t.Errorf("Validate() message = %q does not name field %q", e.Message, e.Field)
		}
	})
}

// isSenderIDShape reports whether s is 1-11 of A-Z a-z 0-9 and space with
// at least one letter.
func isSenderIDShape(s string) bool {
	if len(s) < 1 || len(s) > 11 {
		return false
	}
	letter := false
	for _, r := range s {
		switch {
		case r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z':
			letter = true
		case r >= '0' && r <= '9' || r == ' ':
		default:
			return false
		}
	}
	return letter
}

// FuzzCountSegments checks CountSegments against its invariants and the
// plain reference model of docs/providers.md#encoding-and-segments.
func FuzzCountSegments(f *testing.F) {
	f.Add("")
	f.Add("Your code is 482901")
	f.Add(strings.Repeat("a", 152) + "€" + strings.Repeat("a", 152))
	f.Add(strings.Repeat("ж", 66) + "😀" + strings.Repeat("ж", 66))
	f.Add("code `123`")
	f.Add("ab\xffcd")
	f.Fuzz(func(t *testing.T, body string) {
		s := CountSegments(body)
		if body == "" {
			if s.Count != 0 || s.Units != 0 {
				t.Fatalf("CountSegments(\"\") = %+v, want Count 0 and Units 0", s)
			}
			return
		}
		if s.Count < 1 {
			t.Fatalf("CountSegments(%q).Count = %d, want >= 1", body, s.Count)
		}
		needsUCS2 := NeedsUCS2(body)
		if got, want := s.Encoding == GSM7, !needsUCS2; got != want {
			t.Fatalf("CountSegments(%q).Encoding = %s, NeedsUCS2 = %v", body, s.Encoding, needsUCS2)
		}
		outside := false
		for _, r := range body {
			if !strings.ContainsRune(specGSMBasic, r) && !strings.ContainsRune(specGSMExtension, r) {
				outside = true
				break
			}
		}
		if got, want := s.Encoding, map[bool]Encoding{false: GSM7, true: UCS2}[outside]; got != want {
			t.Fatalf("CountSegments(%q).Encoding = %s, want %s", body, got, want)
		}
		single, part := 160, 153
		if s.Encoding == UCS2 {
			single, part = 70, 67
		}
		runes := utf8.RuneCountInString(body)
		if s.Units < runes || s.Units > 2*runes {
			t.Fatalf("CountSegments(%q).Units = %d for %d characters, want between 1 and 2 per character", body, s.Units, runes)
		}
		switch {
		case s.Units <= single && s.Count != 1:
			t.Fatalf("CountSegments(%q) = %+v, want 1 part for %d units", body, s, s.Units)
		case s.Units > single && s.Count < 2:
			t.Fatalf("CountSegments(%q) = %+v, want several parts for %d units", body, s, s.Units)
		}
		if s.Count > 1 {
			// Every part holds at most part units and, since a 2-unit
			// character only moves when it does not fit, at least part-1.
			if s.Count*part < s.Units {
				t.Fatalf("CountSegments(%q) = %+v: %d parts of %d cannot hold %d units", body, s, s.Count, part, s.Units)
			}
			if (s.Count-1)*(part-1) >= s.Units {
				t.Fatalf("CountSegments(%q) = %+v: more parts than %d units need", body, s, s.Units)
			}
		}
		if got, want := s, refSegments(body); got != want {
			t.Fatalf("CountSegments(%q) = %+v, reference model says %+v", body, got, want)
		}
	})
}

// FuzzMaskDigits checks that masked text never shows 6 digits in a row nor
// more than half of a number's digits, and keeps the text around numbers.
func FuzzMaskDigits(f *testing.F) {
	f.Add("The 'To' number +14155551234 is not a valid phone number.")
	f.Add("call +1 (415) 555-1234 now")
	f.Add("codes 21211 and 21614")
	f.Add("\xff14155551234\xff")
	f.Add("number ４１５５５５１２３４")
	f.Fuzz(func(t *testing.T, text string) {
		got := maskDigits(text)
		if n := longestDigitRun(got); n >= minMaskedRunDigits {
			t.Fatalf("maskDigits(%q) = %q keeps %d digits in a row", text, got, n)
		}
		if utf8.ValidString(text) && utf8.RuneCountInString(got) != utf8.RuneCountInString(text) {
			t.Fatalf("maskDigits(%q) = %q changes the number of characters", text, got)
		}
		if !strings.ContainsFunc(text, unicode.IsDigit) && got != text {
			t.Fatalf("maskDigits(%q) = %q, want text without digits unchanged", text, got)
		}
		masked := MaskNumber(text)
		shown, digits := 0, 0
		for _, r := range text {
			if unicode.IsDigit(r) {
				digits++
			}
		}
		for _, r := range masked {
			if unicode.IsDigit(r) {
				shown++
			}
		}
		if shown*2 > digits {
			t.Fatalf("MaskNumber(%q) = %q shows %d of %d digits", text, masked, shown, digits)
		}
	})
}
