package providertest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/fluxkit/sms/internal/sms"
)

// Outcome is how the delivery of a message, or of one part of a Vonage
// multipart message, ends, as its receipts tell it.
type Outcome int

// The outcomes a fake's receipts report, and what they post:
//
//	            Twilio (callbacks)                     Vonage (DLRs, per part)
//	Delivered   sent, delivered                        accepted, delivered (err-code 0)
//	Undelivered sent, undelivered (ErrorCode 30003)    accepted, failed (err-code 2)
//	Failed      failed (ErrorCode 30008)               rejected (err-code 6)
//	Expired     sent, failed (ErrorCode 30036)         accepted, expired
const (
	Delivered Outcome = iota
	Undelivered
	Failed
	Expired
)

// String names the outcome.
func (o Outcome) String() string {
	switch o {
	case Delivered:
		return "delivered"
	case Undelivered:
		return "undelivered"
	case Failed:
		return "failed"
	case Expired:
		return "expired"
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// RecordStatus is the status record's status a message ends in when its
// first (or only) part's receipts report o through provider ("twilio" or
// "vonage"), by docs/receipts.md's mapping: Vonage reports a message it
// rejected as undelivered.
func (o Outcome) RecordStatus(provider string) sms.Status {
	switch o {
	case Delivered:
		return sms.StatusDelivered
	case Undelivered:
		return sms.StatusUndelivered
	case Failed:
		if provider == "vonage" {
			return sms.StatusUndelivered
		}
		return sms.StatusFailed
	case Expired:
		return sms.StatusExpired
	}
	return ""
}

// Fate is how the delivery of a message (or part) ends.
type Fate struct {
	Outcome Outcome
	// Code replaces the provider code the outcome's final receipt
	// carries (Twilio's ErrorCode, Vonage's err-code) when not empty.
	Code string
}

// DefaultFate is the fate of every message unless a ReceiptPlan says
// otherwise: undelivered for a recipient whose number ends in 0000, the
// same rule as the local console provider's, delivered for any other.
func DefaultFate(a Accepted, part int) Fate {
	if strings.HasSuffix(a.To, "0000") {
		return Fate{Outcome: Undelivered}
	}
	return Fate{Outcome: Delivered}
}

// ReceiptPlan says how a fake posts receipts: a Twilio fake for every
// message whose request carries a StatusCallback, a Vonage fake for every
// part of a message with a callback or, without one, when it has an
// account receipt URL (WithVonageDLRURL). Each message's receipts are
// posted in order, one after the other, in a goroutine of their own; a
// receipt answered with anything but 2xx (or not answered) is posted again
// up to MaxRetries times, RetryDelay apart.
type ReceiptPlan struct {
	// Fate decides each message's (each part's: part counts from 1)
	// outcome; nil means DefaultFate.
	Fate func(a Accepted, part int) Fate
	// Duplicate is the probability that a receipt is posted twice in a
	// row, as providers do when they retry.
	Duplicate float64
	// Reorder is the probability that a message's final receipt is posted
	// before the intermediate one.
	Reorder float64
	// Seed makes the Duplicate and Reorder choices repeatable.
	Seed uint64
	// Gap is the wait before each receipt; zero posts at once.
	Gap time.Duration
	// RetryDelay is the wait before posting a refused receipt again; zero
	// means 20 ms.
	RetryDelay time.Duration
	// Off turns receipts off.
	Off bool
}

// MaxRetries is how many times a fake posts a receipt again after a
// non-2xx answer.
const MaxRetries = 3

// WithReceipts sets the fake's receipt plan (see SetReceipts).
func WithReceipts(p ReceiptPlan) Option {
	return func(c *config) { c.receipts = p }
}

// Receipt is one receipt a fake posted, or is posting.
type Receipt struct {
	// MessageID is the provider's id of the message (Twilio's SID) or of
	// the part (Vonage's message-id).
	MessageID string
	// Ref is the message's service id as the receipt carries it (Twilio's
	// ref, Vonage's client-ref); "" when it carries none.
	Ref string
	// Status is the provider's status word, Code its error code.
	Status, Code string
	// Final marks the receipt of the outcome (not an intermediate one).
	Final bool
	// Attempts is how many times it was posted; Answer the HTTP status of
	// the last answer (0: none); Acked whether it got a 2xx.
	Attempts int
	Answer   int
	Acked    bool
}

// post is one receipt to post: where and how.
type post struct {
	receipt Receipt
	url     string
	// request builds the HTTP request at each attempt: a Vonage
	// signature's timestamp is the attempt's.
	request func(ctx context.Context, now time.Time) (*http.Request, error)
}

// receiptState is a fake's receipt plan and what it posted.
type receiptState struct {
	plan     ReceiptPlan
	rng      *rand.Rand
	receipts []Receipt
	pending  int
}

// SetReceipts replaces the fake's receipt plan for the messages accepted
// from now on.
func (c *core) SetReceipts(p ReceiptPlan) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setReceipts(p)
}

func (c *core) setReceipts(p ReceiptPlan) {
	c.rs.plan = p
	c.rs.rng = rand.New(rand.NewPCG(p.Seed, p.Seed^0x5bd1e995))
}

// Receipts returns a copy of every receipt posted or being posted, in the
// order they were planned.
func (c *core) Receipts() []Receipt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.rs.receipts)
}

