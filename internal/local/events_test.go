package local

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/events"
	"github.com/fluxkit/sms/internal/sms"
)

// lockedBuffer is a console writer tests can read while the server writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLocalEvents: in memory mode every status change is an event, shown
// at GET /_local/events as the publisher function would put it on
// EventBridge and printed to the console; nothing else is.
func TestLocalEvents(t *testing.T) {
	console := &lockedBuffer{}
	s := startServer(t, nil, func(o *Options) { o.Console = console })
	if !strings.Contains(s.Banner(0), "GET /_local/events") {
		t.Errorf("banner does not mention GET /_local/events:\n%s", s.Banner(0))
	}
	store := s.st.svc.Parts.Status
	ctx := context.Background()
	id := sms.NewServiceID()
	at := time.Now().UTC().Add(-time.Second)
	for _, ch := range []sms.Change{
		{Status: sms.StatusQueued, At: at, MessageID: id, To: "+14155550100", Owner: sms.CallerOwner("dev")},
		{Status: sms.StatusSent, At: at.Add(100 * time.Millisecond), ProviderMessageID: "console-1", Provider: "console"},
		{Status: sms.StatusSent, At: at.Add(200 * time.Millisecond)}, // a duplicate: no event
		{Status: sms.StatusUndelivered, At: at.Add(300 * time.Millisecond), Error: &sms.Failure{Code: "undelivered"}},
	} {
		if _, err := store.Record(ctx, id, ch); err != nil {
			t.Fatal(err)
		}
	}
	r := do(t, nil, "GET", s.URL()+"/_local/events", "")
	var body struct {
		Count  int            `json:"count"`
		Events []events.Event `json:"events"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || r.status != 200 {
		t.Fatalf("GET /_local/events: %d %s (%v)", r.status, r.body, err)
	}
	var got []string
	for _, ev := range body.Events {
		if ev.Source != events.Source || ev.DetailType != events.DetailType || ev.Detail.ServiceID != id || ev.Detail.MessageID != id {
			t.Errorf("event = %+v, want a status event of %s", ev, id)
		}
		got = append(got, string(ev.Detail.PreviousStatus)+">"+string(ev.Detail.Status))
	}
	if want := ">queued queued>sent sent>undelivered"; body.Count != 3 || strings.Join(got, " ") != want {
		t.Errorf("events = %d %v, want 3: %s", body.Count, got, want)
	}
	if strings.Contains(string(r.body), `"owner"`) || strings.Contains(string(r.body), `"history"`) {
		t.Errorf("events show the owner or the history: %s", r.body)
	}
	out := console.String()
	for _, want := range []string{id + " (new) -> queued", id + " queued -> sent", id + " sent -> undelivered error=undelivered"} {
		if !strings.Contains(out, "[event] ") || !strings.Contains(out, want) {
			t.Errorf("console lacks %q:\n%s", want, out)
		}
	}

	off := startServer(t, map[string]string{"SMS_STATUS_TRACKING": "false"})
	if r := do(t, nil, "GET", off.URL()+"/_local/events", ""); r.status != 404 {
		t.Errorf("GET /_local/events without status tracking = %d, want 404", r.status)
	}
}

func TestEventsKeepsTheLatest(t *testing.T) {
	e := NewEvents(nil, ListConfig{Keep: 2})
	for _, st := range []sms.Status{sms.StatusQueued, sms.StatusSent, sms.StatusDelivered} {
		e.Add("", sms.Record{ServiceID: "x", Status: st, UpdatedAt: time.Now()})
	}
	list := e.List()
	if e.Count() != 3 || len(list) != 2 || list[0].Detail.Status != sms.StatusSent || list[1].Detail.Status != sms.StatusDelivered {
		t.Errorf("Count = %d, List = %+v; want 3 and the last two (sent, delivered)", e.Count(), list)
	}
}
