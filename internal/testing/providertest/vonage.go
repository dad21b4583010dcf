package providertest

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"
)

// The credentials a Vonage fake expects unless told otherwise (test values
// with the real formats, not secrets), and its starting balance in EUR.
const (
	VonageAPIKey    = "fa4e1234"
	VonageAPISecret = "FakeVonageSecret"
	VonageBalance   = 1_000_000.0
)

// Vonage's text length limits as the fake enforces them (status 12), in
// characters. Vonage does not publish them; these are the figures a
// reseller guide reports.
const (
	VonageMaxTextGSM  = 3800
	VonageMaxTextUCS2 = 660
)

// VonagePartPrice is what the fake charges per SMS part, in EUR.
const VonagePartPrice = 0.0333

// vonageTexts are Vonage's error-text values as the fake writes them.
var vonageTexts = map[int]string{
	1:  "Throttled",
	2:  "Missing params",
	3:  "Invalid params",
	4:  "Bad Credentials",
	5:  "Internal Error",
	6:  "Invalid Message",
	7:  "Number barred.",
	8:  "Partner account barred.",
	9:  "Partner quota exceeded.",
	10: "Too many existing binds",
	11: "Account not enabled for HTTP",
	12: "Message too long",
	14: "Invalid Signature",
	15: "Illegal Sender Address - rejected",
	22: "Invalid Network Code",
	23: "Invalid Callback Url",
	29: "Non White-listed Destination - rejected",
	32: "Signature and API secret disallowed",
	33: "Number de-activated.",
}

var (
	vonageTo       = regexp.MustCompile(`^[0-9]{7,15}$`)
	vonageNumeric  = regexp.MustCompile(`^[0-9]{1,15}$`)
	vonageAlphanum = regexp.MustCompile(`^[A-Za-z0-9 ]{1,11}$`)
)

// vonageMaxJSON bounds a JSON request body the fake reads.
const vonageMaxJSON = 1 << 20

// Vonage is a fake of the Vonage SMS API: POST /sms/json.
//
// It reads parameters from a form or JSON body and from the query string,
// and credentials from api_key/api_secret parameters or HTTP Basic. Like
// the real API it answers HTTP 200 whatever happens, with a status per
// message: "2" for a missing api_key, api_secret, from, to or text; "4"
// "Bad Credentials"; "3" for a to that is not 7-15 digits (a leading "+"
// included), a from that is neither up to 15 digits nor up to 11
// alphanumerics, or a type other than text and unicode (the fake sends no
// binary messages), or a ttl that is not a whole number of milliseconds
// from 20000 to 604800000; "12" for a text longer than VonageMaxTextGSM or
// VonageMaxTextUCS2 characters; "9" when the balance cannot pay for the
// parts; "32" for sig with api_secret and "14" for any other signed
// request (the fake does not verify signatures).
//
// An accepted message is split into parts with the 153/67 rules and the
// answer has one entry per part, each with its own message-id, price and
// remaining balance, all values strings. Text that needs UCS-2 but is sent
// without type=unicode is accepted, as Vonage does, and marked Mangled.
type Vonage struct {
	*core
	balance float64 // guarded by core.mu
}

// NewVonage starts a Vonage fake on a loopback port for the duration of
// the test.
func NewVonage(t testing.TB, opts ...Option) *Vonage {
	t.Helper()
	f, err := StartVonage("127.0.0.1:0", opts...)
	if err != nil {
		t.Fatalf("start Vonage fake: %v", err)
	}
	t.Cleanup(f.Close)
	return f
}

// StartVonage starts a Vonage fake listening on addr (e.g.
// "127.0.0.1:0"). The caller must Close it.
func StartVonage(addr string, opts ...Option) (*Vonage, error) {
	cfg := newConfig(opts)
	f := &Vonage{balance: cfg.vonageBalance}
	c, err := listen(addr, cfg, (*vonageWire)(f))
	if err != nil {
		return nil, err
	}
	f.core = c
	c.srv.Start()
	return f, nil
}

