package local

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fluxkit/sms/internal/receipts"
	"github.com/fluxkit/sms/internal/sms"
)

// DefaultKeep is how many entries a Console or DeadLetters keeps when
// ListConfig.Keep is not positive.
const DefaultKeep = 100

// ListConfig tunes the lists the local server keeps for its /_local/
// endpoints: the Console's messages and the DeadLetters. The zero value is
// valid.
type ListConfig struct {
	// Keep is how many of the latest entries are kept; not positive means
	// DefaultKeep.
	Keep int
	// Clock stamps the entries; nil means the system clock.
	Clock sms.Clock
}

// withDefaults fills the zero fields.
func (c ListConfig) withDefaults() ListConfig {
	if c.Keep <= 0 {
		c.Keep = DefaultKeep
	}
	if c.Clock == nil {
		c.Clock = sms.SystemClock{}
	}
	return c
}

// SentMessage is one message the console provider accepted, as
// GET /_local/messages shows it.
type SentMessage struct {
	// ID is the id the console provider gave the message (the messageId of
	// a 200 answer).
	ID string `json:"id"`
	// Provider is the name of the console provider that accepted it, when
	// it is named after a real one (ConsoleProvider).
	Provider string       `json:"provider,omitempty"`
	To       string       `json:"to"`
	From     string       `json:"from"`
	Body     string       `json:"body"`
	Segments int          `json:"segments"`
	Encoding sms.Encoding `json:"encoding"`
	// At is when the provider call arrived: the limiter's slot had begun.
	At time.Time `json:"time"`
}

// Console is the local stand-in for Twilio and Vonage: it implements
// sms.Provider by printing each message, body included, as one
// human-readable line, and keeps the latest ones for GET /_local/messages.
// Printing the body is fine here because the output is the developer's
// own terminal (docs/local.md); the structured logs never carry it. It is safe
// for concurrent use.
type Console struct {
	w     io.Writer
	clock sms.Clock
	keep  int

	// status and delay: Report's. Guarded by mu.
	status StatusRecorder
	delay  time.Duration

	mu    sync.Mutex
	ring  []SentMessage // the latest messages; ring[next] is the oldest once full
	next  int
	total int
	buf   []byte
}

// NewConsole returns a console provider printing to w (nil or io.Discard
// for silence) that keeps the latest cfg.Keep messages.
func NewConsole(w io.Writer, cfg ListConfig) *Console {
	cfg = cfg.withDefaults()
	return &Console{w: writerOrDiscard(w), clock: cfg.Clock, keep: cfg.Keep, ring: make([]SentMessage, 0, cfg.Keep)}
}

// Send accepts m: it prints it, records it and returns a fresh id. It
// fails only when ctx is done, with a KindTransient error, as a provider
// call cut short before it was written would.
func (c *Console) Send(ctx context.Context, m sms.Message) (sms.Receipt, error) {
	return c.accept(ctx, "", m)
}

// accept prints and records m as accepted by the console provider named
// provider ("" for the unnamed one).
func (c *Console) accept(ctx context.Context, provider string, m sms.Message) (sms.Receipt, error) {
	if err := ctx.Err(); err != nil {
		return sms.Receipt{}, sms.E(sms.KindTransient, "console provider: request cancelled", sms.FailoverSafe(), sms.Cause(err))
	}
	seg := sms.CountSegments(m.Body)
	sent := SentMessage{
		ID: "console-" + sms.NewID(), Provider: provider, To: m.To, From: m.From, Body: m.Body,
		Segments: seg.Count, Encoding: seg.Encoding, At: c.clock.Now(),
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.ring) < c.keep {
		c.ring = append(c.ring, sent)
	} else {
		c.ring[c.next] = sent
		c.next = (c.next + 1) % c.keep
	}
	c.total++
	if c.w != io.Discard {
		c.buf = appendLine(c.buf[:0], sent)
		// A terminal that cannot be written to must not fail the send.
		_, _ = c.w.Write(c.buf)
	}
	if c.status != nil && m.ServiceID != "" {
		status, id, to := c.status, m.ServiceID, m.To
		time.AfterFunc(c.delay, func() { c.receipt(status, id, sent.ID, to) })
	}
	return sms.Receipt{ID: sent.ID}, nil
}

// StatusRecorder records status changes (sms.StatusStore).
type StatusRecorder interface {
	Record(ctx context.Context, serviceID string, ch sms.Change) (bool, error)
}

// ReportDelay is how long after sending a message the console provider
// reports its delivery.
const ReportDelay = time.Second

