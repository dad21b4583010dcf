package receipts_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/fluxkit/sms/internal/local/memory"
	"github.com/fluxkit/sms/internal/receipts"
	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/openapicheck"
	"github.com/fluxkit/sms/internal/vonage"
)

// receiptCodes is the error code each status of the receipt routes
// carries in docs/openapi.yaml ("" for the acknowledgement).
var receiptCodes = map[int]string{
	http.StatusOK:                    "",
	http.StatusBadRequest:            "invalid_request",
	http.StatusForbidden:             "invalid_signature",
	http.StatusRequestEntityTooLarge: "payload_too_large",
	http.StatusUnsupportedMediaType:  "unsupported_media_type",
	http.StatusInternalServerError:   "internal",
	http.StatusServiceUnavailable:    "unavailable",
}

// receiptOps are the receipt operations of docs/openapi.yaml with the
// statuses each documents.
var receiptOps = []struct {
	path, method string
	statuses     []int
}{
	{receipts.TwilioPath, "post", []int{200, 400, 403, 413, 415, 500, 503}},
	{receipts.VonagePath, "get", []int{200, 400, 403, 500, 503}},
	{receipts.VonagePath, "post", []int{200, 400, 403, 413, 415, 500, 503}},
}

// The answers docs/openapi.yaml describes outside the operations: a method
// or a path no deployed route passes to the handler.
const (
	refMethodNotAllowed = "#/components/responses/ReceiptMethodNotAllowed"
	refRouteNotFound    = "#/components/responses/ReceiptRouteNotFound"
)

// storeState is what the status store behind the handler does.
type storeState int

const (
	storeUp storeState = iota
	storeOff
	storeThrottled
	storeBroken
	storePanics
)

// panickingRecorder is a status store whose writes panic.
type panickingRecorder struct{}

func (panickingRecorder) Record(context.Context, string, sms.Change) (bool, error) {
	panic("status store: nil map")
}

// receiptEvent is a receipt as an API Gateway event: req in payload
// format 2.0 (or 1.0 with v1), then edit applied to the 2.0 event.
type receiptEvent struct {
	req  receipts.Request
	edit func(*events.APIGatewayV2HTTPRequest)
	v1   bool
}

// receiptScenario drives the receipts handler into one documented answer.
type receiptScenario struct {
	name       string
	keys       receipts.Keys
	noURL      bool // no SMS_PUBLIC_URL
	store      storeState
	event      func(t *testing.T, id string) receiptEvent
	wantStatus int
	wantCode   string
	// wantRecord, for a 200, is the status the message's record has
	// after it ("" wants no record).
	wantRecord sms.Status
	// ref names the document's response for an answer outside the
	// operations.
	ref string
	// schemaRefuses: the request breaks a rule the document states.
	schemaRefuses bool
}

var (
	twilioKeys = receipts.Keys{TwilioAuthToken: authToken}
	signedKeys = receipts.Keys{VonageSignatureSecret: sigSecret}
	tokenKeys  = receipts.Keys{VonageReceiptsToken: tokenSecret}
)

// ev wraps a request in a payload 2.0 event.
func ev(r receipts.Request) receiptEvent { return receiptEvent{req: r} }

// edited wraps a request in a payload 2.0 event changed by edit.
func edited(r receipts.Request, edit func(*events.APIGatewayV2HTTPRequest)) receiptEvent {
	return receiptEvent{req: r, edit: edit}
}

// withHeader returns r with header name set to value ("" removes it).
func withHeader(r receipts.Request, name, value string) receipts.Request {
	r.Headers = r.Headers.Clone()
	if value == "" {
		r.Headers.Del(name)
	} else {
		r.Headers.Set(name, value)
	}
	return r
}

// twilioCallback is a Twilio status callback for id, signed.
func twilioCallback(id, status, errorCode string) receipts.Request {
	return twilioRequest(authToken, callbackURL(id), twilioForm(status, errorCode))
}

// signedDLR is a delivery receipt for id, signed with the default method.
func signedDLR(t *testing.T, id, status, errCode string) url.Values {
	t.Helper()
	return signVonage(t, vonageParams(id, vonagePart1, status, errCode), vonage.DefaultSignatureMethod, sigSecret, now)
}

