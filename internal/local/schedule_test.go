package local

import (
	"net/http"
	"testing"
	"time"
)

// TestScheduledMessageArrivesOnTime is the walk-through of docs/local.md:
// a message scheduled a minute ahead reaches the console provider at its
// send time and not before; one scheduled further ahead waits in the
// in-memory scheduler and is canceled with DELETE. It takes the minute
// the API requires a send time to be ahead, so it runs beside the
// package's other tests.
func TestScheduledMessageArrivesOnTime(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	tok := devToken(t)

	sendAt := time.Now().Add(61 * time.Second).UTC().Truncate(time.Second)
	r := send(t, s, tok, `{"to":"+14155551234","body":"Your table is ready","sendAt":"`+sendAt.Format(time.RFC3339)+`"}`)
	if r.status != http.StatusAccepted || r.json(t)["status"] != "scheduled" || r.json(t)["sendAt"] != sendAt.Format(time.RFC3339) {
		t.Fatalf("POST = %d %s, want 202 scheduled for %s", r.status, r.body, sendAt.Format(time.RFC3339))
	}

	later := send(t, s, tok, `{"to":"+14155551234","body":"Tomorrow's reminder","sendAt":"`+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+`"}`)
	if later.status != http.StatusAccepted || s.st.memScheduler.Len() != 1 {
		t.Fatalf("POST an hour ahead = %d %s, scheduler holds %d; want 202, held by the in-memory scheduler", later.status, later.body, s.st.memScheduler.Len())
	}
	id, _ := later.json(t)["messageId"].(string)
	auth := "Authorization: Bearer " + tok
	if c := do(t, nil, http.MethodDelete, s.URL()+RoutePath+"/"+id, "", auth); c.status != http.StatusOK || c.json(t)["status"] != "canceled" {
		t.Fatalf("DELETE = %d %s, want 200 canceled", c.status, c.body)
	}
	if n := s.st.memScheduler.Len(); n != 0 {
		t.Errorf("scheduler holds %d after the cancel, want 0", n)
	}
	if c := do(t, nil, http.MethodDelete, s.URL()+RoutePath+"/"+id, "", auth); c.status != http.StatusOK {
		t.Errorf("DELETE again = %d %s, want 200", c.status, c.body)
	}
	if c := do(t, nil, http.MethodDelete, s.URL()+RoutePath+"/no-such-message", "", auth); c.status != http.StatusNotFound {
		t.Errorf("DELETE of an unknown id = %d %s, want 404", c.status, c.body)
	}

	waitFor(t, 75*time.Second, "the scheduled message", func() bool { return s.Console().Count() > 0 })
	msgs := s.Console().Messages()
	if len(msgs) != 1 || msgs[0].Body != "Your table is ready" {
		t.Fatalf("console got %+v, want the scheduled message alone", msgs)
	}
	if at := msgs[0].At; at.Before(sendAt) || at.After(sendAt.Add(5*time.Second)) {
		t.Errorf("sent at %v, want at its send time %v (within 5 s, never before)", at, sendAt)
	}
}