// WithVonageCredentials sets the api_key and api_secret the Vonage fake
// expects.
func WithVonageCredentials(key, secret string) Option {
	return func(c *config) { c.vonageKey, c.vonageSecret = key, secret }
}

// WithVonageBalance sets the Vonage fake's starting balance in EUR;
// VonagePartPrice is charged per part.
func WithVonageBalance(eur float64) Option {
	return func(c *config) { c.vonageBalance = eur }
}

// Balance is what is left of the Vonage fake's balance.
func (v *Vonage) Balance() float64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.balance
}

// vonageWire is the Vonage wire format over the fake's state.
type vonageWire Vonage

func (vw *vonageWire) parse(r *http.Request, rec *Request) {
	params := r.URL.Query()
	mt, _, _ := mime.ParseMediaType(rec.ContentType)
	switch mt {
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err == nil {
			for k, vs := range r.PostForm {
				params[k] = vs
			}
		}
	case "application/json":
		var obj map[string]any
		dec := json.NewDecoder(io.LimitReader(r.Body, vonageMaxJSON))
		dec.UseNumber()
		if err := dec.Decode(&obj); err == nil {
			for k, v := range obj {
				params.Set(k, jsonString(v))
			}
		}
	}
	rec.Params = params
	if user, pass, ok := r.BasicAuth(); ok {
		rec.Auth = Auth{Scheme: "basic", User: user, Secret: pass}
	} else if params.Has("api_key") || params.Has("api_secret") {
		rec.Auth = Auth{Scheme: "params", User: params.Get("api_key"), Secret: params.Get("api_secret")}
	}
}

// jsonString renders a JSON value as the string parameter it stands for.
func jsonString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// vonagePart is one entry of Vonage's answer; a failed part has only
// status and error-text.
type vonagePart struct {
	To               string `json:"to,omitempty"`
	MessageID        string `json:"message-id,omitempty"`
	Status           string `json:"status"`
	ErrorText        string `json:"error-text,omitempty"`
	RemainingBalance string `json:"remaining-balance,omitempty"`
	MessagePrice     string `json:"message-price,omitempty"`
	Network          string `json:"network,omitempty"`
	ClientRef        string `json:"client-ref,omitempty"`
}

func (vw *vonageWire) receipts(rec *Request) func(a Accepted, fates []Fate) [][]post {
	return vw.vonageReceipts(rec.Params)
}

func (vw *vonageWire) handle(rec *Request, f *Fault) answer {
	switch {
	case f != nil && f.Code == 0 && f.Status != 0:
		return answer{
			status: f.Status,
			header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}},
			body:   []byte(orText(f.Message, http.StatusText(f.Status))),
		}
	case rec.Path != "/sms/json":
		return answer{status: http.StatusNotFound, body: []byte("Not Found")}
	case rec.Method != http.MethodPost && rec.Method != http.MethodGet:
		return answer{status: http.StatusMethodNotAllowed, body: []byte("Method Not Allowed")}
	case f != nil && f.Code != 0 && f.Part == 0:
		return vonageFailure(f.Code, f.Message)
	}

	p := rec.Params
	switch {
	case p.Has("sig") && p.Has("api_secret"):
		return vonageFailure(32, "")
	case p.Has("sig"):
		return vonageFailure(14, "")
	case rec.Auth.User == "":
		return vonageFailure(2, "Missing api_key")
	case rec.Auth.Secret == "":
		return vonageFailure(2, "Missing api_secret")
	case rec.Auth.User != vw.cfg.vonageKey || rec.Auth.Secret != vw.cfg.vonageSecret:
		return vonageFailure(4, "")
	}
	to, from, text, typ := p.Get("to"), p.Get("from"), p.Get("text"), p.Get("type")
	switch {
	case from == "":
		return vonageFailure(2, "Missing from param")
	case to == "":
		return vonageFailure(2, "Missing to param")
	case text == "":
		return vonageFailure(2, "Missing text param")
	case !vonageTo.MatchString(to):
		return vonageFailure(3, "Invalid to param")
	case !vonageNumeric.MatchString(from) && !vonageAlphanum.MatchString(from):
		return vonageFailure(3, "Invalid from param")
	case typ != "" && typ != "text" && typ != "unicode":
		return vonageFailure(3, "Invalid type param")
	case p.Has("ttl") && !validTTL(p.Get("ttl")):
		return vonageFailure(3, "Invalid ttl param")
	}
	ucs2 := typ == "unicode"
	limit := VonageMaxTextGSM
	if ucs2 {
		limit = VonageMaxTextUCS2
	}
	if utf8.RuneCountInString(text) > limit {
		return vonageFailure(12, "")
	}
	return vw.accept(rec, f, ucs2)
}

