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
}

// Client sends messages through one Twilio account. It is safe for
// concurrent use.
type Client struct {
	baseURL string
	path    string
	auth    string // the Authorization header value
	hc      *http.Client
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
	return &Client{
		baseURL: cfg.BaseURL,
		path:    "/2010-04-01/Accounts/" + url.PathEscape(creds.AccountSID) + "/Messages.json",
		auth:    "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass)),
		hc:      cfg.HTTPClient,
	}
}

// Send creates the message. Receipt.ID is the message SID. A From that is
// a Messaging Service SID (sms.IsMessagingServiceSID) is sent as
// MessagingServiceSid. Every failure is an *sms.Error; see classify for
// the mapping.
func (c *Client) Send(ctx context.Context, m sms.Message) (sms.Receipt, error) {
	form := url.Values{"To": {m.To}, "Body": {m.Body}}
	switch {
	case sms.IsMessagingServiceSID(m.From):
		form.Set("MessagingServiceSid", m.From)
	case m.From != "":
		form.Set("From", m.From)
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

// codes maps the Twilio error codes the create call returns to kinds.
// 21408 (region not enabled) counts as a rejection: it is about this
// recipient's country, and other messages keep flowing.
var codes = map[int]outcome{
	20003: {sms.KindProviderAccount, "the SMS provider refused our credentials"},
	20404: {sms.KindProviderAccount, "the SMS provider account was not found"},
	20429: {sms.KindTransient, "the SMS provider is rate limiting requests"},
	21211: {sms.KindRejected, "the SMS provider considers the recipient number invalid"},
	21212: {sms.KindProviderAccount, "the SMS provider does not accept the configured sender"},
	21408: {sms.KindRejected, "sending to the recipient's region is not enabled"},
	21602: {sms.KindRejected, "the SMS provider requires a message body"},
	21603: {sms.KindProviderAccount, "no sender is configured for the SMS provider"},
	21604: {sms.KindRejected, "the SMS provider requires a recipient number"},
	21606: {sms.KindProviderAccount, "the configured sender cannot send messages for this account"},
	21608: {sms.KindProviderAccount, "the provider trial account can only send to verified numbers"},
	21610: {sms.KindRejected, "the recipient has opted out of messages from this sender"},
	21611: {sms.KindTransient, "the sender's queue at the SMS provider is full"},
	21612: {sms.KindRejected, "the message cannot be routed from this sender to the recipient"},
	21614: {sms.KindRejected, "the recipient number is not a mobile number"},
	21617: {sms.KindRejected, "the message body is too long for the SMS provider"},
	21635: {sms.KindRejected, "the recipient number is a landline"},
	21701: {sms.KindProviderAccount, "the configured messaging service does not exist"},
}

// classify turns a non-2xx answer into an *sms.Error:
//   - 429 and 5xx are KindTransient whatever the code;
//   - a known code (codes) decides;
//   - an unknown code is KindRejected on a 400 (Twilio's answer about this
//     message) and KindProviderAccount otherwise (401, 403, 404, …: about
//     the account);
//   - an answer without Twilio's envelope goes to httpclient.Unexpected.
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
		return sms.E(sms.KindTransient, msg, detail, cause, sms.RetryAfter(httpclient.RetryAfter(resp.Header)))
	case ok:
		return sms.E(known.kind, known.msg, detail, cause)
	case resp.StatusCode == http.StatusBadRequest:
		return sms.E(sms.KindRejected, "the SMS provider rejected the message", detail, cause)
	}
	return sms.E(sms.KindProviderAccount, "the SMS provider refused the request for this account", detail, cause)
}