// WaitReceipts waits until every planned receipt has been posted (acked,
// or refused MaxRetries+1 times), or ctx ends.
func (c *core) WaitReceipts(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		c.mu.Lock()
		n := c.rs.pending
		c.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("providertest: %d receipts still being posted: %w", n, ctx.Err())
		case <-t.C:
		}
	}
}

// planReceipts decides the fates of a just accepted message, which it
// records in a, and starts posting their receipts (the posts the wire
// format makes of them, duplicated and reordered as the plan says).
func (c *core) planReceipts(a *Accepted, makePosts func(a Accepted, fates []Fate) [][]post) {
	c.mu.Lock()
	plan := c.rs.plan
	c.mu.Unlock()
	if plan.Off {
		return
	}
	fate := plan.Fate
	if fate == nil {
		fate = DefaultFate
	}
	parts := max(len(a.PartIDs), 1)
	fates := make([]Fate, parts)
	for i := range fates {
		fates[i] = fate(*a, i+1)
	}
	seqs := makePosts(*a, fates)
	if seqs == nil {
		return
	}
	a.Fates = fates
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, seq := range seqs {
		if len(seq) >= 2 && c.rs.rng.Float64() < plan.Reorder {
			seq[0], seq[len(seq)-1] = seq[len(seq)-1], seq[0]
		}
		var out []post
		for _, p := range seq {
			out = append(out, p)
			if c.rs.rng.Float64() < plan.Duplicate {
				out = append(out, p)
			}
		}
		idx := make([]int, len(out))
		for i, p := range out {
			idx[i] = len(c.rs.receipts)
			c.rs.receipts = append(c.rs.receipts, p.receipt)
		}
		c.rs.pending += len(out)
		go c.postAll(plan, out, idx)
	}
}

// receiptClient posts receipts.
var receiptClient = &http.Client{Timeout: 5 * time.Second}

// postAll posts one message's receipts in order.
func (c *core) postAll(plan ReceiptPlan, posts []post, idx []int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-c.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	retry := plan.RetryDelay
	if retry <= 0 {
		retry = 20 * time.Millisecond
	}
	for i, p := range posts {
		if plan.Gap > 0 {
			sleep(ctx, plan.Gap)
		}
		for attempt := 0; attempt <= MaxRetries && ctx.Err() == nil; attempt++ {
			if attempt > 0 {
				sleep(ctx, retry)
			}
			status := c.postOnce(ctx, p)
			c.mu.Lock()
			r := &c.rs.receipts[idx[i]]
			r.Attempts++
			r.Answer = status
			r.Acked = status >= 200 && status < 300
			c.mu.Unlock()
			if status >= 200 && status < 300 {
				break
			}
		}
		c.mu.Lock()
		c.rs.pending--
		c.mu.Unlock()
	}
}

