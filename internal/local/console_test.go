package local

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/sms"
)

func TestConsoleKeepsTheLatest(t *testing.T) {
	c := NewConsole(nil, ListConfig{Keep: 3})
	for i := range 5 {
		if _, err := c.Send(context.Background(), sms.Message{To: "+14155551234", From: "FluxKit", Body: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, m := range c.Messages() {
		got = append(got, m.Body)
	}
	if want := "2,3,4"; strings.Join(got, ",") != want {
		t.Errorf("kept bodies = %v, want %s (newest last)", got, want)
	}
	if got, want := c.Count(), 5; got != want {
		t.Errorf("Count = %d, want %d", got, want)
	}
}

func TestConsolePrintsOneLine(t *testing.T) {
	var out strings.Builder
	at := time.Date(2026, 1, 2, 15, 4, 5, 678e6, time.UTC)
	c := NewConsole(&out, ListConfig{Clock: stoppedClock(at)})
	body := "Код 482901\nsecond line"
	rc, err := c.Send(context.Background(), sms.Message{To: "+14155551234", From: "FluxKit", Body: body})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("[sms] 15:04:05.678 FluxKit -> +14155551234 (1 segment, UCS-2) id=%s: %q\n", rc.ID, body)
	if got := out.String(); got != want {
		t.Errorf("printed %q, want %q", got, want)
	}
	m := c.Messages()[0]
	if m.ID != rc.ID || m.Segments != 1 || m.Encoding != sms.UCS2 || !m.At.Equal(at) {
		t.Errorf("kept %+v, receipt %+v: want id %s, 1 UCS-2 segment at %v", m, rc, rc.ID, at)
	}
}

func TestConsoleRefusesADoneContext(t *testing.T) {
	c := NewConsole(nil, ListConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Send(ctx, sms.Message{To: "+14155551234", Body: "x"})
	if got, want := sms.KindOf(err), sms.KindTransient; got != want {
		t.Errorf("kind = %v, want %v", got, want)
	}
	if c.Count() != 0 {
		t.Errorf("Count = %d after a refused send, want 0", c.Count())
	}
}
