// Package twilio sends SMS through Twilio's Programmable Messaging API
// (POST /2010-04-01/Accounts/{AccountSid}/Messages.json) and classifies every
// failure into an *sms.Error kind at the boundary.
package twilio

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/fluxkit/sms/internal/httpclient"
	"github.com/fluxkit/sms/internal/sms"
)

// DefaultBaseURL is Twilio's REST API.
const DefaultBaseURL = "https://api.twilio.com"

const op = "twilio: create message"

// Credentials authenticate to Twilio. AccountSID always names the account
// in the URL; Basic auth uses the API key pair (APIKeySID "SK…",
// APIKeySecret), Twilio's recommendation for production, when UsesAPIKey,
// and otherwise AccountSID and AuthToken.
type Credentials struct {
	AccountSID   string
	AuthToken    string
	APIKeySID    string
	APIKeySecret string
}

// UsesAPIKey reports whether Basic auth uses the API key: both its SID and
// its secret are set.
func (c Credentials) UsesAPIKey() bool { return c.APIKeySID != "" && c.APIKeySecret != "" }

// Config holds the options of a Client.
type Config struct {
	// BaseURL is the API's base URL; empty means DefaultBaseURL. A
	// trailing slash is tolerated.
	BaseURL string
	// HTTPClient makes the calls; nil means
	// httpclient.New(httpclient.DefaultTimeout).
	HTTPClient *http.Client
	// Clock tells the validity a message has left; nil means the system
	// clock.
	Clock sms.Clock
	// StatusCallback, when set, is the URL of the service's Twilio receipts
	// route (docs/receipts.md): every message that has a service id asks
	// for its status callbacks there, as StatusCallback with
	// "?ref=<service id>".
	StatusCallback string
}

// Client sends messages through one Twilio account. It is safe for
// concurrent use.
type Client struct {
	baseURL  string
	path     string
	auth     string // the Authorization header value
	hc       *http.Client
	callback string
	clock    sms.Clock
}

// New returns a client for the account in creds.
func New(creds Credentials, cfg Config) *Client {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = httpclient.New(httpclient.DefaultTimeout)
	}
	user, pass := creds.AccountSID, creds.AuthToken
	if creds.UsesAPIKey() {
		user, pass = creds.APIKeySID, creds.APIKeySecret
	}
	if cfg.Clock == nil {
		cfg.Clock = sms.SystemClock{}
	}
	return &Client{
		baseURL:  cfg.BaseURL,
		path:     "/2010-04-01/Accounts/" + url.PathEscape(creds.AccountSID) + "/Messages.json",
		auth:     "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass)),
		hc:       cfg.HTTPClient,
		callback: cfg.StatusCallback,
		clock:    cfg.Clock,
	}
}

// Bounds of ValidityPeriod, in seconds (docs/providers.md).
const (
	minValidityPeriod = 1
	maxValidityPeriod = 36000
)

// validityPeriod is the ValidityPeriod of a message with remaining
// validity left: the whole seconds that remain (rounded down, so that
// Twilio never holds the message past its expiry), at least 1 and at most
// 36000.
func validityPeriod(left time.Duration) int {
	return int(min(max(left/time.Second, minValidityPeriod), maxValidityPeriod))
}

// Send creates the message. Receipt.ID is the message SID. A From that is
// a Messaging Service SID (sms.IsMessagingServiceSID) is sent as
// MessagingServiceSid; StatusCallback asks for the message's status
// callbacks (StatusCallbackFor). A message with a validity (m.ValidUntil)
// is sent with the ValidityPeriod it has left. Every failure is an
// *sms.Error; see classify for the mapping.
func (c *Client) Send(ctx context.Context, m sms.Message) (sms.Receipt, error) {
	form := url.Values{"To": {m.To}, "Body": {m.Body}}
	switch {
	case sms.IsMessagingServiceSID(m.From):
		form.Set("MessagingServiceSid", m.From)
	case m.From != "":
		form.Set("From", m.From)
	}
	if !m.ValidUntil.IsZero() {
		form.Set("ValidityPeriod", strconv.Itoa(validityPeriod(m.ValidUntil.Sub(c.clock.Now()))))
	}
	if cb := c.StatusCallbackFor(m); cb != "" {
		form.Set("StatusCallback", cb)
	}
	req, err := httpclient.PostForm(ctx, op, c.baseURL, DefaultBaseURL, c.path, form)
	if err != nil {
		return sms.Receipt{}, err
	}
	req.Header.Set("Authorization", c.auth)

	resp, err := httpclient.Do(c.hc, req, op)
	if err != nil {
		return sms.Receipt{}, err
	}
	if resp.Success() {
		return receipt(resp)
	}
	return sms.Receipt{}, classify(resp)
}

// StatusCallbackFor returns the StatusCallback URL of m: the configured
// receipts route with ref=<m's service id>, or "" when either is missing.
func (c *Client) StatusCallbackFor(m sms.Message) string {
	if c.callback == "" || m.ServiceID == "" {
		return ""
	}
	return c.callback + "?" + url.Values{"ref": {m.ServiceID}}.Encode()
}

// message is the part of the Message resource the client reads.
type message struct {
	SID string `json:"sid"`
}

// receipt reads a 2xx answer. One without a SID is ambiguous: Twilio may
// have created the message.
func receipt(resp *httpclient.Response) (sms.Receipt, error) {
	var msg message
	if err := json.Unmarshal(resp.Body, &msg); err != nil {
		return sms.Receipt{}, httpclient.Unexpected(op, resp, fmt.Errorf("decode message: %w", err))
	}
	if msg.SID == "" {
		return sms.Receipt{}, httpclient.Unexpected(op, resp, errors.New("message has no sid"))
	}
	return sms.Receipt{ID: msg.SID}, nil
}

