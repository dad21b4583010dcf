package local

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/fluxkit/sms/internal/sms"
)

// The send route of the HTTP API (template.yaml's SendRoute); the routes
// of one message are in routes.go.
const (
	RouteMethod = http.MethodPost
	RoutePath   = "/messaging/sms"
	RouteKey    = RouteMethod + " " + RoutePath
)

// MaxRequestBytes is the most of a request body the gateway reads. API
// Gateway's own limit is 10 MB; 1 MiB is far above the handler's 64 KiB
// rule, so that the handler, not the gateway, answers 413 for bodies in
// between, as it does in AWS.
const MaxRequestBytes = 1 << 20

// SendTimeout is the send function's timeout (template.yaml): each
// invocation's deadline.
const SendTimeout = 10 * time.Second

// localPrefix starts the paths of the local server's own endpoints.
const localPrefix = "/_local/"

// Invoker runs a Lambda function on a raw event and returns its raw
// answer; *apigw.Handler implements it.
type Invoker interface {
	Invoke(ctx context.Context, event json.RawMessage) (json.RawMessage, error)
}

// GatewayConfig tunes a Gateway.
type GatewayConfig struct {
	// Timeout is each invocation's deadline (zero means SendTimeout).
	Timeout time.Duration
	// FunctionARN names the function in the Lambda context.
	FunctionARN string
	// Clock stamps the events' request times; nil means the system clock.
	Clock sms.Clock
	// Log receives invocation failures; nil discards them.
	Log *slog.Logger
}

// Gateway is a local HTTP API: it turns each HTTP request for the route
// into an API Gateway payload 2.0 event as `sam local start-api` does,
// invokes the function with it under a Lambda context carrying a request
// id, and turns the function's answer back into HTTP. Requests for other
// paths get API Gateway's 404; paths under /_local/ go to the local
// handler.
type Gateway struct {
	fn    Invoker
	local http.Handler
	cfg   GatewayConfig
	// routes are the other routes (Route), by route key.
	routes map[string]Invoker
	// params are the routes with a path parameter (RouteParam).
	params []paramRoute
}

// paramRoute is a route whose path ends in one parameter segment.
type paramRoute struct {
	method, prefix, key string
	fn                  Invoker
}

// NewGateway returns a Gateway invoking fn; local (which may be nil)
// serves /_local/.
func NewGateway(fn Invoker, local http.Handler, cfg GatewayConfig) *Gateway {
	if cfg.Timeout <= 0 {
		cfg.Timeout = SendTimeout
	}
	if cfg.Clock == nil {
		cfg.Clock = sms.SystemClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.FunctionARN == "" {
		cfg.FunctionARN = "arn:aws:lambda:local:000000000000:function:send"
	}
	return &Gateway{fn: fn, local: local, cfg: cfg}
}

// Route makes the gateway serve another route, method and path exactly
// (a route key such as "POST /messaging/sms/receipts/twilio"), with the
// function fn; call it before serving. The events carry the route's key.
func (g *Gateway) Route(method, path string, fn Invoker) {
	if g.routes == nil {
		g.routes = map[string]Invoker{}
	}
	g.routes[method+" "+path] = fn
}

// RouteParam makes the gateway serve a route whose path is prefix followed
// by one segment, its parameter (a route key such as
// "DELETE /messaging/sms/suppressions/{number}"), with the function fn.
func (g *Gateway) RouteParam(method, prefix, key string, fn Invoker) {
	g.params = append(g.params, paramRoute{method: method, prefix: prefix, key: key, fn: fn})
}

// paramRoute finds the route with a parameter that serves r.
func (g *Gateway) paramRoute(r *http.Request) (Invoker, string, bool) {
	for _, pr := range g.params {
		seg, ok := strings.CutPrefix(r.URL.Path, pr.prefix)
		if ok && r.Method == pr.method && seg != "" && !strings.Contains(seg, "/") {
			return pr.fn, pr.key, true
		}
	}
	return nil, "", false
}

// ServeHTTP implements http.Handler.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.local != nil && strings.HasPrefix(r.URL.Path, localPrefix) {
		g.local.ServeHTTP(w, r)
		return
	}
	fn, routeKey := g.fn, RouteKey
	if other, ok := g.routes[r.Method+" "+r.URL.Path]; ok {
		fn, routeKey = other, r.Method+" "+r.URL.Path
	} else if other, key, ok := g.paramRoute(r); ok {
		fn, routeKey = other, key
	} else if key, _, ok := matchRoute(r); ok {
		routeKey = key
	} else {
		writeMessage(w, http.StatusNotFound, "Not Found")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeMessage(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
			return
		}
		writeMessage(w, http.StatusBadRequest, "Bad Request")
		return
	}
	now := g.cfg.Clock.Now()
	gwID := newGatewayRequestID()
	w.Header().Set("Apigw-Requestid", gwID)
	ev := NewEvent(r, body, now, gwID)
	ev.RouteKey, ev.RequestContext.RouteKey = routeKey, routeKey
	event, err := json.Marshal(ev)
	if err != nil {
		g.fail(w, r, "encode event", err)
		return
	}
	// Like Lambda, the invocation runs to its own deadline even when the
	// client goes away: a send must not be cut short half-way.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), g.cfg.Timeout)
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: sms.NewID(), InvokedFunctionArn: g.cfg.FunctionARN})
	out, err := fn.Invoke(ctx, event)
	if err != nil {
		g.fail(w, r, "function error", err)
		return
	}
	if err := writeResponse(w, out); err != nil {
		g.fail(w, r, "malformed function response", err)
	}
}