// tokenQuery is the query of the receipt URL in token mode.
var tokenQuery = url.Values{"token": {tokenSecret}}

func receiptScenarios() []receiptScenario {
	huge := strings.Repeat("a", 64<<10)
	return []receiptScenario{
		// Twilio.
		{name: "twilio delivered", keys: twilioKeys, event: func(t *testing.T, id string) receiptEvent {
			return ev(twilioCallback(id, "delivered", ""))
		}, wantStatus: 200, wantRecord: sms.StatusDelivered},
		{name: "twilio undelivered with an error code", keys: twilioKeys, event: func(t *testing.T, id string) receiptEvent {
			return ev(twilioCallback(id, "undelivered", "30003"))
		}, wantStatus: 200, wantRecord: sms.StatusUndelivered},
		{name: "twilio through a REST API", keys: twilioKeys, event: func(t *testing.T, id string) receiptEvent {
			return receiptEvent{req: twilioCallback(id, "sent", ""), v1: true}
		}, wantStatus: 200, wantRecord: sms.StatusSent},
		{name: "twilio callback without ref", keys: twilioKeys, event: func(t *testing.T, id string) receiptEvent {
			return ev(twilioRequest(authToken, publicURL+receipts.TwilioPath, twilioForm("delivered", "")))
		}, wantStatus: 200},
		{name: "twilio status not about delivery", keys: twilioKeys, event: func(t *testing.T, id string) receiptEvent {
			return ev(twilioCallback(id, "receiving", ""))
		}, wantStatus: 200},
		{name: "twilio with status tracking off", keys: twilioKeys, store: storeOff, event: func(t *testing.T, id string) receiptEvent {
			return ev(twilioCallback(id, "delivered", ""))
		}, wantStatus: 200},
		{name: "twilio without a signature", keys: twilioKeys, event: func(t *testing.T, id string) receiptEvent {
			return ev(withHeader(twilioCallback(id, "delivered", ""), "X-Twilio-Signature", ""))
		}, wantStatus: 403, wantCode: "invalid_signature", schemaRefuses: true},
		{name: "twilio forged", keys: twilioKeys, event: func(t *testing.T, id string) receiptEvent {
			return ev(twilioRequest("another-account-token", callbackURL(id), twilioForm("delivered", "")))
		}, wantStatus: 403, wantCode: "invalid_signature"},
		{name: "twilio ref changed after signing", keys: twilioKeys, event: func(t *testing.T, id string) receiptEvent {
			r := twilioCallback(id, "delivered", "")
			r.Query = url.Values{"ref": {sms.NewServiceID()}}
			return ev(r)
		}, wantStatus: 403, wantCode: "invalid_signature"},
		{name: "twilio without SMS_PUBLIC_URL", keys: twilioKeys, noURL: true, event: func(t *testing.T, id string) receiptEvent {
			return ev(twilioCallback(id, "delivered", ""))
		}, wantStatus: 403, wantCode: "invalid_signature"},
		{name: "twilio without an auth token", event: func(t *testing.T, id string) receiptEvent {
			return ev(twilioCallback(id, "delivered", ""))
		}, wantStatus: 403, wantCode: "invalid_signature"},
		{name: "twilio as JSON", keys: twilioKeys, event: func(t *testing.T, id string) receiptEvent {
			return ev(withHeader(twilioCallback(id, "delivered", ""), "Content-Type", "application/json"))
		}, wantStatus: 415, wantCode: "unsupported_media_type", schemaRefuses: true},
		{name: "twilio body over 64 KiB", keys: twilioKeys, event: func(t *testing.T, id string) receiptEvent {
			return ev(twilioRequest(authToken, callbackURL(id), url.Values{"MessageStatus": {"delivered"}, "Padding": {huge}}))
		}, wantStatus: 413, wantCode: "payload_too_large"},
		{name: "twilio body not a form", keys: twilioKeys, event: func(t *testing.T, id string) receiptEvent {
			r := twilioCallback(id, "delivered", "")
			r.Body = []byte("MessageStatus=delivered&To=%zz")
			return ev(r)
		}, wantStatus: 400, wantCode: "invalid_request"},
		{name: "twilio body not base64", keys: twilioKeys, event: func(t *testing.T, id string) receiptEvent {
			return edited(twilioCallback(id, "delivered", ""), func(e *events.APIGatewayV2HTTPRequest) {
				e.IsBase64Encoded, e.Body = true, "not base64!"
			})
		}, wantStatus: 400, wantCode: "invalid_request"},
		{name: "twilio query malformed", keys: twilioKeys, event: func(t *testing.T, id string) receiptEvent {
			return edited(twilioCallback(id, "delivered", ""), func(e *events.APIGatewayV2HTTPRequest) { e.RawQueryString = "ref=%zz" })
		}, wantStatus: 400, wantCode: "invalid_request"},
		{name: "twilio while the table throttles", keys: twilioKeys, store: storeThrottled, event: func(t *testing.T, id string) receiptEvent {
			return ev(twilioCallback(id, "delivered", ""))
		}, wantStatus: 503, wantCode: "unavailable"},
		{name: "twilio record write failing", keys: twilioKeys, store: storeBroken, event: func(t *testing.T, id string) receiptEvent {
			return ev(twilioCallback(id, "delivered", ""))
		}, wantStatus: 500, wantCode: "internal"},
		{name: "twilio status store panicking", keys: twilioKeys, store: storePanics, event: func(t *testing.T, id string) receiptEvent {
			return ev(twilioCallback(id, "delivered", ""))
		}, wantStatus: 500, wantCode: "internal"},
		{name: "twilio by GET", keys: twilioKeys, event: func(t *testing.T, id string) receiptEvent {
			r := twilioCallback(id, "delivered", "")
			r.Method, r.Body = http.MethodGet, nil
			return ev(r)
		}, wantStatus: 405, wantCode: "invalid_request", ref: refMethodNotAllowed},
		{name: "neither receipt route", keys: twilioKeys, event: func(t *testing.T, id string) receiptEvent {
			r := twilioCallback(id, "delivered", "")
			r.Path = "/messaging/sms/receipts/sinch"
			return ev(r)
		}, wantStatus: 404, wantCode: "not_found", ref: refRouteNotFound},

		// Vonage, signed.
		{name: "vonage signed by GET", keys: signedKeys, event: func(t *testing.T, id string) receiptEvent {
			return ev(vonageGET(signedDLR(t, id, "delivered", "0")))
		}, wantStatus: 200, wantRecord: sms.StatusDelivered},
		{name: "vonage signed by GET through a REST API", keys: signedKeys, event: func(t *testing.T, id string) receiptEvent {
			return receiptEvent{req: vonageGET(signedDLR(t, id, "accepted", "0")), v1: true}
		}, wantStatus: 200, wantRecord: sms.StatusSent},
		{name: "vonage signed form", keys: signedKeys, event: func(t *testing.T, id string) receiptEvent {
			return ev(vonagePOSTForm(signedDLR(t, id, "failed", "2"), url.Values{}))
		}, wantStatus: 200, wantRecord: sms.StatusUndelivered},
		{name: "vonage signed JSON", keys: signedKeys, event: func(t *testing.T, id string) receiptEvent {
			return ev(vonagePOSTJSON(t, signedDLR(t, id, "expired", "0"), url.Values{}))
		}, wantStatus: 200, wantRecord: sms.StatusExpired},
		{name: "vonage status the record does not keep", keys: signedKeys, event: func(t *testing.T, id string) receiptEvent {
			return ev(vonageGET(signedDLR(t, id, "submitted", "0")))
		}, wantStatus: 200},
		{name: "vonage signature not matching", keys: signedKeys, event: func(t *testing.T, id string) receiptEvent {
			p := signedDLR(t, id, "delivered", "0")
			p.Set("status", "failed")
			return ev(vonageGET(p))
		}, wantStatus: 403, wantCode: "invalid_signature"},
		{name: "vonage replayed after 5 minutes", keys: signedKeys, event: func(t *testing.T, id string) receiptEvent {
			p := signVonage(t, vonageParams(id, vonagePart1, "delivered", "0"), vonage.DefaultSignatureMethod, sigSecret, now.Add(-receipts.MaxTimestampSkew-1e9))
			return ev(vonagePOSTForm(p, url.Values{}))
		}, wantStatus: 403, wantCode: "invalid_signature"},
		{name: "vonage unsigned while signing is on", keys: signedKeys, event: func(t *testing.T, id string) receiptEvent {
			return ev(vonageGET(vonageParams(id, vonagePart1, "delivered", "0"), "token", tokenSecret))
		}, wantStatus: 403, wantCode: "invalid_signature"},
		{name: "vonage without keys", event: func(t *testing.T, id string) receiptEvent {
			return ev(vonageGET(signedDLR(t, id, "delivered", "0")))
		}, wantStatus: 403, wantCode: "invalid_signature"},

		// Vonage, token.
		{name: "vonage token by GET", keys: tokenKeys, event: func(t *testing.T, id string) receiptEvent {
			return ev(vonageGET(vonageParams(id, vonagePart1, "delivered", "0"), "token", tokenSecret))
		}, wantStatus: 200, wantRecord: sms.StatusDelivered},
		{name: "vonage token form", keys: tokenKeys, event: func(t *testing.T, id string) receiptEvent {
			return ev(vonagePOSTForm(vonageParams(id, vonagePart1, "buffered", "0"), tokenQuery))
		}, wantStatus: 200, wantRecord: sms.StatusSent},
		{name: "vonage token JSON with a number and a null", keys: tokenKeys, event: func(t *testing.T, id string) receiptEvent {
			r := vonagePOSTJSON(t, url.Values{}, tokenQuery)
			r.Body = []byte(`{"msisdn":"` + recipient[1:] + `","messageId":"` + vonagePart1 + `","status":"rejected","err-code":4,"client-ref":"` + id + `","price":null}`)
			return ev(r)
		}, wantStatus: 200, wantRecord: sms.StatusUndelivered},
		{name: "vonage token in the body only", keys: tokenKeys, event: func(t *testing.T, id string) receiptEvent {
			p := vonageParams(id, vonagePart1, "delivered", "0")
			p.Set("token", tokenSecret)
			return ev(vonagePOSTForm(p, url.Values{}))
		}, wantStatus: 403, wantCode: "invalid_signature"},
		{name: "vonage wrong token", keys: tokenKeys, event: func(t *testing.T, id string) receiptEvent {
			return ev(vonageGET(vonageParams(id, vonagePart1, "delivered", "0"), "token", "guessed"))
		}, wantStatus: 403, wantCode: "invalid_signature"},
		{name: "vonage as plain text", keys: tokenKeys, event: func(t *testing.T, id string) receiptEvent {
			return ev(withHeader(vonagePOSTForm(vonageParams(id, vonagePart1, "delivered", "0"), tokenQuery), "Content-Type", "text/plain"))
		}, wantStatus: 415, wantCode: "unsupported_media_type", schemaRefuses: true},
		{name: "vonage body over 64 KiB", keys: tokenKeys, event: func(t *testing.T, id string) receiptEvent {
			p := vonageParams(id, vonagePart1, "delivered", "0")
			p.Set("padding", huge)
			return ev(vonagePOSTForm(p, tokenQuery))
		}, wantStatus: 413, wantCode: "payload_too_large"},
		{name: "vonage JSON array", keys: tokenKeys, event: func(t *testing.T, id string) receiptEvent {
			r := vonagePOSTJSON(t, url.Values{}, tokenQuery)
			r.Body = []byte(`[{"status":"delivered"}]`)
			return ev(r)
		}, wantStatus: 400, wantCode: "invalid_request", schemaRefuses: true},
		{name: "vonage JSON with an object value", keys: tokenKeys, event: func(t *testing.T, id string) receiptEvent {
			r := vonagePOSTJSON(t, url.Values{}, tokenQuery)
			r.Body = []byte(`{"status":"delivered","client-ref":"` + id + `","price":{"amount":"0.03"}}`)
			return ev(r)
		}, wantStatus: 400, wantCode: "invalid_request", schemaRefuses: true},
		{name: "vonage form malformed", keys: tokenKeys, event: func(t *testing.T, id string) receiptEvent {
			r := vonagePOSTForm(url.Values{}, tokenQuery)
			r.Body = []byte("status=delivered&msisdn=%zz")
			return ev(r)
		}, wantStatus: 400, wantCode: "invalid_request"},
		{name: "vonage GET query malformed", keys: tokenKeys, event: func(t *testing.T, id string) receiptEvent {
			return edited(vonageGET(url.Values{}), func(e *events.APIGatewayV2HTTPRequest) {
				e.RawQueryString = "status=delivered&token=" + tokenSecret + "&msisdn=%zz"
			})
		}, wantStatus: 400, wantCode: "invalid_request"},
		{name: "vonage GET while the table throttles", keys: tokenKeys, store: storeThrottled, event: func(t *testing.T, id string) receiptEvent {
			return ev(vonageGET(vonageParams(id, vonagePart1, "delivered", "0"), "token", tokenSecret))
		}, wantStatus: 503, wantCode: "unavailable"},
		{name: "vonage GET record write failing", keys: tokenKeys, store: storeBroken, event: func(t *testing.T, id string) receiptEvent {
			return ev(vonageGET(vonageParams(id, vonagePart1, "delivered", "0"), "token", tokenSecret))
		}, wantStatus: 500, wantCode: "internal"},
		{name: "vonage POST while the table throttles", keys: signedKeys, store: storeThrottled, event: func(t *testing.T, id string) receiptEvent {
			return ev(vonagePOSTJSON(t, signedDLR(t, id, "delivered", "0"), url.Values{}))
		}, wantStatus: 503, wantCode: "unavailable"},
		{name: "vonage POST record write failing", keys: signedKeys, store: storeBroken, event: func(t *testing.T, id string) receiptEvent {
			return ev(vonagePOSTForm(signedDLR(t, id, "delivered", "0"), url.Values{}))
		}, wantStatus: 500, wantCode: "internal"},
		{name: "vonage by DELETE", keys: tokenKeys, event: func(t *testing.T, id string) receiptEvent {
			r := vonageGET(vonageParams(id, vonagePart1, "delivered", "0"), "token", tokenSecret)
			r.Method = http.MethodDelete
			return ev(r)
		}, wantStatus: 405, wantCode: "invalid_request", ref: refMethodNotAllowed},
	}
}