// apiError is Twilio's error envelope.
type apiError struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

// outcome is how the client treats one Twilio error code, with a
// client-safe description.
type outcome struct {
	kind sms.Kind
	msg  string
}

// codes maps the Twilio error codes the create call returns to kinds
// (docs/provider-codes.md lists them with what each path does). Only codes
// known to be about this one message are KindRejected: the recipient
// number (invalid, opted out, not a mobile, a landline) or the body. Codes
// about the sender, the messaging service, the account or its settings
// are KindProviderAccount, and so is every code not listed here: such a
// message is kept and retried once the configuration is fixed, never
// dropped. 21408 (sending to the region is not enabled) and 21612 (the
// recipient cannot be reached from this sender) depend on the account's
// geographic permissions and senders, so they are account problems too.
// 21604 (To is required) cannot be this message's fault, as every message
// is validated first: the request itself was mangled.
// codeOptedOut is Twilio's refusal of a message to a recipient who
// replied STOP to the sender.
const codeOptedOut = 21610

var codes = map[int]outcome{
	// The request was turned away unprocessed.
	20429: {sms.KindTransient, "the SMS provider is rate limiting requests"},
	21611: {sms.KindTransient, "the sender's queue at the SMS provider is full"},

	// About this one message.
	21211: {sms.KindRejected, "the SMS provider considers the recipient number invalid"},
	21602: {sms.KindRejected, "the SMS provider requires a message body"},
	21610: {sms.KindRejected, "the recipient has opted out of messages from this sender"},
	21614: {sms.KindRejected, "the recipient number is not a mobile number"},
	21617: {sms.KindRejected, "the message body is too long for the SMS provider"},
	21635: {sms.KindRejected, "the recipient number is a landline"},

	// About the credentials, the account and its settings.
	20003: {sms.KindProviderAccount, "the SMS provider refused our credentials"},
	20404: {sms.KindProviderAccount, "the SMS provider account was not found"},
	21408: {sms.KindProviderAccount, "the SMS provider account may not send to the recipient's region"},
	21604: {sms.KindProviderAccount, "the SMS provider did not receive the recipient number"},
	21608: {sms.KindProviderAccount, "the provider trial account can only send to verified numbers"},
	// About the sender.
	21212: {sms.KindProviderAccount, "the SMS provider does not accept the configured sender"},
	21603: {sms.KindProviderAccount, "no sender is configured for the SMS provider"},
	21606: {sms.KindProviderAccount, "the configured sender cannot send messages for this account"},
	21612: {sms.KindProviderAccount, "the SMS provider cannot reach the recipient from the configured sender"},
	21659: {sms.KindProviderAccount, "the configured sender is not a number of the SMS provider"},
	21660: {sms.KindProviderAccount, "the configured sender does not belong to the SMS provider account"},
	// About the messaging service.
	21701: {sms.KindProviderAccount, "the configured messaging service does not exist"},
	21703: {sms.KindProviderAccount, "the configured messaging service has no sender available"},
	21704: {sms.KindProviderAccount, "the configured messaging service has no phone numbers"},
	21705: {sms.KindProviderAccount, "the configured messaging service is invalid"},
}

// classify turns a non-2xx answer into an *sms.Error. The HTTP status
// decides first, whatever the code:
//   - 429 and 503 are KindTransient: Twilio turned the request away;
//   - any other 5xx (500, 502, 504) is KindAmbiguous: it may come after
//     Twilio created the message;
//
// then a listed code (codes) decides, and any other code is
// KindProviderAccount. An answer without Twilio's envelope goes to
// httpclient.Unexpected, which applies the same status rules. Every
// failure but an ambiguous one and a refusal about the message is
// FailoverSafe: Twilio created no message.
func classify(resp *httpclient.Response) *sms.Error {
	var ae apiError
	if err := json.Unmarshal(resp.Body, &ae); err != nil || ae.Code == 0 {
		if err == nil {
			err = errors.New("no error code")
		}
		return httpclient.Unexpected(op, resp, fmt.Errorf("decode error: %w", err))
	}
	detail := sms.ProviderDetail(strconv.Itoa(ae.Code), ae.Message)
	cause := sms.Cause(fmt.Errorf("%s: HTTP %d, error %d", op, resp.StatusCode, ae.Code))
	known, ok := codes[ae.Code]
	switch {
	case httpclient.IsTransientStatus(resp.StatusCode):
		msg := "the SMS provider is temporarily unavailable"
		if ok && known.kind == sms.KindTransient {
			msg = known.msg
		}
		return sms.E(sms.KindTransient, msg, detail, cause, sms.RetryAfter(httpclient.RetryAfter(resp.Header)), sms.FailoverSafe())
	case httpclient.IsAmbiguousStatus(resp.StatusCode):
		return sms.E(sms.KindAmbiguous, "the SMS provider failed while handling the message; it may have been sent", detail, cause)
	case ok:
		e := sms.E(known.kind, known.msg, detail, cause)
		e.FailoverSafe = failoverSafe(known.kind)
		// The recipient's opt-out puts it on the suppression list.
		e.OptedOut = ae.Code == codeOptedOut
		return e
	}
	return sms.E(sms.KindProviderAccount, "the SMS provider refused the request for a reason not known to be about this message", detail, cause, sms.FailoverSafe())
}

// failoverSafe reports whether a refusal of kind k lets another provider
// send the message: Twilio turned the request away (transient), or refused
// it for a reason about the account, the sender or the route (21408,
// 21612) — never for one about the recipient or the body.
func failoverSafe(k sms.Kind) bool {
	return k == sms.KindTransient || k == sms.KindProviderAccount
}