// fail answers API Gateway's 500 for a function that failed or answered
// something that is not a response.
func (g *Gateway) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	g.cfg.Log.LogAttrs(r.Context(), slog.LevelError, "gateway: "+what, slog.String("error", err.Error()))
	writeMessage(w, http.StatusInternalServerError, "Internal Server Error")
}

// NewEvent builds the payload 2.0 event API Gateway would send for r with
// the given body: the route key and path parameters of its route, header
// names lower-cased and repeated headers joined with commas, cookies in
// their own list, the X-Forwarded-* headers API Gateway adds, and the body
// base64-encoded unless it is UTF-8 text of a textual content type.
func NewEvent(r *http.Request, body []byte, now time.Time, requestID string) events.APIGatewayV2HTTPRequest {
	headers := make(map[string]string, len(r.Header)+6)
	var cookies []string
	for name, values := range r.Header {
		name = strings.ToLower(name)
		if name == "cookie" {
			for _, v := range values {
				for c := range strings.SplitSeq(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						cookies = append(cookies, c)
					}
				}
			}
			continue
		}
		headers[name] = strings.Join(values, ",")
	}
	if r.Host != "" {
		headers["host"] = r.Host
	}
	if len(body) > 0 || r.ContentLength == 0 {
		headers["content-length"] = strconv.Itoa(len(body))
	}
	sourceIP, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		sourceIP = r.RemoteAddr
	}
	if prior := headers["x-forwarded-for"]; prior != "" {
		headers["x-forwarded-for"] = prior + ", " + sourceIP
	} else {
		headers["x-forwarded-for"] = sourceIP
	}
	headers["x-forwarded-proto"] = "http"
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, port, err := net.SplitHostPort(addr.String()); err == nil {
			headers["x-forwarded-port"] = port
		}
	}
	headers["x-amzn-trace-id"] = traceID(now)

	var query map[string]string
	if q := r.URL.Query(); len(q) > 0 {
		query = make(map[string]string, len(q))
		for k, vs := range q {
			query[k] = strings.Join(vs, ",")
		}
	}
	domain := r.Host
	if h, _, err := net.SplitHostPort(domain); err == nil {
		domain = h
	}
	prefix, _, _ := strings.Cut(domain, ".")
	routeKey, params, ok := matchRoute(r)
	if !ok {
		routeKey = RouteKey
	}

	ev := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              routeKey,
		RawPath:               r.URL.EscapedPath(),
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: query,
		PathParameters:        params,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     routeKey,
			AccountID:    "000000000000",
			Stage:        "$default",
			RequestID:    requestID,
			APIID:        "local",
			DomainName:   domain,
			DomainPrefix: prefix,
			Time:         now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.Path,
				Protocol:  r.Proto,
				SourceIP:  sourceIP,
				UserAgent: r.UserAgent(),
			},
		},
	}
	if len(body) > 0 {
		if textual(r.Header.Get("Content-Type")) && utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	return ev
}

// textual reports whether a content type is passed to the function as
// text rather than base64.
func textual(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"),
		mt == "application/json", strings.HasSuffix(mt, "+json"),
		mt == "application/xml", strings.HasSuffix(mt, "+xml"),
		mt == "application/javascript":
		return true
	}
	return false
}

// v2Response is events.APIGatewayV2HTTPResponse with the status code
// optional, to tell an answer without one.
type v2Response struct {
	StatusCode        *int                `json:"statusCode"`
	Headers           map[string]string   `json:"headers"`
	MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
	Body              string              `json:"body"`
	IsBase64Encoded   bool                `json:"isBase64Encoded"`
	Cookies           []string            `json:"cookies"`
}

// writeResponse turns a payload 2.0 function answer into HTTP. As API
// Gateway does, an answer without a statusCode is taken as the JSON body
// of a 200.
func writeResponse(w http.ResponseWriter, out json.RawMessage) error {
	var resp v2Response
	if err := json.Unmarshal(out, &resp); err != nil || resp.StatusCode == nil {
		if !json.Valid(out) {
			return errors.New("the answer is not JSON")
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(out)
		return nil
	}
	if code := *resp.StatusCode; code < 100 || code > 599 {
		return errors.New("the answer's statusCode " + strconv.Itoa(code) + " is not an HTTP status")
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			return errors.New("the answer's body is not valid base64")
		}
		body = b
	}
	h := w.Header()
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	for _, c := range resp.Cookies {
		h.Add("Set-Cookie", c)
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(*resp.StatusCode)
	_, _ = w.Write(body)
	return nil
}

// writeMessage answers with API Gateway's own error shape.
func writeMessage(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(map[string]string{"message": msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// newGatewayRequestID returns an id shaped like API Gateway's
// (apigw-requestid): 16 characters of base64.
func newGatewayRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])[:15] + "="
}

// traceID returns an X-Ray style trace header value.
func traceID(now time.Time) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "Root=1-" + strconv.FormatInt(now.Unix(), 16) + "-" + hex.EncodeToString(b[:])
}
