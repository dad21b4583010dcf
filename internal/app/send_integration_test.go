package app_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/fluxkit/sms/internal/testing/mototest"
	"github.com/fluxkit/sms/internal/testing/providertest"
)

const okReq = `{"to":"+14155552671","body":"Your verification code is 482901"}`

func TestSendConcurrentRequestsKeepTheRate(t *testing.T) {
	s := newStack(t, "SMS_RATE_LIMIT", "5")
	h := s.sendHandler(t)
	const n = 25
	answers := make([]answer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = post(t, h, okReq)
		}()
	}
	wg.Wait()
	sent, queued := 0, 0
	for _, a := range answers {
		switch a.status {
		case 200:
			sent++
			if a.body["status"] != "sent" || a.body["channel"] != "sms" || a.body["to"] != "+14155552671" || a.body["messageId"] == "" {
				t.Errorf("200 body = %v", a.body)
			}
		case 202:
			queued++
			if a.body["status"] != "queued" || a.body["messageId"] == "" {
				t.Errorf("202 body = %v", a.body)
			}
		default:
			t.Errorf("answer %d %s, want 200 or 202", a.status, a.raw)
		}
	}
	if got := maxInWindow(arrivals(s.twilio), time.Second); got > 5 {
		t.Errorf("provider saw %d calls in one 1-s window, want at most 5", got)
	}
	if got := len(s.twilio.Accepted()); got != sent {
		t.Errorf("provider accepted %d, want %d (the 200s)", got, sent)
	}
	if got := s.queueDepth(t, s.queueURL); got != queued {
		t.Errorf("queue holds %d, want %d (the 202s)", got, queued)
	}
	if sent == 0 || queued == 0 {
		t.Errorf("sent %d, queued %d: want both paths used", sent, queued)
	}
	t.Logf("25 concurrent at 5/s: %d sent, %d queued", sent, queued)
	s.assertLogsClean(t, "Your verification code")
}

