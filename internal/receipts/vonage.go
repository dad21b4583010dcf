package receipts

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/vonage"
)

// vonage reads and verifies a Vonage delivery receipt: a GET with the
// receipt in the query, or a POST with it as a form or a JSON object. With
// a signature secret it is verified by its sig (vonage.CheckSignature)
// and its timestamp must be within MaxTimestampSkew; without one, by the
// token query parameter of the receipt URL the operator set.
func (h *Handler) vonage(ctx context.Context, r Request) receipt {
	rc := receipt{provider: ProviderVonage}
	params, ref := h.vonageParams(r)
	if ref != nil {
		rc.refusal = ref
		return rc
	}
	if rf := h.verifyVonage(ctx, r.Query, params); rf != nil {
		rc.refusal = rf
		return rc
	}

	rc.providerStatus = params.Get("status")
	if msisdn := params.Get("msisdn"); msisdn != "" {
		rc.to = "+" + strings.TrimPrefix(msisdn, "+")
	}
	if ref := params.Get("client-ref"); sms.IsServiceIDShaped(ref) {
		rc.serviceID = ref
	}
	errCode := params.Get("err-code")
	st, failure, ok := VonageStatus(rc.providerStatus, errCode)
	if !ok {
		return rc
	}
	rc.mapped = true
	rc.optOut = errCode == vonageOptedOut && st != sms.StatusDelivered
	code := rc.providerStatus
	if errCode != "" && errCode != "0" {
		code = errCode
	}
	// Each part of a multipart message has its own receipt with its own
	// message id and the same client-ref: only the receipts of the part
	// the send path recorded, the first, decide (ForProviderMessageID).
	rc.change = sms.Change{
		Status: st, Error: failure, ProviderCode: code,
		Provider: ProviderVonage, ForProviderMessageID: params.Get("messageId"),
	}
	if sms.ValidateTo(rc.to) == nil {
		rc.change.To = rc.to
	}
	return rc
}

// vonageParams returns the receipt's parameters: the query of a GET, the
// form or JSON object of a POST.
func (h *Handler) vonageParams(r Request) (url.Values, *refusal) {
	switch r.Method {
	case http.MethodGet:
		return r.Query, nil
	case http.MethodPost:
	default:
		return nil, methodNotAllowed("GET, POST")
	}
	if len(r.Body) > maxBodyBytes {
		return nil, malformed(http.StatusRequestEntityTooLarge, codePayloadTooLarge, "the body is too large for a receipt")
	}
	mt, _, _ := mime.ParseMediaType(r.Headers.Get("Content-Type"))
	switch {
	case mt == "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(r.Body))
		if err != nil {
			return nil, malformed(http.StatusBadRequest, codeInvalidRequest, "the body is not a valid form")
		}
		return form, nil
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		p, err := jsonParams(r.Body)
		if err != nil {
			return nil, malformed(http.StatusBadRequest, codeInvalidRequest, "the body is not a JSON object of strings")
		}
		return p, nil
	}
	return nil, malformed(http.StatusUnsupportedMediaType, codeUnsupportedMediaType, "Content-Type must be application/json or application/x-www-form-urlencoded")
}

// jsonParams reads a JSON receipt: one object whose values are strings
// (numbers and booleans are taken as they are written, null as empty).
func jsonParams(body []byte) (url.Values, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, errNotObject
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errNotObject
	}
	p := make(url.Values, len(obj))
	for k, v := range obj {
		switch v := v.(type) {
		case string:
			p.Set(k, v)
		case json.Number:
			p.Set(k, v.String())
		case bool:
			p.Set(k, strconv.FormatBool(v))
		case nil:
			p.Set(k, "")
		default:
			return nil, errNotObject
		}
	}
	return p, nil
}

type jsonError string

func (e jsonError) Error() string { return string(e) }

const errNotObject = jsonError("not a JSON object of strings")

// verifyVonage verifies a receipt with the keys: by sig with a signature
// secret (then the timestamp must be within MaxTimestampSkew), by the
// token query parameter with only a receipts token; refused with neither.
func (h *Handler) verifyVonage(ctx context.Context, query, params url.Values) *refusal {
	k, err := h.keys.Keys(ctx)
	if err != nil {
		h.log.LogAttrs(ctx, slog.LevelError, "receipt keys unavailable", slog.String("error", err.Error()))
		return keysUnavailable()
	}
	switch {
	case k.VonageSignatureSecret != "":
		if params.Get("sig") == "" {
			return invalidSignature("no sig (the account signs its receipts: signatureSecret is set)")
		}
		if rf := h.verify(ctx, func(k Keys) bool {
			m := k.VonageSignatureMethod
			if m == "" {
				m = vonage.DefaultSignatureMethod
			}
			return k.VonageSignatureSecret != "" && vonage.CheckSignature(m, k.VonageSignatureSecret, params)
		}, "sig does not match"); rf != nil {
			return rf
		}
		ts, err := strconv.ParseInt(params.Get("timestamp"), 10, 64)
		if err != nil {
			return invalidSignature("no valid timestamp")
		}
		if skew := h.cfg.Clock.Now().Sub(time.Unix(ts, 0)); skew > MaxTimestampSkew || skew < -MaxTimestampSkew {
			return invalidSignature("timestamp outside the accepted window")
		}
		return nil
	case k.VonageReceiptsToken != "":
		tok := query.Get("token")
		if tok == "" {
			return invalidSignature("no token")
		}
		if rf := h.verify(ctx, func(k Keys) bool { return equalSecret(tok, k.VonageReceiptsToken) }, "token does not match"); rf != nil {
			return rf
		}
		return nil
	}
	return invalidSignature("neither signatureSecret nor receiptsToken is configured")
}

// vonageOptedOut is the DLR err-code "illegal number": the recipient
// opted out of the service.
const vonageOptedOut = "9"

// VonageStatus maps a delivery receipt's status and err-code to a record
// status and, for one that was not delivered, the failure: accepted,
// buffered and unknown are sent; delivered is delivered; expired is
// expired; failed and rejected are undelivered. ok is false for any other
// status.
func VonageStatus(status, errCode string) (st sms.Status, f *sms.Failure, ok bool) {
	switch status {
	case "accepted", "buffered", "unknown":
		return sms.StatusSent, nil, true
	case "delivered":
		return sms.StatusDelivered, nil, true
	case "expired":
		return sms.StatusExpired, failure(CodeExpired, "the message expired before it was delivered", nonZero(errCode)), true
	case "failed", "rejected":
		text, known := vonageErrors[errCode]
		if !known {
			text = "the message could not be delivered to the recipient's handset"
		}
		return sms.StatusUndelivered, failure(CodeUndelivered, text, nonZero(errCode)), true
	}
	return "", nil, false
}

// vonageErrors describes the DLR err-codes.
var vonageErrors = map[string]string{
	"1":  "the carrier reported an unknown error",
	"2":  "the recipient's handset is temporarily unreachable",
	"3":  "the recipient's handset is permanently unreachable",
	"4":  "the recipient's number is barred",
	"5":  "the recipient's number was ported and could not be reached",
	"6":  "the carrier's anti-spam filter rejected the message",
	"7":  "the recipient's handset is busy",
	"8":  "a network error prevented delivery",
	"9":  "the recipient has opted out of messages from this service",
	"10": "the carrier refused the message's content",
	"11": "the recipient's number cannot be routed to",
	"12": "the recipient's number is unreachable",
	"13": "the recipient is below the age restriction",
	"14": "the carrier blocked the message",
}

func nonZero(code string) string {
	if code == "0" {
		return ""
	}
	return code
}
