// Package vonage sends SMS through the Vonage (Nexmo) SMS API
// (POST /sms/json) and classifies every failure into an *sms.Error kind at
// the boundary.
package vonage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fluxkit/sms/internal/httpclient"
	"github.com/fluxkit/sms/internal/sms"
)

// DefaultBaseURL is Vonage's SMS API.
const DefaultBaseURL = "https://rest.nexmo.com"

// maxClientRef is the longest client-ref Vonage accepts.
const maxClientRef = 40

const op = "vonage: send sms"

// Credentials authenticate to Vonage.
type Credentials struct {
	APIKey    string
	APISecret string
}

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
	// Callback, when set, is sent as every message's callback: the URL
	// Vonage posts its delivery receipts to instead of the account's
	// (docs/receipts.md). At most MaxCallback characters; a longer one is
	// not sent.
	Callback string
}

// MaxCallback is the longest callback URL Vonage takes.
const MaxCallback = 100

// Client sends messages through one Vonage account. It is safe for
// concurrent use.
type Client struct {
	baseURL  string
	creds    Credentials
	hc       *http.Client
	callback string
	clock    sms.Clock
}

// New returns a client for the account in creds.
func New(creds Credentials, cfg Config) *Client {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = httpclient.New(httpclient.DefaultTimeout)
	}
	if cfg.Clock == nil {
		cfg.Clock = sms.SystemClock{}
	}
	if len(cfg.Callback) > MaxCallback {
		cfg.Callback = ""
	}
	return &Client{baseURL: cfg.BaseURL, creds: creds, hc: cfg.HTTPClient, callback: cfg.Callback, clock: cfg.Clock}
}

// Bounds of ttl (docs/providers.md).
const (
	minTTL = 20 * time.Second
	maxTTL = 7 * 24 * time.Hour
)

// ttl is the ttl parameter, in milliseconds, of a message with remaining
// validity left: the milliseconds that remain, at least 20000 (Vonage's
// minimum) and at most 604800000. A message with less than 20 s left is
// still sent, with ttl 20000: it is valid when it leaves, and Vonage may
// then deliver it up to 20 s late. Refusing it instead would drop a
// message that is still valid, for want of a smaller ttl (the service's
// own promise, never to send after the expiry, holds either way).
func ttl(left time.Duration) int64 {
	return min(max(left, minTTL), maxTTL).Milliseconds()
}

// Send submits the message. The form carries the credentials as api_key
// and api_secret, to without its "+", from without a "+" when it is a
// number, type=unicode when the body needs UCS-2 (sms.NeedsUCS2),
// status-report-req=1 (a delivery receipt, per part), the message's
// service id as client-ref (or, without one, its ID when it fits in 40
// characters: it comes back in delivery receipts), the configured
// callback, and for a message with a validity (m.ValidUntil) the ttl it
// has left.
//
// Receipt.ID is the first part's message-id. Every failure is an
// *sms.Error; a multipart message that was accepted only in part is
// KindPartial, with the receipt of the first accepted part, and must not
// be retried.
func (c *Client) Send(ctx context.Context, m sms.Message) (sms.Receipt, error) {
	form := url.Values{
		"api_key":    {c.creds.APIKey},
		"api_secret": {c.creds.APISecret},
		"from":       {sender(m.From)},
		"to":         {strings.TrimPrefix(m.To, "+")},
		"text":       {m.Body},
	}
	if sms.NeedsUCS2(m.Body) {
		form.Set("type", "unicode")
	}
	if !m.ValidUntil.IsZero() {
		form.Set("ttl", strconv.FormatInt(ttl(m.ValidUntil.Sub(c.clock.Now())), 10))
	}
	form.Set("status-report-req", "1")
	if ref := clientRef(m); ref != "" {
		form.Set("client-ref", ref)
	}
	if c.callback != "" {
		form.Set("callback", c.callback)
	}
	req, err := httpclient.PostForm(ctx, op, c.baseURL, DefaultBaseURL, "/sms/json", form)
	if err != nil {
		return sms.Receipt{}, err
	}

	resp, err := httpclient.Do(c.hc, req, op)
	if err != nil {
		return sms.Receipt{}, err
	}
	if !resp.Success() {
		// Vonage answers 200 to every submission it processed, failed or
		// not; anything else came from a gateway in front of it.
		return sms.Receipt{}, httpclient.Unexpected(op, resp, errors.New("the SMS API answers 200"))
	}
	return result(resp)
}

// clientRef is the client-ref of m: its service id, which keys its status
// record, else its ID; "" when that is longer than Vonage takes.
func clientRef(m sms.Message) string {
	ref := m.ServiceID
	if ref == "" {
		ref = m.ID
	}
	if len(ref) > maxClientRef {
		return ""
	}
	return ref
}

// sender returns from as Vonage wants it: a number without its leading
// "+", an alphanumeric sender ID as is.
func sender(from string) string {
	digits := strings.TrimPrefix(from, "+")
	if digits == "" || digits == from {
		return from
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return from
		}
	}
	return digits
}

// submission is Vonage's answer: one entry per part, every value a string.
type submission struct {
	MessageCount string `json:"message-count"`
	Messages     []part `json:"messages"`
}

// part is one entry of a submission. A failed part carries only status
// and error-text.
type part struct {
	MessageID string `json:"message-id"`
	Status    string `json:"status"`
	ErrorText string `json:"error-text"`
}