func TestSendAnswers(t *testing.T) {
	s := newStack(t)
	h := s.sendHandler(t)
	tests := []struct {
		name       string
		fault      *providertest.Fault
		body       string
		hdr        []string
		wantStatus int
		wantCode   string
	}{
		{name: "sent", body: okReq, wantStatus: 200},
		{name: "sender override", body: `{"to":"+14155552671","body":"hi","from":"+15005550006"}`, wantStatus: 200},
		{name: "invalid number", body: `{"to":"+1234567890","body":"hi"}`, wantStatus: 400, wantCode: "invalid_to"},
		{name: "over-long body", body: `{"to":"+14155552671","body":"` + strings.Repeat("a", 1601) + `"}`, wantStatus: 400, wantCode: "invalid_body"},
		{name: "provider 503 is queued", fault: &providertest.Fault{Status: 503}, body: okReq, wantStatus: 202},
		{name: "provider 429 is queued", fault: &providertest.Fault{Status: 429}, body: okReq, wantStatus: 202},
		{name: "dropped after accept is queued (ambiguous)", fault: &providertest.Fault{Drop: providertest.DropAfterAccept}, body: okReq, wantStatus: 202},
		{name: "not a mobile number", fault: &providertest.Fault{Code: 21614}, body: okReq, wantStatus: 422, wantCode: "provider_rejected"},
		{name: "credentials refused", fault: &providertest.Fault{Status: 401, Code: 20003}, body: okReq, wantStatus: 502, wantCode: "provider_error"},
		{name: "no token", body: okReq, hdr: []string{"Authorization", ""}, wantStatus: 401, wantCode: "unauthorized"},
		{name: "not json", body: okReq, hdr: []string{"Content-Type", "text/plain"}, wantStatus: 415, wantCode: "unsupported_media_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.twilio.ClearFaults()
			if tt.fault != nil {
				s.twilio.FailNext(1, *tt.fault)
			}
			a := post(t, h, tt.body, tt.hdr...)
			if a.status != tt.wantStatus {
				t.Fatalf("status = %d %s, want %d", a.status, a.raw, tt.wantStatus)
			}
			if tt.wantCode != "" {
				code, _ := a.body["error"].(map[string]any)["code"].(string)
				if code != tt.wantCode {
					t.Errorf("error.code = %q, want %q", code, tt.wantCode)
				}
			}
			if tt.wantStatus == 401 && a.header["WWW-Authenticate"] == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
		time.Sleep(250 * time.Millisecond) // stay under the default rate
	}
	s.assertLogsClean(t, "Your verification code")
}

func TestSendJWTAttacks(t *testing.T) {
	s := newStack(t, "JWT_ISSUER", "https://issuer.example", "JWT_AUDIENCE", "sms-api")
	h := s.sendHandler(t)
	good := map[string]any{"iss": "https://issuer.example", "aud": "sms-api"}
	with := func(kv ...any) map[string]any {
		m := map[string]any{}
		for k, v := range good {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	rs, _ := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims(with("sub", "x", "exp", time.Now().Add(time.Hour).Unix()))).SignedString(key)
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims(with("sub", "x", "exp", time.Now().Add(time.Hour).Unix()))).SignedString(jwt.UnsafeAllowNoneSignatureType)
	wrong, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(with("sub", "x", "exp", time.Now().Add(time.Hour).Unix()))).SignedString([]byte("another-secret-another-secret-0123456789"))
	tests := []struct {
		name  string
		token string
	}{
		{"alg none", none},
		{"RS256 where HS256 is configured", rs},
		{"wrong secret", wrong},
		{"expired", token(t, with("exp", time.Now().Add(-2*time.Minute).Unix()))},
		{"nbf in the future", token(t, with("nbf", time.Now().Add(5*time.Minute).Unix()))},
		{"missing exp", token(t, with("exp", nil))},
		{"wrong audience", token(t, with("aud", "other"))},
		{"wrong issuer", token(t, with("iss", "https://evil.example"))},
		{"oversize", token(t, with("pad", strings.Repeat("x", 9000)))},
		{"garbage", "not.a.token"},
		{"tampered payload", func() string {
			p := strings.Split(token(t, good), ".")
			p[1] = base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"admin","exp":9999999999}`))
			return strings.Join(p, ".")
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := post(t, h, okReq, "Authorization", "Bearer "+tt.token)
			if a.status != 401 || a.header["WWW-Authenticate"] == "" {
				t.Errorf("status = %d %v, want 401 with WWW-Authenticate", a.status, a.header)
			}
		})
	}
	if a := post(t, h, okReq, "Authorization", "Bearer "+token(t, good)); a.status != 200 {
		t.Errorf("valid token: status %d %s, want 200", a.status, a.raw)
	}
	if got := len(s.twilio.Accepted()); got != 1 {
		t.Errorf("provider accepted %d, want only the valid token's message", got)
	}
}

func TestSendIdempotencyAgainstDynamoDB(t *testing.T) {
	s := newStack(t)
	h := s.sendHandler(t)
	first := post(t, h, okReq, "Idempotency-Key", "order-1")
	second := post(t, h, okReq, "Idempotency-Key", "order-1")
	if first.status != 200 || second.status != 200 || first.body["messageId"] != second.body["messageId"] {
		t.Errorf("first %d %v, second %d %v: want the same 200", first.status, first.body, second.status, second.body)
	}
	if got := len(s.twilio.Accepted()); got != 1 {
		t.Errorf("provider accepted %d, want 1", got)
	}
	other := post(t, h, `{"to":"+14155552671","body":"another"}`, "Idempotency-Key", "order-1")
	if other.status != 422 || other.body["error"].(map[string]any)["code"] != "idempotency_mismatch" {
		t.Errorf("reuse with another body: %d %s, want 422 idempotency_mismatch", other.status, other.raw)
	}
	otherCaller := post(t, h, okReq, "Idempotency-Key", "order-1", "Authorization", "Bearer "+token(t, map[string]any{"sub": "client-2"}))
	if otherCaller.status != 200 || otherCaller.body["messageId"] == first.body["messageId"] {
		t.Errorf("another caller's key: %d %v, want a new send", otherCaller.status, otherCaller.body)
	}
}

func TestSendQueueingOff(t *testing.T) {
	// At 1/s one late DynamoDB answer costs a whole slot (the limiter gives
	// up a slot whose answer arrives later than half the margin), and moto
	// on a loaded machine can take longer than DynamoDB's few ms: a margin
	// of 0.4 leaves it 200 ms. Slots are then 1.4 s apart.
	s := newStack(t, "SMS_QUEUE_ENABLED", "false", "SMS_RATE_LIMIT", "1", "SMS_RATE_MARGIN", "0.4")
	h := s.sendHandler(t)
	if a := post(t, h, okReq); a.status != 200 {
		t.Fatalf("first: %d %s, want 200", a.status, a.raw)
	}
	a := post(t, h, okReq)
	if a.status != 429 || a.header["Retry-After"] == "" {
		t.Errorf("second: %d %v, want 429 with Retry-After", a.status, a.header)
	}
	time.Sleep(1500 * time.Millisecond)
	s.twilio.FailNext(1, providertest.Fault{Status: 503})
	if a := post(t, h, okReq); a.status != 503 || a.header["Retry-After"] == "" {
		t.Errorf("provider down: %d %v, want 503 with Retry-After", a.status, a.header)
	}
}

func TestSendDependenciesDown(t *testing.T) {
	t.Run("DynamoDB down: queued", func(t *testing.T) {
		s := newStack(t)
		h := s.sendHandler(t)
		s.proxy.SetFaults(func(op string) mototest.Fault {
			if strings.HasPrefix(op, "DynamoDB") {
				return mototest.FailBefore
			}
			return mototest.Pass
		})
		a := post(t, h, okReq)
		if a.status != 202 {
			t.Fatalf("status %d %s, want 202", a.status, a.raw)
		}
		if got := s.queueDepth(t, s.queueURL); got != 1 {
			t.Errorf("queue depth %d, want 1", got)
		}
		if got := len(s.twilio.Requests()); got != 0 {
			t.Errorf("provider called %d times without a slot, want 0", got)
		}
	})
	t.Run("SQS down when needed: 503, nothing claimed", func(t *testing.T) {
		s := newStack(t, "SMS_RATE_LIMIT", "1")
		h := s.sendHandler(t)
		post(t, h, okReq) // takes the only slot of this second
		s.proxy.SetFaults(func(op string) mototest.Fault {
			if strings.HasPrefix(op, "AmazonSQS") {
				return mototest.FailBefore
			}
			return mototest.Pass
		})
		a := post(t, h, okReq)
		if a.status != 503 || a.header["Retry-After"] == "" {
			t.Errorf("status %d %v, want 503 with Retry-After", a.status, a.header)
		}
	})
}

func TestSendColdStartFailsOnBadConfig(t *testing.T) {
	s := newStack(t, "SMS_RATE_LIMIT", "fast")
	_, err := loadSend(s)
	if err == nil || !strings.Contains(err.Error(), "SMS_RATE_LIMIT") {
		t.Errorf("err = %v, want one naming SMS_RATE_LIMIT", err)
	}
}