// newContractHandler is the handler of sc over a memory status store.
func newContractHandler(sc receiptScenario) (*receipts.Handler, *memory.StatusStore) {
	store := memory.NewStatusStore(memory.StatusConfig{Clock: fixedClock{now}})
	var rec receipts.Recorder
	switch sc.store {
	case storeUp:
		rec = store
	case storeOff:
	case storeThrottled:
		rec = &countingStore{s: store, err: errUnavailable}
	case storeBroken:
		rec = &countingStore{s: store, err: errors.New("dynamo: status update: ValidationException")}
	case storePanics:
		rec = panickingRecorder{}
	}
	cfg := receipts.Config{PublicURL: publicURL, Clock: fixedClock{now}}
	if sc.noURL {
		cfg.PublicURL = ""
	}
	return receipts.NewHandler(rec, &keySource{cur: sc.keys}, nil, cfg), store
}

// v2Event is r as API Gateway's HTTP API sends it (payload format 2.0):
// header names lower-case, the route's key, the raw query.
func v2Event(r receipts.Request) events.APIGatewayV2HTTPRequest {
	hdr := make(map[string]string, len(r.Headers))
	for k, vs := range r.Headers {
		hdr[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	return events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: r.Method + " " + r.Path, RawPath: r.Path, RawQueryString: r.Query.Encode(),
		Headers: hdr, Body: string(r.Body),
		RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: r.Method, Path: r.Path}},
	}
}

