package sms

import "time"

// Channel is the only channel this service speaks.
const Channel = "sms"

// Status is the state of a message as reported to callers.
type Status string

// The statuses a Result can carry.
const (
	StatusSent   Status = "sent"
	StatusQueued Status = "queued"
	StatusFailed Status = "failed"
	// StatusUnknown: the provider may or may not have accepted the message
	// (the request went out and no answer came back), and it could not be
	// queued for another try.
	StatusUnknown Status = "unknown"
)

// Encoding is the character set an SMS is sent in.
type Encoding string

// The two encodings an SMS body can need.
const (
	GSM7 Encoding = "GSM-7"
	UCS2 Encoding = "UCS-2"
)

// Message is one text message to deliver. To is E.164; From is the sender
// that will be used (an E.164 number, an alphanumeric sender ID or, for
// Twilio, a Messaging Service SID); an empty From means the default sender.
type Message struct {
	// ID is the id this service assigned (queued messages) or the producer's
	// dedupe id; empty for a direct send that has not been assigned one.
	ID   string
	To   string
	Body string
	From string
	// ServiceID is the service id keying the message's status record
	// (docs/status.md): the id the send path assigned, or the one derived
	// from a producer's dedupe id. Providers are asked to refer to it in
	// their receipts. Empty when status tracking is off (queue.Decode sets
	// it for every message; a Deliverer without a status store clears it).
	ServiceID string
	// ValidUntil, when not zero, is when the message expires: it is never
	// sent after it, and providers get the remaining validity.
	ValidUntil time.Time
}

// Receipt is what a provider answers when it accepts a message, or part of
// one (a KindPartial failure).
type Receipt struct {
	// ID is the provider's message id (for a multipart Vonage send, the
	// first accepted part's id).
	ID string
	// Provider names the provider that answered ("twilio", "vonage"): the
	// Dispatcher sets it after each provider call, so that results, status
	// records and logs name the provider that sent the message.
	Provider string
}

// Result is the outcome of a request as the API reports it. A failed send
// (status "failed") and a send whose outcome is unknown (status "unknown")
// come with the error that says why; the API adds it to the result as
// "error".
type Result struct {
	MessageID string `json:"messageId"`
	Status    Status `json:"status"`
	Channel   string `json:"channel"`
	To        string `json:"to"`
	// SendAt is when a scheduled message is due (status scheduled), in UTC.
	SendAt   time.Time `json:"sendAt,omitzero"`
	Segments int       `json:"segments,omitempty"`
	Encoding Encoding  `json:"encoding,omitempty"`
	// Provider names the provider that sent (or refused) the message;
	// empty when none was called (queued).
	Provider string `json:"provider,omitempty"`
}

// QueuedMessage is a message as it travels through the queue: the message
// itself plus the metadata the drain needs.
type QueuedMessage struct {
	Message
	// Attempt counts how many times the message has been enqueued (1 for
	// the first time).
	Attempt int
	// EnqueuedAt is when the message first entered the queue.
	EnqueuedAt time.Time
	// SendAt, when not zero, is when the message is due (a scheduled
	// message): it is never sent before then (docs/scheduling.md).
	SendAt time.Time
}

// FromProducer reports whether a producer put m on the queue: its ID is
// then the producer's (its dedupe id) and its ServiceID is derived from it
// (ServiceIDForProducer). A message the send function queued carries its
// service id as its ID.
func (m QueuedMessage) FromProducer() bool {
	return m.ServiceID != "" && m.ServiceID != m.ID
}