// accept charges and answers one entry per part; a Part fault fails that
// part alone.
func (vw *vonageWire) accept(rec *Request, f *Fault, ucs2 bool) answer {
	p := rec.Params
	to, from, text, ref := p.Get("to"), p.Get("from"), p.Get("text"), p.Get("client-ref")
	parts := splitParts(text, ucs2)
	failPart, failCode, failText := 0, 0, ""
	if f != nil && f.Code != 0 && f.Part <= len(parts) {
		failPart, failCode, failText = f.Part, f.Code, orText(f.Message, vonageTexts[f.Code])
	}

	vw.mu.Lock()
	cost := VonagePartPrice * float64(len(parts))
	if failPart != 0 {
		cost -= VonagePartPrice
	}
	if vw.balance < cost {
		vw.mu.Unlock()
		return vonageFailure(9, "")
	}
	balance := vw.balance
	vw.balance -= cost
	vw.mu.Unlock()

	a := &Accepted{
		At: vw.cfg.clock.Now(), To: to, From: from, Body: text, ClientRef: ref,
		Parts: len(parts), Encoding: "GSM-7", Mangled: !ucs2 && needsUCS2(text),
	}
	if ms, err := strconv.ParseInt(p.Get("ttl"), 10, 64); err == nil {
		a.Validity = time.Duration(ms) * time.Millisecond
	}
	if ucs2 {
		a.Encoding = "UCS-2"
	}
	entries := make([]vonagePart, len(parts))
	code := "0"
	for i := range parts {
		if i+1 == failPart {
			entries[i] = vonagePart{Status: strconv.Itoa(failCode), ErrorText: failText}
			code = entries[i].Status
			a.FailedParts++
			continue
		}
		balance -= VonagePartPrice
		id := vonageMessageID()
		a.PartIDs = append(a.PartIDs, id)
		entries[i] = vonagePart{
			To: to, MessageID: id, Status: "0",
			RemainingBalance: fmt.Sprintf("%.8f", balance),
			MessagePrice:     fmt.Sprintf("%.8f", VonagePartPrice),
			Network:          "23410",
			ClientRef:        ref,
		}
	}
	if len(a.PartIDs) == 0 {
		a = nil
	} else {
		a.ID = a.PartIDs[0]
	}
	ans := vonageAnswer(entries)
	ans.code, ans.accepted = code, a
	return ans
}

// validTTL reports whether ttl is a whole number of milliseconds from
// 20000 to 604800000 (7 days).
func validTTL(ttl string) bool {
	ms, err := strconv.ParseInt(ttl, 10, 64)
	return err == nil && ms >= 20000 && ms <= 604800000
}

// vonageFailure answers a whole-message failure: one entry with status
// and error-text.
func vonageFailure(status int, text string) answer {
	ans := vonageAnswer([]vonagePart{{Status: strconv.Itoa(status), ErrorText: orText(text, vonageTexts[status])}})
	ans.code = strconv.Itoa(status)
	return ans
}

func vonageAnswer(entries []vonagePart) answer {
	out, err := json.Marshal(struct {
		MessageCount string       `json:"message-count"`
		Messages     []vonagePart `json:"messages"`
	}{strconv.Itoa(len(entries)), entries})
	if err != nil {
		panic(fmt.Sprintf("providertest: encode submission: %v", err))
	}
	return answer{
		status: http.StatusOK,
		header: http.Header{"Content-Type": {"application/json"}},
		body:   out,
	}
}

// vonageMessageID returns an id in the UUID form recent Vonage answers use.
func vonageMessageID() string {
	h := randomHex(16)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
