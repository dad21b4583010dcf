package chaos

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// MaxPayloadBytes is the largest request body API Gateway passes to an
// integration (10 MB); a longer one is answered 413 by the gateway itself.
const MaxPayloadBytes = 10 << 20

// Invoker is a Lambda function's handler taking and returning raw JSON
// events (apigw.Handler.Invoke).
type Invoker interface {
	Invoke(ctx context.Context, event json.RawMessage) (json.RawMessage, error)
}

// Gateway is an http.Handler that plays an API Gateway HTTP API with one
// route and a Lambda proxy integration (payload format 2.0) in front of a
// function, as template.yaml deploys it:
//
//   - a request that does not match the route is answered 404
//     {"message":"Not Found"} without invoking the function;
//   - a body over MaxPayloadBytes is answered 413 without invoking it;
//   - header names are lower-cased and repeated headers joined with
//     commas, cookies go to the event's cookies;
//   - a body that is not valid UTF-8 is passed base64-encoded with
//     isBase64Encoded set, so the function sees its bytes unchanged;
//   - a function error, a panic or an answer that is not a payload 2.0
//     response is answered 500 {"message":"Internal Server Error"}, and
//     Failures counts it.
//
// It enforces none of the gateway's header size quotas: the abuse tests
// want oversized headers to reach the function.
type Gateway struct {
	fn      Invoker
	method  string
	path    string
	now     func() time.Time
	seq     atomic.Int64
	failure atomic.Int64
}

// NewGateway returns a Gateway routing method and path (e.g. "POST",
// "/messaging/sms") to fn. now may be nil (time.Now).
func NewGateway(fn Invoker, method, path string, now func() time.Time) *Gateway {
	if now == nil {
		now = time.Now
	}
	return &Gateway{fn: fn, method: method, path: path, now: now}
}

// Failures reports how many requests ended in a function error, a panic
// or an unreadable answer.
func (g *Gateway) Failures() int64 { return g.failure.Load() }

// ServeHTTP turns r into an event, invokes the function and writes its
// answer.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != g.method || r.URL.Path != g.path {
		gatewayError(w, http.StatusNotFound, "Not Found")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxPayloadBytes+1))
	if err != nil {
		gatewayError(w, http.StatusBadRequest, "Bad Request")
		return
	}
	if len(body) > MaxPayloadBytes {
		gatewayError(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		return
	}
	event, err := json.Marshal(g.event(r, body))
	if err != nil {
		g.failure.Add(1)
		gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	resp, err := g.invoke(r.Context(), event)
	if err != nil {
		g.failure.Add(1)
		gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	out := []byte(resp.Body)
	if resp.IsBase64Encoded {
		if out, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			g.failure.Add(1)
			gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
			return
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(out)
}

// invoke calls the function, turning a panic into an error as the Lambda
// runtime reports a crashed invocation.
func (g *Gateway) invoke(ctx context.Context, event []byte) (resp events.APIGatewayV2HTTPResponse, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("chaos: gateway: function panicked: %v", p)
		}
	}()
	raw, err := g.fn.Invoke(ctx, event)
	if err != nil {
		return resp, fmt.Errorf("chaos: gateway: function error: %w", err)
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		return resp, fmt.Errorf("chaos: gateway: answer is not a payload 2.0 response: %w", err)
	}
	if resp.StatusCode < 100 || resp.StatusCode > 599 {
		return resp, errors.New("chaos: gateway: answer has no valid status code")
	}
	return resp, nil
}

// event builds the payload 2.0 event API Gateway would send for r.
func (g *Gateway) event(r *http.Request, body []byte) events.APIGatewayV2HTTPRequest {
	now := g.now()
	headers := make(map[string]string, len(r.Header)+1)
	for k, vs := range r.Header {
		if strings.EqualFold(k, "Cookie") {
			continue
		}
		headers[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	if r.Host != "" {
		headers["host"] = r.Host
	}
	var cookies []string
	for _, c := range r.Cookies() {
		cookies = append(cookies, c.String())
	}
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	ev := events.APIGatewayV2HTTPRequest{
		Version:        "2.0",
		RouteKey:       g.method + " " + g.path,
		RawPath:        r.URL.Path,
		RawQueryString: r.URL.RawQuery,
		Cookies:        cookies,
		Headers:        headers,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     g.method + " " + g.path,
			AccountID:    "123456789012",
			Stage:        "$default",
			RequestID:    fmt.Sprintf("chaos-%d", g.seq.Add(1)),
			APIID:        "chaosapi",
			DomainName:   r.Host,
			DomainPrefix: strings.Split(r.Host, ".")[0],
			Time:         now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.Path,
				Protocol:  r.Proto,
				SourceIP:  ip,
				UserAgent: r.UserAgent(),
			},
		},
	}
	if len(body) > 0 {
		if utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	return ev
}

// gatewayError writes one of API Gateway's own answers.
func gatewayError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"message": msg})
	_, _ = w.Write(b)
}
