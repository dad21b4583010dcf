package sms

import (
	"strings"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
	"google.golang.org/protobuf/proto"
)

// Limits of the request fields (README.md#http-api, docs/openapi.yaml).
const (
	// MaxBodyChars is the longest body accepted, in Unicode code points.
	MaxBodyChars = 1600
	// maxSenderIDLen is the longest alphanumeric sender ID.
	maxSenderIDLen = 11
	// minE164Digits and maxE164Digits bound the digits after the "+": a
	// country code and at least one more digit, at most 15 in all. There is
	// no higher minimum: libphonenumber judges a recipient, and valid
	// numbers of 7 digits or fewer exist (+683 Niue, +290 Saint Helena and
	// Tristan da Cunha, +690 Tokelau).
	minE164Digits = 2
	maxE164Digits = 15
	// messagingServiceSIDLen is the length of a Twilio Messaging Service
	// SID: "MG" followed by 32 hexadecimal digits.
	messagingServiceSIDLen = 34
)

// Validate checks m.To, m.Body and, when it is set, m.From, in that order,
// and returns the first failure as a KindInvalid *Error naming the field.
// An empty From means the default sender and is not checked here.
func (m Message) Validate() error {
	_, err := m.validate()
	return err
}

// validate is Validate keeping libphonenumber's view of m.To, which the
// destination rules (Guard) look at.
func (m Message) validate() (recipient, error) {
	r, err := parseTo(m.To)
	if err != nil {
		return recipient{}, err
	}
	if err := ValidateBody(m.Body); err != nil {
		return recipient{}, err
	}
	if m.From != "" {
		if err := ValidateFrom(m.From); err != nil {
			return recipient{}, err
		}
	}
	return r, nil
}

// recipient is a valid `to` number as libphonenumber sees it.
type recipient struct {
	num *phonenumbers.PhoneNumber
	// typ is the number's type; never UNKNOWN for a valid number.
	typ phonenumbers.PhoneNumberType
}

// ValidateTo checks that to is a recipient number in canonical E.164 form:
// "+" followed by at most 15 digits, the first of which is not 0, that
// libphonenumber considers a valid number and that is written exactly as
// libphonenumber formats it in E.164 (so "+4402079460000", whose national
// prefix 0 libphonenumber would silently drop, is refused rather than
// rewritten). Failures are KindInvalid *Error values with code
// CodeInvalidTo and field "to"; their messages never repeat the input.
func ValidateTo(to string) error {
	_, err := parseTo(to)
	return err
}

// parseTo is ValidateTo returning the number and its type. libphonenumber
// calls a number valid exactly when its type is not UNKNOWN (IsValidNumber
// and GetNumberType both match the number against its region's metadata,
// TestNumberTypeMatchesValidity checks it), so one GetNumberType both
// validates and classifies: the destination rules cost no second pass.
func parseTo(to string) (recipient, error) {
	if to == "" {
		return recipient{}, invalidTo("is required")
	}
	if reason := e164ShapeProblem(to); reason != "" {
		return recipient{}, invalidTo(reason)
	}
	num, ccLen, ok := e164Number(to[1:])
	if ok {
		if typ := phonenumbers.GetNumberType(num); typ != phonenumbers.UNKNOWN && phonenumbers.Format(num, phonenumbers.E164) == to {
			return recipient{num: num, typ: typ}, nil
		}
	}
	// A national prefix written after the country code ("+44 0…"): say so,
	// rather than only that the number is invalid.
	if ok && to[1+ccLen] == '0' {
		trimmed := to[1:1+ccLen] + strings.TrimLeft(to[1+ccLen:], "0")
		if alt, _, ok := e164Number(trimmed); ok && phonenumbers.IsValidNumber(alt) {
			return recipient{}, invalidTo("is not in canonical E.164 form (remove the national prefix after the country code)")
		}
	}
	return recipient{}, invalidTo("is not a valid phone number for its country code")
}

// e164Number builds libphonenumber's number from the digits of an E.164
// string of the right shape, without phonenumbers.Parse: Parse accepts any
// written form and spends most of validation's time in regular expressions
// finding the number in it, which a strict E.164 string does not need.
// Country codes are prefix-free, so the first 1, 2 or 3 digits that name a
// known country code are the one. Leading zeros of the national number are
// kept as libphonenumber keeps them (Italian numbers), so Format gives the
// input back exactly when it is canonical. TestE164NumberMatchesParse
// checks it against Parse for every region's example numbers.
func e164Number(digits string) (num *phonenumbers.PhoneNumber, ccLen int, ok bool) {
	for n := 1; n <= 3 && n < len(digits); n++ {
		cc := 0
		for _, c := range digits[:n] {
			cc = cc*10 + int(c-'0')
		}
		if phonenumbers.GetRegionCodeForCountryCode(cc) == phonenumbers.UNKNOWN_REGION {
			continue
		}
		national := digits[n:]
		var nn uint64
		for _, c := range national {
			nn = nn*10 + uint64(c-'0')
		}
		num = &phonenumbers.PhoneNumber{}
		num.CountryCode = proto.Int32(int32(cc))
		num.NationalNumber = proto.Uint64(nn)
		if zeros := len(national) - len(strings.TrimLeft(national, "0")); zeros > 0 {
			num.ItalianLeadingZero = proto.Bool(true)
			if zeros > 1 {
				num.NumberOfLeadingZeros = proto.Int32(int32(zeros))
			}
		}
		return num, n, true
	}
	return nil, 0, false
}