// Report makes the console provider report the delivery of every message
// it sends from now on, delay later, straight into status (the local
// stand-in for the providers' receipts): delivered, or undelivered for a
// number UndeliveredNumber says is one.
func (c *Console) Report(status StatusRecorder, delay time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status, c.delay = status, delay
}

// UndeliveredNumber reports whether the console provider reports a
// message to the number to as undelivered: the numbers ending in 0000
// (+14155550000, say). The provider fakes of the tests follow the same
// rule.
func UndeliveredNumber(to string) bool { return strings.HasSuffix(to, "0000") }

// receipt records the delivery report of the message id (service id) it
// sent as providerID, and prints it.
func (c *Console) receipt(status StatusRecorder, id, providerID, to string) {
	ch := sms.Change{Status: sms.StatusDelivered, ProviderCode: "delivered", ProviderMessageID: providerID, At: c.clock.Now()}
	if UndeliveredNumber(to) {
		ch.Status, ch.ProviderCode = sms.StatusUndelivered, "unreachable"
		ch.Error = &sms.Failure{Code: receipts.CodeUndelivered, Message: "the recipient's handset is unreachable (the console provider never delivers to numbers ending in 0000)", ProviderCode: "unreachable"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := status.Record(ctx, id, ch)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.w == io.Discard {
		return
	}
	line := fmt.Appendf(nil, "[sms] %s receipt id=%s: %s", c.clock.Now().Format("15:04:05.000"), providerID, ch.Status)
	if err != nil {
		line = fmt.Appendf(line, " (not recorded: %v)", err)
	}
	_, _ = c.w.Write(append(line, '\n'))
}

// appendLine formats a message as one line: time, sender, recipient,
// segments, id and the body quoted so that it stays on one line.
func appendLine(b []byte, m SentMessage) []byte {
	b = append(b, "[sms"...)
	if m.Provider != "" {
		b = append(b, ' ')
		b = append(b, m.Provider...)
	}
	b = append(b, "] "...)
	b = m.At.AppendFormat(b, "15:04:05.000")
	b = append(b, ' ')
	b = append(b, m.From...)
	b = append(b, " -> "...)
	b = append(b, m.To...)
	b = fmt.Appendf(b, " (%d %s, %s) id=%s: ", m.Segments, plural(m.Segments, "segment"), m.Encoding, m.ID)
	b = strconv.AppendQuote(b, m.Body)
	return append(b, '\n')
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// Messages returns the kept messages, oldest first (newest last).
func (c *Console) Messages() []SentMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]SentMessage, 0, len(c.ring))
	out = append(out, c.ring[c.next:]...)
	return append(out, c.ring[:c.next]...)
}

// Count reports how many messages the console accepted since it started,
// including those no longer kept.
func (c *Console) Count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// ConsoleProvider is a console provider named after a real one ("twilio",
// "vonage"), so that failover between providers can be tried locally:
// it prints and keeps its messages in its Console, marked with its name,
// and can be taken down (SetDown) to answer every call as an unavailable
// provider would. It is safe for concurrent use.
type ConsoleProvider struct {
	name    string
	console *Console

	mu      sync.Mutex
	down    bool
	refused int
}

// Named returns the console provider named name, printing and keeping
// its messages in c.
func (c *Console) Named(name string) *ConsoleProvider {
	return &ConsoleProvider{name: name, console: c}
}

// Name is the provider's name.
func (p *ConsoleProvider) Name() string { return p.name }

// SetDown takes the provider down (every call is refused as an HTTP 503
// would be: nothing is sent, and another provider may send the message)
// or brings it back up.
func (p *ConsoleProvider) SetDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

// Down reports whether the provider is down, and how many calls it
// refused while down.
func (p *ConsoleProvider) Down() (down bool, refused int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.down, p.refused
}

// Send accepts m as Console.Send does, unless the provider is down.
func (p *ConsoleProvider) Send(ctx context.Context, m sms.Message) (sms.Receipt, error) {
	p.mu.Lock()
	down := p.down
	if down {
		p.refused++
	}
	p.mu.Unlock()
	if down {
		return sms.Receipt{}, sms.E(sms.KindTransient, "the SMS provider is temporarily unavailable",
			sms.ProviderDetail("", "HTTP 503 Service Unavailable"), sms.FailoverSafe(),
			sms.Cause(fmt.Errorf("console provider %s is down (POST /_local/providers/%s/up)", p.name, p.name)))
	}
	return p.console.accept(ctx, p.name, m)
}
