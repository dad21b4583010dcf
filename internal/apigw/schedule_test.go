package apigw

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/sms"
)

func TestDecodeSendAt(t *testing.T) {
	tests := []struct {
		name    string
		sendAt  string // the JSON value
		want    time.Time
		wantErr bool
	}{
		{"UTC", `"2026-12-01T08:00:00Z"`, time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC), false},
		{"offset", `"2026-12-01T09:00:00+01:00"`, time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC), false},
		{"fraction", `"2026-12-01T08:00:00.25Z"`, time.Date(2026, 12, 1, 8, 0, 0, 250_000_000, time.UTC), false},
		{"no zone", `"2026-12-01T08:00:00"`, time.Time{}, true},
		{"date only", `"2026-12-01"`, time.Time{}, true},
		{"space", `"2026-12-01 08:00:00Z"`, time.Time{}, true},
		{"epoch number", `1764576000`, time.Time{}, true},
		{"empty", `""`, time.Time{}, true},
		{"null", `null`, time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := decodeBody([]byte(`{"to":"+14155552671","body":"hi","sendAt":` + tt.sendAt + `}`))
			if tt.wantErr {
				e := sms.AsError(err)
				if e.Kind != sms.KindInvalid || (e.Field != "sendAt" && !strings.Contains(e.Message, "sendAt")) {
					t.Errorf("decodeBody error = %v, want invalid_request naming sendAt", err)
				}
				return
			}
			if err != nil || !r.SendAt.Equal(tt.want) {
				t.Errorf("decodeBody = %v, %v; want sendAt %v", r.SendAt, err, tt.want)
			}
		})
	}
	if _, err := decodeBody([]byte(`{"to":"+14155552671","body":"hi","sendAt":"2026-12-01T08:00:00Z","sendAt":"2026-12-01T08:00:00Z"}`)); sms.KindOf(err) != sms.KindInvalid {
		t.Errorf("sendAt twice: error = %v, want invalid", err)
	}
	if r, err := decodeBody([]byte(`{"to":"+14155552671","body":"hi"}`)); err != nil || !r.SendAt.IsZero() {
		t.Errorf("no sendAt: %v, %v; want a zero send time", r.SendAt, err)
	}
}

func TestServeScheduledIs202(t *testing.T) {
	res := sms.Result{MessageID: "3f2b8c1d-9e4a-4b7c-8d6e-2a1b0c9d8e7f", Status: sms.StatusScheduled, Channel: "sms", To: "+14155552671",
		SendAt: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC), Segments: 1, Encoding: sms.GSM7}
	s := &fakeSender{res: res}
	resp := newTestHandler(s).Serve(context.Background(), req(`{"to":"+14155552671","body":"hi","sendAt":"2026-12-01T09:00:00+01:00"}`))
	if resp.Status != http.StatusAccepted || !strings.Contains(string(resp.Body), `"sendAt":"2026-12-01T08:00:00Z"`) {
		t.Errorf("answer = %d %s, want 202 with sendAt", resp.Status, resp.Body)
	}
	if len(s.got) != 1 || !s.got[0].SendAt.Equal(res.SendAt) {
		t.Errorf("sender got %+v, want the request's sendAt", s.got)
	}
}

// fakeCanceler answers every cancel with rec or err and records requests.
type fakeCanceler struct {
	rec sms.Record
	err error
	got []sms.CancelRequest
}

func (c *fakeCanceler) Cancel(_ context.Context, r sms.CancelRequest) (sms.Record, error) {
	c.got = append(c.got, r)
	return c.rec, c.err
}

func cancelHandler(c Canceler) *Handler {
	return NewHandler(fakeAuth{}, &fakeSender{}, slog.New(slog.NewTextHandler(io.Discard, nil)), Cancels(c, testAdminScope))
}

func TestMessageTarget(t *testing.T) {
	tests := []struct {
		name   string
		r      Request
		wantID string
		wantOK bool
	}{
		{"path parameter", Request{Path: "/anything", PathParams: map[string]string{"messageId": "a b"}}, "a b", true},
		{"HTTP API path", Request{Path: "/messaging/sms/3f2b8c1d"}, "3f2b8c1d", true},
		{"REST API stage", Request{Path: "/prod/messaging/sms/3f2b8c1d"}, "3f2b8c1d", true},
		{"percent-encoded", Request{Path: "/messaging/sms/order%2F7"}, "order/7", true},
		{"the send route", Request{Path: "/messaging/sms"}, "", false},
		{"trailing slash", Request{Path: "/messaging/sms/"}, "", false},
		{"deeper", Request{Path: "/messaging/sms/suppressions/+14155552671"}, "", false},
		{"bad escape", Request{Path: "/messaging/sms/%zz"}, "", false},
		{"in-process request", Request{}, "", false},
	}
	for _, tt := range tests {
		id, ok := messageTarget(tt.r)
		if id != tt.wantID || ok != tt.wantOK {
			t.Errorf("%s: messageTarget = %q, %v; want %q, %v", tt.name, id, ok, tt.wantID, tt.wantOK)
		}
	}
}

