package sms

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// maskKeepLast is the most trailing digits a masked number shows.
const maskKeepLast = 4

// minMaskedRunDigits is how many digits a run of free text needs before
// maskDigits treats it as a phone number.
const minMaskedRunDigits = 6

// MaskNumber returns s with the digits of a phone number hidden, for logs:
// a leading "+", the country calling code and at most the last 4 digits stay
// visible, but never more than half of the digits, so "+14155551234" becomes
// "+1******1234" and "+123" becomes "+1**". The country code's length comes
// from libphonenumber's table of calling codes; when the digits start with
// none, one digit counts as the country code. Separators ( -.()) stay, every
// other character becomes "*", and the result has as many characters as s.
// Digits are counted with or without the "+", since Vonage writes numbers
// without it.
func MaskNumber(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	maskNumberTo(&b, s)
	return b.String()
}

// maskNumberTo writes the masked form of s to b.
func maskNumberTo(b *strings.Builder, s string) {
	digits := 0
	for _, r := range s {
		if unicode.IsDigit(r) {
			digits++
		}
	}
	visible := digits / 2
	head := min(countryCodeLen(s), visible)
	tail := min(maskKeepLast, visible-head)

	seen := 0
	for i, r := range s {
		switch {
		case i == 0 && r == '+':
			b.WriteByte('+')
		case unicode.IsDigit(r):
			seen++
			if seen <= head || seen > digits-tail {
				b.WriteRune(r)
			} else {
				b.WriteByte('*')
			}
		case isNumberSeparator(r):
			b.WriteRune(r)
		default:
			b.WriteByte('*')
		}
	}
}

// countryCodeLen returns the length of the calling code the ASCII digits of
// s start with (separators skipped), or 1 when they start with none.
func countryCodeLen(s string) int {
	code := 0
	n := 0
	for i := 0; i < len(s) && n < 3; i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			code = code*10 + int(c-'0')
			n++
			if code != 0 && phonenumbers.GetSupportedCallingCodes()[code] {
				return n
			}
		case c == '+' && i == 0, c < utf8.RuneSelf && isNumberSeparator(rune(c)):
		default:
			return 1
		}
	}
	return 1
}

// isNumberSeparator reports whether r is punctuation commonly written inside
// a phone number; MaskNumber keeps it and maskDigits lets it join digits.
func isNumberSeparator(r rune) bool {
	switch r {
	case ' ', '-', '.', '(', ')':
		return true
	}
	return false
}

// maskDigits masks every phone-number-like run in free text, such as a
// provider's error message, with MaskNumber's rule, so that "The 'To' number
// +14155551234 is not valid" becomes "The 'To' number +1******1234 is not
// valid". A run is an optional "+" and digits, possibly split by single
// separators or pairs of them (" -.()", as in "+1 (415) 555-1234"); it is
// masked when it holds at least 6 digits. Shorter runs, such as provider
// error codes like 21211, stay as they are. Any Unicode decimal digit
// counts as a digit.
func maskDigits(text string) string {
	first := -1
	for i, r := range text {
		if unicode.IsDigit(r) {
			first = i
			break
		}
	}
	if first < 0 {
		return text
	}
	var b strings.Builder
	b.Grow(len(text))
	i := first
	b.WriteString(text[:i])
	for i < len(text) {
		r, size := utf8.DecodeRuneInString(text[i:])
		start := i
		if r == '+' {
			if next, _ := utf8.DecodeRuneInString(text[i+size:]); !unicode.IsDigit(next) {
				b.WriteString(text[i : i+size])
				i += size
				continue
			}
		} else if !unicode.IsDigit(r) {
			b.WriteString(text[i : i+size])
			i += size
			continue
		}
		end, digits := numberRunEnd(text, start)
		if digits >= minMaskedRunDigits {
			maskNumberTo(&b, text[start:end])
		} else {
			b.WriteString(text[start:end])
		}
		i = end
	}
	return b.String()
}

// numberRunEnd returns where the number-like run starting at text[start]
// (a "+" or a digit) ends and how many digits it holds. The run ends at its
// last digit: separators join digits only when at most two of them stand
// between digits.
func numberRunEnd(text string, start int) (end, digits int) {
	i := start
	if text[i] == '+' {
		i++
	}
	end = i
	for i < len(text) {
		r, size := utf8.DecodeRuneInString(text[i:])
		if unicode.IsDigit(r) {
			digits++
			i += size
			end = i
			continue
		}
		// Look past at most two separators for another digit.
		j := i
		seps := 0
		for j < len(text) && seps < 2 {
			sr, ssize := utf8.DecodeRuneInString(text[j:])
			if !isNumberSeparator(sr) {
				break
			}
			j += ssize
			seps++
		}
		if seps == 0 || j >= len(text) {
			break
		}
		if next, _ := utf8.DecodeRuneInString(text[j:]); !unicode.IsDigit(next) {
			break
		}
		i = j
	}
	return end, digits
}