// postOnce posts p and returns the answer's status, 0 for none.
func (c *core) postOnce(ctx context.Context, p post) int {
	req, err := p.request(ctx, c.cfg.clock.Now())
	if err != nil {
		return 0
	}
	resp, err := receiptClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = bytes.NewBuffer(nil).ReadFrom(resp.Body)
	return resp.StatusCode
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// --- Twilio status callbacks

// twilioReceipts makes the status callbacks of a message whose request
// asked for them (StatusCallback), signed with the account's auth token
// over the URL exactly as it is called.
func (tw *twilioWire) twilioReceipts(params url.Values) func(a Accepted, fates []Fate) [][]post {
	callback := params.Get("StatusCallback")
	return func(a Accepted, fates []Fate) [][]post {
		if callback == "" {
			return nil
		}
		ref := ""
		if u, err := url.Parse(callback); err == nil {
			ref = u.Query().Get("ref")
		}
		type step struct{ status, code string }
		var steps []step
		f := fates[0]
		switch f.Outcome {
		case Delivered:
			steps = []step{{"sent", ""}, {"delivered", ""}}
		case Undelivered:
			steps = []step{{"sent", ""}, {"undelivered", orText(f.Code, "30003")}}
		case Failed:
			steps = []step{{"failed", orText(f.Code, "30008")}}
		case Expired:
			steps = []step{{"sent", ""}, {"failed", orText(f.Code, "30036")}}
		}
		var seq []post
		for i, s := range steps {
			form := url.Values{
				"MessageSid": {a.ID}, "SmsSid": {a.ID}, "MessageStatus": {s.status}, "SmsStatus": {s.status},
				"AccountSid": {tw.cfg.twilioAccountSID}, "To": {a.To}, "ApiVersion": {"2010-04-01"},
			}
			if a.From != "" {
				form.Set("From", a.From)
			}
			if a.MessagingServiceSID != "" {
				form.Set("MessagingServiceSid", a.MessagingServiceSID)
			}
			if s.code != "" {
				form.Set("ErrorCode", s.code)
			}
			if s.status == "delivered" || s.status == "undelivered" {
				form.Set("RawDlrDoneDate", tw.cfg.clock.Now().UTC().Format("0601021504"))
			}
			token, body := tw.cfg.twilioAuthToken, form.Encode()
			sig := twilioSignature(token, callback, form)
			seq = append(seq, post{
				receipt: Receipt{MessageID: a.ID, Ref: ref, Status: s.status, Code: s.code, Final: i == len(steps)-1},
				url:     callback,
				request: func(ctx context.Context, _ time.Time) (*http.Request, error) {
					req, err := http.NewRequestWithContext(ctx, http.MethodPost, callback, strings.NewReader(body))
					if err != nil {
						return nil, err
					}
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.Header.Set("X-Twilio-Signature", sig)
					req.Header.Set("User-Agent", "TwilioProxy/1.1")
					return req, nil
				},
			})
		}
		return [][]post{seq}
	}
}

// twilioSignature signs a request to u with form as Twilio does: HMAC-SHA1
// keyed with the auth token over u and, for each parameter name in sorted
// order, the name and each of its values, sorted; base64.
func twilioSignature(token, u string, form url.Values) string {
	var b strings.Builder
	b.WriteString(u)
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vs := append([]string(nil), form[k]...)
		sort.Strings(vs)
		for i, v := range vs {
			if i > 0 && v == vs[i-1] {
				continue
			}
			b.WriteString(k + v)
		}
	}
	m := hmac.New(sha1.New, []byte(token))
	m.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// --- Vonage delivery receipts

// The formats a Vonage account can have its receipts posted in.
const (
	VonageDLRGet      = "GET"
	VonageDLRPost     = "POST"
	VonageDLRPostJSON = "POST-JSON"
)

// WithVonageDLRURL sets the Vonage account's delivery receipt URL (the
// dashboard's setting, with a token in its query if the operator put one
// there): messages submitted without a callback have their receipts
// posted there.
func WithVonageDLRURL(u string) Option {
	return func(c *config) { c.vonageDLRURL = u }
}

// WithVonageDLRFormat sets how the Vonage account's receipts are posted:
// VonageDLRGet, VonageDLRPost (a form) or VonageDLRPostJSON (the default).
func WithVonageDLRFormat(f string) Option {
	return func(c *config) { c.vonageDLRFormat = f }
}

// WithVonageSignature makes the Vonage fake sign its receipts (timestamp,
// nonce, sig) with secret under method (md5hash, md5, sha1, sha256 or
// sha512), as an account with signed webhooks does.
func WithVonageSignature(secret, method string) Option {
	return func(c *config) { c.vonageSigSecret, c.vonageSigMethod = secret, method }
}

// vonageReceipts makes the delivery receipts of every part of a message,
// posted to the request's callback or the account's receipt URL, unless
// the request said status-report-req=0.
func (vw *vonageWire) vonageReceipts(params url.Values) func(a Accepted, fates []Fate) [][]post {
	target := params.Get("callback")
	if target == "" {
		target = vw.cfg.vonageDLRURL
	}
	return func(a Accepted, fates []Fate) [][]post {
		if target == "" || params.Get("status-report-req") == "0" || params.Get("status-report-req") == "false" {
			return nil
		}
		var seqs [][]post
		for i, part := range a.PartIDs {
			type step struct{ status, code string }
			var steps []step
			f := fates[min(i, len(fates)-1)]
			switch f.Outcome {
			case Delivered:
				steps = []step{{"accepted", "0"}, {"delivered", "0"}}
			case Undelivered:
				steps = []step{{"accepted", "0"}, {"failed", orText(f.Code, "2")}}
			case Failed:
				steps = []step{{"rejected", orText(f.Code, "6")}}
			case Expired:
				steps = []step{{"accepted", "0"}, {"expired", orText(f.Code, "0")}}
			}
			var seq []post
			for j, s := range steps {
				p := url.Values{
					"msisdn": {a.To}, "to": {a.From}, "network-code": {"23410"}, "messageId": {part},
					"price": {fmt.Sprintf("%.8f", VonagePartPrice)}, "status": {s.status}, "err-code": {s.code},
					"api-key": {vw.cfg.vonageKey},
				}
				if a.ClientRef != "" {
					p.Set("client-ref", a.ClientRef)
				}
				seq = append(seq, post{
					receipt: Receipt{MessageID: part, Ref: a.ClientRef, Status: s.status, Code: s.code, Final: j == len(steps)-1},
					url:     target,
					request: vw.dlrRequest(target, p),
				})
			}
			seqs = append(seqs, seq)
		}
		return seqs
	}
}

// dlrRequest builds a receipt's request at each attempt: stamped with the
// attempt's time and, with signing, signed then.
func (vw *vonageWire) dlrRequest(target string, base url.Values) func(ctx context.Context, now time.Time) (*http.Request, error) {
	return func(ctx context.Context, now time.Time) (*http.Request, error) {
		p := url.Values{}
		for k, vs := range base {
			p[k] = slices.Clone(vs)
		}
		p.Set("scts", now.UTC().Format("0601021504"))
		p.Set("message-timestamp", now.UTC().Format("2006-01-02 15:04:05"))
		if vw.cfg.vonageSigSecret != "" {
			p.Set("timestamp", fmt.Sprint(now.Unix()))
			p.Set("nonce", randomHex(8))
			sig, err := vonageSignature(vw.cfg.vonageSigMethod, vw.cfg.vonageSigSecret, p)
			if err != nil {
				return nil, err
			}
			p.Set("sig", sig)
		}
		switch vw.cfg.vonageDLRFormat {
		case VonageDLRGet:
			u, err := url.Parse(target)
			if err != nil {
				return nil, err
			}
			q := u.Query()
			for k, vs := range p {
				q[k] = vs
			}
			u.RawQuery = q.Encode()
			return http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		case VonageDLRPost:
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(p.Encode()))
			if err == nil {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			return req, err
		}
		obj := map[string]string{}
		for k := range p {
			obj[k] = p.Get(k)
		}
		b, err := json.Marshal(obj)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(b))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
		return req, err
	}
}

// vonageSignature signs params as Vonage does: every parameter but sig,
// keys sorted, "&key=value" with "&" and "=" in values made "_", then
// md5hash (MD5 of that string followed by the secret) or an HMAC keyed
// with the secret; lower-case hex.
func vonageSignature(method, secret string, params url.Values) (string, error) {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "sig" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	s := ""
	for _, k := range keys {
		v := strings.ReplaceAll(strings.ReplaceAll(params.Get(k), "&", "_"), "=", "_")
		s += "&" + k + "=" + v
	}
	var h func() hash.Hash
	switch method {
	case "", "md5hash":
		sum := md5.Sum([]byte(s + secret))
		return hex.EncodeToString(sum[:]), nil
	case "md5":
		h = md5.New
	case "sha1":
		h = sha1.New
	case "sha256":
		h = sha256.New
	case "sha512":
		h = sha512.New
	default:
		return "", fmt.Errorf("providertest: unknown Vonage signature method %q", method)
	}
	m := hmac.New(h, []byte(secret))
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil)), nil
}
