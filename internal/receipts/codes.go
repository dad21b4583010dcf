package receipts

import (
	"github.com/nyaruka/phonenumbers"

	"github.com/fluxkit/sms/internal/sms"
)

// The error codes of a record that a receipt says was not delivered; the
// provider's own code is the error's providerCode.
const (
	// CodeUndelivered: the provider sent the message, and the carrier or
	// the handset did not take it (Twilio undelivered, Vonage failed or
	// rejected).
	CodeUndelivered = "undelivered"
	// CodeSendFailed: the provider accepted the message and then could not
	// send it (Twilio failed).
	CodeSendFailed = "send_failed"
	// CodeCanceled: the provider canceled the message (Twilio canceled).
	CodeCanceled = "canceled"
	// CodeExpired: the message's validity ended before it was delivered
	// (Twilio error 30036, Vonage expired).
	CodeExpired = "expired"
)

func failure(code, message, providerCode string) *sms.Failure {
	return &sms.Failure{Code: code, Message: message, ProviderCode: providerCode}
}

// Region returns the ISO 3166-1 region of an E.164 number ("GB", "US"),
// "001" for a non-geographic one, or "" when it is none. Logs name a
// recipient's region, never the number.
func Region(number string) string {
	if len(number) < 2 || number[0] != '+' {
		return ""
	}
	n, err := phonenumbers.Parse(number, "")
	if err != nil {
		return ""
	}
	return phonenumbers.GetRegionCodeForNumber(n)
}