// v1Event is r as a REST API sends it (payload format 1.0).
func v1Event(r receipts.Request) events.APIGatewayProxyRequest {
	hdr := make(map[string]string, len(r.Headers))
	for k := range r.Headers {
		hdr[k] = r.Headers.Get(k)
	}
	q := make(map[string]string, len(r.Query))
	for k := range r.Query {
		q[k] = r.Query.Get(k)
	}
	return events.APIGatewayProxyRequest{Resource: r.Path, Path: r.Path, HTTPMethod: r.Method, Headers: hdr,
		QueryStringParameters: q, MultiValueQueryStringParameters: r.Query, Body: string(r.Body)}
}

// receiptExchange is one receipt served through Invoke, and its answer.
type receiptExchange struct {
	sc     receiptScenario
	method string
	path   string
	event  events.APIGatewayV2HTTPRequest
	resp   struct {
		StatusCode int               `json:"statusCode"`
		Headers    map[string]string `json:"headers"`
		Body       string            `json:"body"`
	}
}

// serve runs sc's receipt through the Lambda entry point.
func serve(t *testing.T, h *receipts.Handler, sc receiptScenario, id string) receiptExchange {
	t.Helper()
	re := sc.event(t, id)
	x := receiptExchange{sc: sc, method: re.req.Method, path: re.req.Path, event: v2Event(re.req)}
	if re.edit != nil {
		re.edit(&x.event)
	}
	var in any = x.event
	if re.v1 {
		in = v1Event(re.req)
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := h.Invoke(context.Background(), b)
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	if err := json.Unmarshal(out, &x.resp); err != nil {
		t.Fatalf("Invoke answered %s: %v", out, err)
	}
	return x
}

// request is the exchange's request as the checker takes it.
func (x receiptExchange) request(expectValid bool) openapicheck.Request {
	body := x.event.Body
	if x.event.IsBase64Encoded {
		b, _ := base64.StdEncoding.DecodeString(body)
		body = string(b)
	}
	mt, _, _ := mime.ParseMediaType(x.event.Headers["content-type"])
	return openapicheck.Request{Name: x.sc.name, Body: body, MediaType: mt, Query: x.event.RawQueryString,
		Headers: x.event.Headers, ExpectValid: expectValid}
}

// TestOpenAPIReceiptsContract drives the receipts handler, through its
// Lambda entry point, into every answer docs/openapi.yaml documents for
// the receipt routes, and checks each answer, and each request it took or
// that breaks a documented rule, against the document: the statuses and
// error codes documented are exactly those the handler gives, and the
// methods a 405 allows are the route's documented ones.
func TestOpenAPIReceiptsContract(t *testing.T) {
	var all []receiptExchange
	for _, sc := range receiptScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			h, store := newContractHandler(sc)
			id := sms.NewServiceID()
			x := serve(t, h, sc, id)
			if x.resp.StatusCode != sc.wantStatus {
				t.Errorf("status = %d (%s), want %d", x.resp.StatusCode, x.resp.Body, sc.wantStatus)
			}
			if got := errorCode(t, receipts.Response{Body: []byte(x.resp.Body)}); got != sc.wantCode {
				t.Errorf("error.code = %q, want %q", got, sc.wantCode)
			}
			if sc.wantStatus == http.StatusOK && x.resp.Body != "{}" {
				t.Errorf("body = %s, want {}", x.resp.Body)
			}
			rec, err := store.Get(context.Background(), id)
			switch {
			case sc.wantRecord == "" && sms.KindOf(err) != sms.KindNotFound:
				t.Errorf("record = %s, %v; want none", rec.Status, err)
			case sc.wantRecord != "" && (err != nil || rec.Status != sc.wantRecord):
				t.Errorf("record = %s, %v; want %s", rec.Status, err, sc.wantRecord)
			}
			all = append(all, x)
		})
	}

	produced := map[string]bool{} // the error codes the handler gave
	for _, x := range all {
		if code := x.sc.wantCode; code != "" && x.resp.StatusCode == x.sc.wantStatus {
			produced[code] = true
		}
	}
	for i, op := range receiptOps {
		t.Run(strings.ToUpper(op.method)+" "+op.path, func(t *testing.T) {
			c := openapicheck.Contract{Path: op.path, Method: op.method, ErrorCodes: "#/components/schemas/ReceiptErrorCode"}
			statuses := map[int]bool{}
			var allows []string
			for _, x := range all {
				if x.sc.ref != "" {
					// An answer outside the operations, checked once.
					if homeOp(x.path) != i {
						continue
					}
					c.Responses = append(c.Responses, openapicheck.Response{Name: x.sc.name, Status: x.resp.StatusCode, Headers: x.resp.Headers,
						Body: x.resp.Body, ExpectValid: true, Ref: x.sc.ref})
					if x.sc.ref == refMethodNotAllowed {
						allows = append(allows, x.resp.Headers["Allow"])
					}
					continue
				}
				if x.path != op.path || !strings.EqualFold(x.method, op.method) {
					continue
				}
				statuses[x.resp.StatusCode] = true
				c.Responses = append(c.Responses, openapicheck.Response{Name: x.sc.name, Status: x.resp.StatusCode, Headers: x.resp.Headers,
					Body: x.resp.Body, ExpectValid: true})
				switch {
				case x.sc.schemaRefuses:
					c.Requests = append(c.Requests, x.request(false))
				case x.resp.StatusCode == http.StatusOK:
					// Whatever the handler takes, the document must allow.
					c.Requests = append(c.Requests, x.request(true))
				}
			}
			c.Responses = append(c.Responses, syntheticReceiptBodies(op.statuses, slices.Sorted(maps.Keys(produced)))...)
			rep := openapicheck.Check(t, c)

			if !slices.Equal(rep.DocumentedStatuses, op.statuses) {
				t.Errorf("documented statuses = %v, want %v", rep.DocumentedStatuses, op.statuses)
			}
			for _, s := range op.statuses {
				if !statuses[s] {
					t.Errorf("documented status %d is produced by no scenario", s)
				}
			}
			if !slices.Contains(rep.RequiredHeaders["503"], "Retry-After") {
				t.Errorf("503: Retry-After is not documented as required (required: %v)", rep.RequiredHeaders["503"])
			}
			if got, want := rep.ErrorCodes, slices.Sorted(maps.Keys(produced)); i == 0 && !slices.Equal(slices.Sorted(slices.Values(got)), want) {
				t.Errorf("documented receipt error codes = %v, want the handler's %v", got, want)
			}
			if homeOp(op.path) == i && len(allows) == 0 {
				t.Errorf("no scenario answers 405 on %s", op.path)
			}
			for _, allow := range allows {
				if got := strings.Split(allow, ", "); !slices.Equal(got, rep.Methods) {
					t.Errorf("405 Allow = %q, want the documented methods %v", allow, rep.Methods)
				}
			}
		})
	}
}

