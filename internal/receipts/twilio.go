package receipts

import (
	"context"
	"mime"
	"net/http"
	"net/url"

	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/twilio"
)

// twilio reads and verifies a Twilio status callback: a form-encoded POST
// to TwilioURL()?ref=<service id>, signed in X-Twilio-Signature over that
// URL and the form (twilio.CheckSignature).
func (h *Handler) twilio(ctx context.Context, r Request) receipt {
	rc := receipt{provider: ProviderTwilio}
	if r.Method != http.MethodPost {
		rc.refusal = methodNotAllowed(http.MethodPost)
		return rc
	}
	if mt, _, err := mime.ParseMediaType(r.Headers.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		rc.refusal = malformed(http.StatusUnsupportedMediaType, codeUnsupportedMediaType, "Content-Type must be application/x-www-form-urlencoded")
		return rc
	}
	if len(r.Body) > maxBodyBytes {
		rc.refusal = malformed(http.StatusRequestEntityTooLarge, codePayloadTooLarge, "the body is too large for a receipt")
		return rc
	}
	form, err := url.ParseQuery(string(r.Body))
	if err != nil {
		rc.refusal = malformed(http.StatusBadRequest, codeInvalidRequest, "the body is not a valid form")
		return rc
	}
	if h.cfg.PublicURL == "" {
		rc.refusal = invalidSignature("SMS_PUBLIC_URL is not set")
		return rc
	}
	signed, ref := h.twilioSignedURL(r.Query)
	sig := r.Headers.Get("X-Twilio-Signature")
	if sig == "" {
		rc.refusal = invalidSignature("no X-Twilio-Signature")
		return rc
	}
	if rf := h.verify(ctx, func(k Keys) bool { return twilio.CheckSignature(k.TwilioAuthToken, signed, form, sig) }, "X-Twilio-Signature does not match"); rf != nil {
		rc.refusal = rf
		return rc
	}

	rc.providerStatus = first(form, "MessageStatus", "SmsStatus")
	rc.to = form.Get("To")
	if sms.IsServiceIDShaped(ref) {
		rc.serviceID = ref
	}
	errorCode := form.Get("ErrorCode")
	if errorCode == "0" {
		errorCode = ""
	}
	st, failure, ok := TwilioStatus(rc.providerStatus, errorCode)
	if !ok {
		return rc
	}
	rc.mapped = true
	rc.optOut = errorCode == twilioOptedOut
	rc.change = sms.Change{
		Status: st, Error: failure, ProviderCode: orElse(errorCode, rc.providerStatus),
		Provider: ProviderTwilio, ProviderMessageID: first(form, "MessageSid", "SmsSid"),
	}
	if sms.ValidateTo(rc.to) == nil {
		rc.change.To = rc.to
	}
	return rc
}

// twilioSignedURL rebuilds the URL Twilio called, and signed, from the
// configured public URL, the route's fixed path and the ref received (the
// only query parameter the service puts in the StatusCallback), never
// from the event's own path: a custom domain's mapping or a stage may
// change that. A callback without ref (configured by hand on a Messaging
// Service) was signed without a query.
func (h *Handler) twilioSignedURL(q url.Values) (signed, ref string) {
	signed = h.TwilioURL()
	if !q.Has("ref") {
		return signed, ""
	}
	ref = q.Get("ref")
	return signed + "?" + url.Values{"ref": {ref}}.Encode(), ref
}

// twilioOptedOut is Twilio's error "attempt to send to unsubscribed
// recipient": the recipient replied STOP.
const twilioOptedOut = "21610"

// twilioExpired is Twilio's error "message delivery - validity period
// expired".
const twilioExpired = "30036"

// TwilioStatus maps a status callback's MessageStatus and ErrorCode to a
// record status and, for one that was not delivered, the failure:
// queued, accepted, sending and sent are sent; delivered and read are
// delivered; undelivered is undelivered; failed and canceled are failed;
// any of them with error 30036 (validity period expired) is expired. ok is
// false for statuses that are not about an outbound message's delivery
// (scheduled, receiving, received, partially_delivered, anything else).
func TwilioStatus(status, errorCode string) (st sms.Status, f *sms.Failure, ok bool) {
	switch status {
	case "queued", "accepted", "sending", "sent":
		st = sms.StatusSent
	case "delivered", "read":
		st = sms.StatusDelivered
	case "undelivered":
		st = sms.StatusUndelivered
		f = failure(CodeUndelivered, twilioErrorText(errorCode, "the message could not be delivered to the recipient's handset"), errorCode)
	case "failed":
		st = sms.StatusFailed
		f = failure(CodeSendFailed, twilioErrorText(errorCode, "the provider could not send the message"), errorCode)
	case "canceled":
		st = sms.StatusFailed
		f = failure(CodeCanceled, "the provider canceled the message", errorCode)
	default:
		return "", nil, false
	}
	if errorCode == twilioExpired && st != sms.StatusDelivered {
		st, f = sms.StatusExpired, failure(CodeExpired, "the message's validity period ended before it was delivered", errorCode)
	}
	return st, f, true
}

// twilioErrors describes the delivery errors of status callbacks that a
// message's owner can act on.
var twilioErrors = map[string]string{
	"21610": "the recipient has opted out of messages from this sender",
	"30003": "the recipient's handset is unreachable",
	"30004": "the message was blocked",
	"30005": "the recipient's number is unknown or no longer in service",
	"30006": "the recipient's number is a landline or its carrier is unreachable",
	"30007": "the carrier filtered the message",
	"30008": "the message could not be delivered for an unknown reason",
	"30034": "the sender is not registered for messages to this destination",
}

func twilioErrorText(code, fallback string) string {
	if t, ok := twilioErrors[code]; ok {
		return t
	}
	return fallback
}

// first returns the first of the named form values that is set.
func first(form url.Values, names ...string) string {
	for _, n := range names {
		if v := form.Get(n); v != "" {
			return v
		}
	}
	return ""
}

func orElse(v, fallback string) string {
	if v != "" {
		return v
	}
	return fallback
}
