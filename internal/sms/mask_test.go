package sms

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestMaskNumber(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"US", "+14155551234", "+1******1234"},
		{"UK two-digit country code", "+447911123456", "+44******3456"},
		{"China", "+8613812345678", "+86*******5678"},
		{"Ireland three-digit country code", "+353871234567", "+353******567"},
		{"three-digit code, ten digits: half wins", "+3531234567", "+353*****67"},
		{"non-geographic 800", "+80012345678", "+800******78"},
		{"unassigned 999 falls back to one digit", "+999123456789", "+9*******6789"},
		{"Vonage form without plus", "14155551234", "1******1234"},
		{"UK without plus", "447911123456", "44******3456"},
		{"eight digits", "+12345678", "+1****678"},
		{"six digits", "123456", "1***56"},
		{"four digits", "+1234", "+1**4"},
		{"three digits", "+123", "+1**"},
		{"two digits", "+12", "+1*"},
		{"one digit", "+1", "+*"},
		{"plus only", "+", "+"},
		{"empty", "", ""},
		{"formatted keeps separators", "+1 (415) 555-1234", "+1 (***) ***-1234"},
		{"dotted", "415.555.1234", "41*.***.*234"},
		{"letters are hidden", "+1415CALLNOW", "+1**5*******"},
		{"not a number at all", "secret", "******"},
		{"injected newline", "+14155551234\nx", "+1******1234**"},
		{"plus later is hidden", "1+1", "1**"},
		{"fullwidth digits", "+１４１５５５５１２３４", "+１******１２３４"},
		{"long run shows at most 4 last digits", strings.Repeat("7", 40), "7" + strings.Repeat("*", 35) + "7777"},
		{"invalid UTF-8", "+1415\xff5551234", "+1*******1234"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MaskNumber(tt.in)
			if got != tt.want {
				t.Errorf("MaskNumber(%q) = %q, want %q", tt.in, got, tt.want)
			}
			checkMaskedNumber(t, tt.in, got)
		})
	}
}

// checkMaskedNumber asserts the invariants of MaskNumber: one output rune
// per input rune, a digit shown only where the input had that digit, and
// never more than half of the digits shown.
func checkMaskedNumber(t *testing.T, in, got string) {
	t.Helper()
	inRunes, gotRunes := []rune(in), []rune(got)
	if len(gotRunes) != len(inRunes) {
		t.Fatalf("MaskNumber(%q) = %q: %d runes, want %d", in, got, len(gotRunes), len(inRunes))
	}
	digits, shown := 0, 0
	for i, r := range inRunes {
		if unicode.IsDigit(r) {
			digits++
		}
		if unicode.IsDigit(gotRunes[i]) {
			shown++
			if gotRunes[i] != r {
				t.Errorf("MaskNumber(%q) = %q: rune %d is %q, want %q or *", in, got, i, gotRunes[i], r)
			}
		}
	}
	if shown*2 > digits {
		t.Errorf("MaskNumber(%q) = %q shows %d of %d digits, want at most half", in, got, shown, digits)
	}
	if !utf8.ValidString(got) {
		t.Errorf("MaskNumber(%q) = %q is not valid UTF-8", in, got)
	}
}

func TestMaskDigits(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"Twilio 21211 message",
			"The 'To' number +14155551234 is not a valid phone number.",
			"The 'To' number +1******1234 is not a valid phone number."},
		{"Twilio 21610 message",
			"Attempt to send to unsubscribed recipient +447911123456",
			"Attempt to send to unsubscribed recipient +44******3456"},
		{"Vonage number without plus",
			"Invalid Message: 447911123456 is barred",
			"Invalid Message: 44******3456 is barred"},
		{"no digits", "Bad Credentials", "Bad Credentials"},
		{"empty", "", ""},
		{"error code stays", "Error 21211: see https://www.twilio.com/docs/errors/21211", "Error 21211: see https://www.twilio.com/docs/errors/21211"},
		{"five digits stay", "12345", "12345"},
		{"six digits are masked", "123456", "1***56"},
		{"two codes apart stay", "codes 21211 and 21614", "codes 21211 and 21614"},
		{"formatted number", "call +1 (415) 555-1234 now", "call +1 (***) ***-1234 now"},
		{"national formatted number", "(415) 555-1234", "(41*) ***-*234"},
		{"dashes", "415-555-1234", "41*-***-*234"},
		{"spaced digits", "1 2 3 4 5 6", "1 * * * 5 6"},
		{"two numbers", "from +14155551234 to +447911123456",
			"from +1******1234 to +44******3456"},
		{"number at start and end", "+14155551234 x 14155551234", "+1******1234 x 1******1234"},
		{"trailing punctuation stays", "number +14155551234.", "number +1******1234."},
		{"three separators split runs", "21211 - 123 - 456", "21211 - 123 - 456"},
		{"plus then space", "+ 14155551234", "+ 1******1234"},
		{"lone plus", "a+b and c+", "a+b and c+"},
		{"digits glued to letters", "SM14155551234x", "SM1******1234x"},
		{"quoted", `"to":"+14155551234"`, `"to":"+1******1234"`},
		{"fullwidth digits", "number ４１５５５５１２３４", "number ４*****１２３４"},
		{"invalid UTF-8 around", "\xff14155551234\xff", "\xff1******1234\xff"},
		{"long run", "id " + strings.Repeat("9", 30), "id 9" + strings.Repeat("*", 25) + "9999"},
		{"multi-byte text kept", "Numéro 14155551234 invalide ✗", "Numéro 1******1234 invalide ✗"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := maskDigits(tt.in)
			if got != tt.want {
				t.Errorf("maskDigits(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if n := longestDigitRun(got); n >= minMaskedRunDigits {
				t.Errorf("maskDigits(%q) = %q keeps %d digits in a row", tt.in, got, n)
			}
		})
	}
}

// longestDigitRun returns the length of the longest run of consecutive
// digits in s.
func longestDigitRun(s string) int {
	longest, cur := 0, 0
	for _, r := range s {
		if unicode.IsDigit(r) {
			cur++
			longest = max(longest, cur)
		} else {
			cur = 0
		}
	}
	return longest
}

func TestMaskDigitsLeavesCleanTextAlone(t *testing.T) {
	in := "Authenticate: the account is suspended"
	allocs := testing.AllocsPerRun(100, func() { _ = maskDigits(in) })
	if allocs != 0 {
		t.Errorf("maskDigits on text without digits allocates %v times, want 0", allocs)
	}
	if got := maskDigits(in); got != in {
		t.Errorf("maskDigits(%q) = %q, want it unchanged", in, got)
	}
}