// ValidateBody checks that body is valid UTF-8 and holds 1 to MaxBodyChars
// Unicode code points. As docs/openapi.yaml says, no character is forbidden:
// control characters, including NUL, are accepted (they force UCS-2, see
// CountSegments) and left to the provider to judge. Failures are KindInvalid
// *Error values with code CodeInvalidBody and field "body".
func ValidateBody(body string) error {
	if body == "" {
		return invalidBody("is required and must not be empty")
	}
	if !utf8.ValidString(body) {
		return invalidBody("must be valid UTF-8")
	}
	// Each code point takes at least one byte, so a short string needs no
	// counting.
	if len(body) > MaxBodyChars && utf8.RuneCountInString(body) > MaxBodyChars {
		return invalidBody("must be at most 1600 characters")
	}
	return nil
}

// ValidateFrom checks a sender chosen by the caller: either an E.164 number
// ("+" followed by 2 to 15 digits, the first not 0) or an alphanumeric sender
// ID of 1 to maxSenderIDLen characters from A-Z, a-z, 0-9 and space with at
// least one letter. A sender number is checked for its E.164 shape only, not
// against libphonenumber's ranges: it is one of the deployment's own numbers
// (SMS_ALLOWED_SENDERS restricts which), newly allocated ranges may be
// missing from the library's metadata, and the provider itself refuses a
// sender the account does not own. A Messaging Service SID is not accepted
// here; only the configured default sender may be one (see
// ValidateDefaultSender). Failures are KindInvalid *Error values with code
// CodeInvalidFrom and field "from".
func ValidateFrom(from string) error {
	if from == "" {
		return invalidFrom("must not be empty when given")
	}
	if from[0] == '+' {
		if reason := e164ShapeProblem(from); reason != "" {
			return invalidFrom(reason)
		}
		return nil
	}
	if reason := senderIDProblem(from); reason != "" {
		return invalidFrom(reason)
	}
	return nil
}

// ValidateDefaultSender checks the configured default sender (SMS_FROM): what
// ValidateFrom accepts, or a Twilio Messaging Service SID ("MG" followed by
// 32 hexadecimal digits). Whether a Messaging Service SID suits the chosen
// provider is the configuration's concern. Failures are KindInvalid *Error
// values with code CodeInvalidFrom and field "from"; the configuration
// loader reports them under the variable's name.
func ValidateDefaultSender(from string) error {
	if IsMessagingServiceSID(from) {
		return nil
	}
	if err := ValidateFrom(from); err != nil {
		if len(from) == messagingServiceSIDLen && from[:2] == "MG" {
			return invalidFrom("is neither a sender nor a Messaging Service SID (MG followed by 32 hexadecimal digits)")
		}
		return err
	}
	return nil
}

// e164ShapeProblem returns why s is not "+" followed by 2 to 15 digits with
// a non-zero first digit, or "" when it is.
func e164ShapeProblem(s string) string {
	if s[0] != '+' {
		return "must be in E.164 format: + followed by the country code and number, without spaces or punctuation"
	}
	digits := s[1:]
	for i := 0; i < len(digits); i++ {
		if c := digits[i]; c < '0' || c > '9' {
			return "must contain only digits after the +, without spaces or punctuation"
		}
	}
	switch {
	case len(digits) < minE164Digits:
		return "is too short: E.164 needs a country code and a number after the +"
	case len(digits) > maxE164Digits:
		return "is too long: E.164 allows at most 15 digits after the +"
	case digits[0] == '0':
		return "must not start with 0 after the + (country codes never start with 0)"
	}
	return ""
}

// senderIDProblem returns why s is not an alphanumeric sender ID, or "".
func senderIDProblem(s string) string {
	letter := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
			letter = true
		case c >= '0' && c <= '9', c == ' ':
		default:
			return "must be an E.164 number (+ and digits) or an alphanumeric sender ID of A-Z, a-z, 0-9 and space"
		}
	}
	switch {
	case len(s) > maxSenderIDLen:
		return "is longer than 11 characters, the limit for an alphanumeric sender ID"
	case !letter:
		return "must contain at least one letter to be an alphanumeric sender ID (a phone number must start with +)"
	}
	return ""
}

// IsMessagingServiceSID reports whether s is a Twilio Messaging Service
// SID: "MG" followed by 32 hexadecimal digits. Twilio takes one as
// MessagingServiceSid instead of From.
func IsMessagingServiceSID(s string) bool {
	if len(s) != messagingServiceSIDLen || s[:2] != "MG" {
		return false
	}
	for i := 2; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func invalidTo(reason string) error { return InvalidField("to", reason) }

func invalidBody(reason string) error { return InvalidField("body", reason) }

func invalidFrom(reason string) error { return InvalidField("from", reason) }