func TestServeCancel(t *testing.T) {
	canceled := sms.Record{ServiceID: "3f2b8c1d-9e4a-4b7c-8d6e-2a1b0c9d8e7f", MessageID: "3f2b8c1d-9e4a-4b7c-8d6e-2a1b0c9d8e7f",
		Status: sms.StatusCanceled, To: "+14155552671", Owner: sms.CallerOwner("user-1"),
		UpdatedAt: time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC), History: []sms.HistoryEntry{{Status: sms.StatusCanceled, At: time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC)}}}
	del := func(path, token string) Request {
		h := http.Header{}
		if token != "" {
			h.Set("Authorization", "Bearer "+token)
		}
		return Request{Method: http.MethodDelete, Path: path, Headers: h}
	}
	tests := []struct {
		name       string
		c          *fakeCanceler
		r          Request
		wantStatus int
		wantCode   string
		wantReq    *sms.CancelRequest
	}{
		{"owner", &fakeCanceler{rec: canceled}, del("/messaging/sms/"+canceled.ServiceID, "good"), 200, "",
			&sms.CancelRequest{ID: canceled.ServiceID, Caller: "user-1"}},
		{"admin", &fakeCanceler{rec: canceled}, del("/messaging/sms/"+canceled.ServiceID, "admin"), 200, "",
			&sms.CancelRequest{ID: canceled.ServiceID, Caller: "ops", Admin: true}},
		{"not found", &fakeCanceler{err: sms.E(sms.KindNotFound, "no such message")}, del("/messaging/sms/x", "other"), 404, "not_found",
			&sms.CancelRequest{ID: "x", Caller: "user-2"}},
		{"too late", &fakeCanceler{err: sms.E(sms.KindConflict, "the message is sent: it can no longer be canceled")}, del("/messaging/sms/x", "good"), 409, "conflict",
			&sms.CancelRequest{ID: "x", Caller: "user-1"}},
		{"no token", &fakeCanceler{}, del("/messaging/sms/x", ""), 401, "unauthorized", nil},
		{"an id too long", &fakeCanceler{}, del("/messaging/sms/"+strings.Repeat("x", 129), "good"), 404, "not_found", nil},
		{"POST on a message", &fakeCanceler{}, Request{Method: http.MethodPost, Path: "/messaging/sms/x", Headers: http.Header{}}, 405, "invalid_request", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := cancelHandler(tt.c).Serve(context.Background(), tt.r)
			if resp.Status != tt.wantStatus || responseCode(t, resp.Body) != tt.wantCode {
				t.Fatalf("answer = %d %s, want %d %q", resp.Status, resp.Body, tt.wantStatus, tt.wantCode)
			}
			switch {
			case tt.wantReq == nil && len(tt.c.got) != 0:
				t.Errorf("canceler called with %+v, want no call", tt.c.got)
			case tt.wantReq != nil && (len(tt.c.got) != 1 || tt.c.got[0] != *tt.wantReq):
				t.Errorf("canceler got %+v, want %+v", tt.c.got, *tt.wantReq)
			}
			if tt.wantStatus != 200 {
				return
			}
			var body map[string]any
			if err := json.Unmarshal(resp.Body, &body); err != nil {
				t.Fatal(err)
			}
			if body["channel"] != "sms" || body["status"] != "canceled" || body["serviceId"] != canceled.ServiceID {
				t.Errorf("body = %s, want the canceled record with its channel", resp.Body)
			}
			if _, leaked := body["owner"]; leaked || strings.Contains(string(resp.Body), "user-1") {
				t.Errorf("body = %s names the owner", resp.Body)
			}
		})
	}
	// Without a canceler (no status records) every message is 404.
	resp := newTestHandler(&fakeSender{}).Serve(context.Background(), del("/messaging/sms/x", "good"))
	if resp.Status != 404 {
		t.Errorf("DELETE without a canceler = %d, want 404", resp.Status)
	}
	// An admin scope that is off makes nobody an admin.
	c := &fakeCanceler{rec: canceled}
	h := NewHandler(fakeAuth{}, &fakeSender{}, slog.New(slog.NewTextHandler(io.Discard, nil)), Cancels(c, ""))
	h.Serve(context.Background(), del("/messaging/sms/x", "admin"))
	if len(c.got) != 1 || c.got[0].Admin {
		t.Errorf("with the admin scope off: request %+v, want Admin false", c.got)
	}
}