// homeOp is the index in receiptOps of the first operation of path, where
// the answers outside the operations on path are checked; the first
// operation for a path that is neither route.
func homeOp(path string) int {
	for i, op := range receiptOps {
		if op.path == path {
			return i
		}
	}
	return 0
}

// syntheticReceiptBodies pairs each error status of an operation with each
// receipt error code, valid only with the status's own code, so that the
// document's code per status must be exactly receiptCodes'; and the
// acknowledgement with a field it does not have.
func syntheticReceiptBodies(statuses []int, codes []string) []openapicheck.Response {
	var out []openapicheck.Response
	for _, status := range statuses {
		if status == http.StatusOK {
			continue
		}
		for _, c := range codes {
			out = append(out, openapicheck.Response{Name: "synthetic " + strconv.Itoa(status) + " " + c, Status: status,
				Body: `{"error":{"code":"` + c + `","message":"m"}}`, ExpectValid: receiptCodes[status] == c})
		}
	}
	return append(out,
		openapicheck.Response{Name: "synthetic 200 with a field", Status: http.StatusOK, Body: `{"recorded":true}`},
		openapicheck.Response{Name: "synthetic 500 with a stack trace field", Status: http.StatusInternalServerError,
			Body: `{"error":{"code":"internal","message":"m","stack":"receipts.go:1"}}`},
	)
}
