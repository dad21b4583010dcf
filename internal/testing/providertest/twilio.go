package providertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The credentials a Twilio fake expects unless told otherwise. They are
// test values with the real formats, not secrets.
const (
	TwilioAccountSID   = "AC5ca1ab1e0ddba11c0ffee5eed0fface5"
	TwilioAuthToken    = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
	TwilioAPIKeySID    = "SK0123456789abcdef0123456789abcdef"
	TwilioAPIKeySecret = "fakeApiKeySecretFakeApiKeySecret"
	// TwilioMessagingServiceSID is a well-formed Messaging Service SID.
	TwilioMessagingServiceSID = "MG00112233445566778899aabbccddeeff"
	// TwilioFrom is the sender Twilio's test credentials accept.
	TwilioFrom = "+15005550006"
)

// Twilio's magic test numbers, as its test credentials know them: a message
// to or from one of them fails with the given error code.
var (
	twilioMagicTo = map[string]int{
		"+15005550001": 21211, // invalid number
		"+15005550002": 21612, // cannot route
		"+15005550003": 21408, // no permission for the region
		"+15005550004": 21610, // opted out
		"+15005550009": 21614, // not a mobile number
	}
	twilioMagicFrom = map[string]int{
		"+15005550001": 21212, // invalid sender
		"+15005550007": 21606, // not owned by the account
		"+15005550008": 21611, // sender queue full
	}
)

// twilioTexts are Twilio's error messages as the fake writes them; %s is
// the offending value where the real text shows it.
var twilioTexts = map[int]string{
	20003: "Authenticate",
	20004: "Method not allowed",
	20404: "The requested resource %s was not found",
	20429: "Too Many Requests",
	20500: "An internal server error has occurred",
	20503: "Service is unavailable. Please try again",
	21211: "The 'To' number %s is not a valid phone number.",
	21212: "The 'From' number %s is not a valid phone number, shortcode, or alphanumeric sender ID.",
	21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: %s.",
	21602: "Message body is required.",
	21603: "A 'From' phone number is required.",
	21604: "A 'To' phone number is required.",
	21606: "The 'From' phone number provided (%s) is not a valid message-capable Twilio phone number for this destination/account.",
	21608: "The number %s is unverified. Trial accounts may only send messages to verified numbers.",
	21610: "Attempt to send to unsubscribed recipient",
	21611: "This 'From' number has exceeded the maximum number of queued messages",
	21612: "The 'To' phone number: %s, is not currently reachable using the 'From' phone number via SMS.",
	21614: "To number: %s, is not a mobile number",
	21617: "The concatenated message body exceeds the 1600 character limit.",
	21624: "Validity period can only be set to integers between 1 and 36,000 seconds (10 hours max).",
	21635: "The 'To' number %s is a landline and cannot receive SMS.",
	21659: "The 'From' number %s is not a Twilio phone number or short code.",
	21660: "Mismatch between the 'From' number %s and the account.",
	21701: "The Messaging Service Sid %s is invalid.",
	21703: "The Messaging Service does not have a phone number available to send a message.",
	21704: "The Messaging Service contains no phone numbers.",
	21705: "The Messaging Service is invalid.",
}