// result reads a 200 answer: every part "0" is success; some parts "0" is a
// partial failure; no part "0" is classified by decidingFailure.
// An answer that does not parse, lists no parts, or reports a success
// without an id is ambiguous: Vonage may have accepted the message.
func result(resp *httpclient.Response) (sms.Receipt, error) {
	var sub submission
	if err := json.Unmarshal(resp.Body, &sub); err != nil {
		return sms.Receipt{}, httpclient.Unexpected(op, resp, fmt.Errorf("decode submission: %w", err))
	}
	if len(sub.Messages) == 0 {
		return sms.Receipt{}, httpclient.Unexpected(op, resp, errors.New("submission lists no messages"))
	}
	firstOK, failed := "", 0
	for i, p := range sub.Messages {
		if p.Status != "0" {
			failed++
			continue
		}
		if p.MessageID == "" {
			return sms.Receipt{}, httpclient.Unexpected(op, resp, fmt.Errorf("part %d accepted without a message-id", i+1))
		}
		if firstOK == "" {
			firstOK = p.MessageID
		}
	}
	if failed == 0 {
		return sms.Receipt{ID: firstOK}, nil
	}
	f := sub.Messages[decidingFailure(sub.Messages)]
	if firstOK != "" {
		return sms.Receipt{ID: firstOK}, sms.E(sms.KindPartial,
			"the SMS provider accepted only some parts of the message; it is not retried",
			sms.ProviderDetail(f.Status, f.ErrorText),
			sms.Cause(fmt.Errorf("%s: %d of %d parts failed, one with status %s",
				op, failed, len(sub.Messages), f.Status)))
	}
	return sms.Receipt{}, statusError(f)
}

// decidingFailure returns the index of the failed part that classifies the
// message: the first whose status is not a rejection, else the first
// failed part. A message is a rejection only when every failed part says
// so. At least one part must have failed.
func decidingFailure(parts []part) int {
	first := -1
	for i, p := range parts {
		if p.Status == "0" {
			continue
		}
		if first < 0 {
			first = i
		}
		if known, ok := statuses[p.Status]; !ok || known.kind != sms.KindRejected {
			return i
		}
	}
	return first
}

// outcome is how the client treats one Vonage status, with a client-safe
// description.
type outcome struct {
	kind sms.Kind
	msg  string
}

// statuses maps Vonage submission statuses to kinds (docs/provider-codes.md
// lists them with what each path does). Only statuses known to be about
// this one message are KindRejected: the recipient (barred, deactivated),
// the message itself (6) or its length (12). Statuses that may be about
// the sender, the request as this service builds it, or the account are
// KindProviderAccount, and so is every status not listed here: such a
// message is kept and retried once the configuration is fixed, never
// dropped. 2 (a parameter is missing) and 3 (a parameter is invalid) do not
// say which parameter, and this service validates the recipient and the
// body before sending, so they point at the sender, the credentials or the
// request's encoding; 22 (invalid network code) is about a parameter this
// service never sends; 29 (non-whitelisted destination) is a trial
// account's list.
var statuses = map[string]outcome{
	// The request was turned away unprocessed.
	"1":  {sms.KindTransient, "the SMS provider is throttling this account"},
	"5":  {sms.KindTransient, "the SMS provider had an internal error"},
	"10": {sms.KindTransient, "the SMS provider has too many connections from this account"},

	// About this one message.
	"6":  {sms.KindRejected, "the SMS provider could not process the message"},
	"7":  {sms.KindRejected, "the recipient number is barred"},
	"12": {sms.KindRejected, "the message is too long for the SMS provider"},
	"33": {sms.KindRejected, "the recipient number is deactivated"},

	// About the request, the sender, the credentials or the account.
	"2":  {sms.KindProviderAccount, "the SMS provider found a required parameter missing"},
	"3":  {sms.KindProviderAccount, "the SMS provider found a parameter invalid"},
	"4":  {sms.KindProviderAccount, "the SMS provider refused our credentials"},
	"8":  {sms.KindProviderAccount, "the SMS provider account is barred"},
	"9":  {sms.KindProviderAccount, "the SMS provider account is out of credit"},
	"11": {sms.KindProviderAccount, "the SMS provider account is not enabled for this API"},
	"14": {sms.KindProviderAccount, "the SMS provider refused our request signature"},
	"15": {sms.KindProviderAccount, "the SMS provider does not accept the configured sender"},
	"22": {sms.KindProviderAccount, "the SMS provider refused the network code"},
	"23": {sms.KindProviderAccount, "the SMS provider refused the configured callback URL"},
	"29": {sms.KindProviderAccount, "the provider trial account can only send to listed numbers"},
	"32": {sms.KindProviderAccount, "the SMS provider refused our authentication method"},
}

// statusError classifies a failed part. An unknown status is
// KindProviderAccount: it needs a human to look, and the message is kept
// (retried with backoff on the queue path) rather than dropped.
func statusError(p part) *sms.Error {
	known, ok := statuses[p.Status]
	if !ok {
		known = outcome{sms.KindProviderAccount, "the SMS provider refused the message with an unknown status"}
	}
	e := sms.E(known.kind, known.msg, sms.ProviderDetail(p.Status, p.ErrorText),
		sms.Cause(fmt.Errorf("%s: status %s", op, p.Status)))
	// Vonage turned the request away (1, 5, 10) or refused it for a
	// reason about the account, the sender or the route (15): nothing was
	// sent, and another provider may send it. A refusal about the
	// recipient or the body would be refused there too.
	e.FailoverSafe = known.kind == sms.KindTransient || known.kind == sms.KindProviderAccount
	return e
}