var (
	twilioPath  = regexp.MustCompile(`^/2010-04-01/Accounts/([^/]+)/Messages\.json$`)
	accountSID  = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	serviceSID  = regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`)
	e164        = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)
	shortCode   = regexp.MustCompile(`^[0-9]{3,8}$`)
	alphaSender = regexp.MustCompile(`^[A-Za-z0-9 ]{1,11}$`)
	hasLetter   = regexp.MustCompile(`[A-Za-z]`)
)

// twilioMaxBody is the longest Body Twilio accepts, in characters.
const twilioMaxBody = 1600

// Twilio is a fake of Twilio's Create Message API:
// POST /2010-04-01/Accounts/{AccountSid}/Messages.json.
//
// It requires POST, an account SID of the right form in the path, HTTP
// Basic auth with the account SID and auth token or with the API key pair
// (401/20003 otherwise, also when the path names another account), and a
// form body with To in E.164 with "+" (21604 missing, 21211 malformed),
// From or MessagingServiceSid (21603 when neither, 21212 for a From that is
// no number, short code or alphanumeric ID, 21701 for a malformed service
// SID, 21606 for a From outside WithTwilioSenders when that is set), a
// Body of 1 to 1600 characters (21602, 21617), and, when given, a
// ValidityPeriod of 1 to 36000 whole seconds (21624). The magic test numbers of
// Twilio's test credentials fail with their codes. Errors come in Twilio's
// envelope {code, message, more_info, status}.
//
// An accepted message gets 201 and a Message resource: sid "SM" + 32 hex,
// status "queued" (or "accepted" when only a Messaging Service was given),
// num_segments as a string counted with the GSM-7/UCS-2 rules ("0" while a
// Messaging Service has yet to pick the sender), dates in RFC 2822.
type Twilio struct {
	*core
}

// NewTwilio starts a Twilio fake on a loopback port for the duration of
// the test.
func NewTwilio(t testing.TB, opts ...Option) *Twilio {
	t.Helper()
	f, err := StartTwilio("127.0.0.1:0", opts...)
	if err != nil {
		t.Fatalf("start Twilio fake: %v", err)
	}
	t.Cleanup(f.Close)
	return f
}

// StartTwilio starts a Twilio fake listening on addr (e.g.
// "127.0.0.1:0"). The caller must Close it.
func StartTwilio(addr string, opts ...Option) (*Twilio, error) {
	f := &Twilio{}
	c, err := listen(addr, newConfig(opts), (*twilioWire)(f))
	if err != nil {
		return nil, err
	}
	f.core = c
	c.srv.Start()
	return f, nil
}

// WithTwilioAccount sets the account SID and auth token the Twilio fake
// expects.
func WithTwilioAccount(sid, token string) Option {
	return func(c *config) { c.twilioAccountSID, c.twilioAuthToken = sid, token }
}

// WithTwilioAPIKey sets the API key pair the Twilio fake accepts (an empty
// sid accepts none).
func WithTwilioAPIKey(sid, secret string) Option {
	return func(c *config) { c.twilioKeySID, c.twilioKeySecret = sid, secret }
}

// WithTwilioSenders limits the From values the account owns; any other
// well-formed From gets 21606. By default every well-formed From is owned.
func WithTwilioSenders(from ...string) Option {
	return func(c *config) { c.twilioSenders = slices.Clone(from) }
}

// twilioWire is the Twilio wire format over the fake's state.
type twilioWire Twilio

func (tw *twilioWire) parse(r *http.Request, rec *Request) {
	if user, pass, ok := r.BasicAuth(); ok {
		rec.Auth = Auth{Scheme: "basic", User: user, Secret: pass}
	}
	// Only a form body carries parameters; anything else reads as none.
	if err := r.ParseForm(); err == nil {
		rec.Params = r.PostForm
	}
}

func (tw *twilioWire) receipts(rec *Request) func(a Accepted, fates []Fate) [][]post {
	return tw.twilioReceipts(rec.Params)
}

func (tw *twilioWire) handle(rec *Request, f *Fault) answer {
	cfg := &tw.cfg
	switch {
	case f != nil && f.Code != 0:
		return twilioError(orDefault(f.Status, http.StatusBadRequest), f.Code, f.Message, faultSubject(f.Code, rec.Params))
	case f != nil && f.Status != 0:
		return twilioError(f.Status, twilioHTTPCode(f.Status), f.Message)
	case rec.Method != http.MethodPost:
		return twilioError(http.StatusMethodNotAllowed, 20004, "")
	}
	m := twilioPath.FindStringSubmatch(rec.Path)
	if m == nil || !accountSID.MatchString(m[1]) {
		return twilioError(http.StatusNotFound, 20404, "", rec.Path)
	}
	if !tw.authorized(rec.Auth) || m[1] != cfg.twilioAccountSID {
		return twilioError(http.StatusUnauthorized, 20003, "")
	}

	p := rec.Params
	to, from, body, service := p.Get("To"), p.Get("From"), p.Get("Body"), p.Get("MessagingServiceSid")
	switch {
	case to == "":
		return twilioError(http.StatusBadRequest, 21604, "")
	case !e164.MatchString(to):
		return twilioError(http.StatusBadRequest, 21211, "", to)
	case from == "" && service == "":
		return twilioError(http.StatusBadRequest, 21603, "")
	case service != "" && !serviceSID.MatchString(service):
		return twilioError(http.StatusBadRequest, 21701, "", service)
	case from != "" && !validTwilioSender(from):
		return twilioError(http.StatusBadRequest, 21212, "", from)
	case from != "" && cfg.twilioSenders != nil && !slices.Contains(cfg.twilioSenders, from):
		return twilioError(http.StatusBadRequest, 21606, "", from)
	case body == "":
		return twilioError(http.StatusBadRequest, 21602, "")
	case utf8.RuneCountInString(body) > twilioMaxBody:
		return twilioError(http.StatusBadRequest, 21617, "")
	}
	validity, ok := twilioValidity(p)
	if !ok {
		return twilioError(http.StatusBadRequest, 21624, "")
	}
	if code, ok := twilioMagicTo[to]; ok {
		return twilioError(http.StatusBadRequest, code, "", to)
	}
	if code, ok := twilioMagicFrom[from]; ok {
		return twilioError(http.StatusBadRequest, code, "", from)
	}
	ans := tw.accept(to, from, body, service)
	ans.accepted.Validity = validity
	return ans
}

// twilioValidity reads ValidityPeriod: absent, or whole seconds from 1 to
// 36000.
func twilioValidity(p url.Values) (time.Duration, bool) {
	if !p.Has("ValidityPeriod") {
		return 0, true
	}
	n, err := strconv.Atoi(p.Get("ValidityPeriod"))
	if err != nil || n < 1 || n > 36000 {
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}

func (tw *twilioWire) authorized(a Auth) bool {
	cfg := &tw.cfg
	switch {
	case a.Scheme != "basic":
		return false
	case a.User == cfg.twilioAccountSID:
		return a.Secret == cfg.twilioAuthToken
	case cfg.twilioKeySID != "" && a.User == cfg.twilioKeySID:
		return a.Secret == cfg.twilioKeySecret
	}
	return false
}

// validTwilioSender reports whether from is an E.164 number, a short code
// or an alphanumeric sender ID (1-11 of A-Z a-z 0-9 and space, with a
// letter).
func validTwilioSender(from string) bool {
	return e164.MatchString(from) || shortCode.MatchString(from) ||
		alphaSender.MatchString(from) && hasLetter.MatchString(from)
}

// twilioMessage is the Message resource as Twilio returns it.
type twilioMessage struct {
	AccountSID          string            `json:"account_sid"`
	APIVersion          string            `json:"api_version"`
	Body                string            `json:"body"`
	DateCreated         string            `json:"date_created"`
	DateSent            *string           `json:"date_sent"`
	DateUpdated         string            `json:"date_updated"`
	Direction           string            `json:"direction"`
	ErrorCode           *int              `json:"error_code"`
	ErrorMessage        *string           `json:"error_message"`
	From                *string           `json:"from"`
	MessagingServiceSID *string           `json:"messaging_service_sid"`
	NumMedia            string            `json:"num_media"`
	NumSegments         string            `json:"num_segments"`
	Price               *string           `json:"price"`
	PriceUnit           string            `json:"price_unit"`
	SID                 string            `json:"sid"`
	Status              string            `json:"status"`
	SubresourceURIs     map[string]string `json:"subresource_uris"`
	To                  string            `json:"to"`
	URI                 string            `json:"uri"`
}

func (tw *twilioWire) accept(to, from, body, service string) answer {
	now := tw.cfg.clock.Now().UTC()
	sid := "SM" + randomHex(16)
	ucs2 := needsUCS2(body)
	parts := len(splitParts(body, ucs2))
	base := "/2010-04-01/Accounts/" + tw.cfg.twilioAccountSID + "/Messages/" + sid
	date := now.Format(time.RFC1123Z)
	msg := twilioMessage{
		AccountSID:      tw.cfg.twilioAccountSID,
		APIVersion:      "2010-04-01",
		Body:            body,
		DateCreated:     date,
		DateUpdated:     date,
		Direction:       "outbound-api",
		NumMedia:        "0",
		NumSegments:     strconv.Itoa(parts),
		PriceUnit:       "USD",
		SID:             sid,
		Status:          "queued",
		SubresourceURIs: map[string]string{"media": base + "/Media.json"},
		To:              to,
		URI:             base + ".json",
	}
	if from != "" {
		msg.From = &from
	}
	if service != "" {
		msg.MessagingServiceSID = &service
		if from == "" {
			// The service picks the sender later; segments are not
			// counted yet.
			msg.Status, msg.NumSegments = "accepted", "0"
		}
	}
	out, err := json.Marshal(msg)
	if err != nil {
		panic(fmt.Sprintf("providertest: encode message: %v", err))
	}
	enc := "GSM-7"
	if ucs2 {
		enc = "UCS-2"
	}
	return answer{
		status: http.StatusCreated,
		header: twilioHeader(),
		body:   out,
		accepted: &Accepted{
			ID: sid, At: now, To: to, From: from, Body: body,
			MessagingServiceSID: service, Parts: parts, Encoding: enc,
		},
	}
}

// faultSubject is the value a fault's default text names: the From of the
// request when the text is about the sender, else its To.
func faultSubject(code int, p url.Values) string {
	if strings.Contains(twilioTexts[code], "'From'") {
		return p.Get("From")
	}
	return p.Get("To")
}

// twilioHTTPCode is the Twilio error code that goes with an HTTP status.
func twilioHTTPCode(status int) int {
	if status == http.StatusUnauthorized {
		return 20003
	}
	return 20000 + status
}

// twilioError answers Twilio's error envelope. args fill the default text.
func twilioError(status, code int, text string, args ...any) answer {
	if text == "" {
		text = twilioTexts[code]
		if text == "" {
			text = http.StatusText(status)
		}
		if strings.Contains(text, "%s") {
			text = fmt.Sprintf(text, args...)
		}
	}
	out, err := json.Marshal(struct {
		Code     int    `json:"code"`
		Message  string `json:"message"`
		MoreInfo string `json:"more_info"`
		Status   int    `json:"status"`
	}{code, text, "https://www.twilio.com/docs/errors/" + strconv.Itoa(code), status})
	if err != nil {
		panic(fmt.Sprintf("providertest: encode error: %v", err))
	}
	h := twilioHeader()
	if status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Basic realm="Twilio API"`)
	}
	return answer{status: status, header: h, body: out, code: strconv.Itoa(code)}
}

func twilioHeader() http.Header {
	return http.Header{
		"Content-Type":      {"application/json; charset=utf-8"},
		"Twilio-Request-Id": {"RQ" + randomHex(16)},
	}
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
