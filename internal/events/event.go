package events

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/fluxkit/sms/internal/sms"
)

// The event's envelope fields.
const (
	// Source is the source of every status event.
	Source = "fluxkit.sms"
	// DetailType is the detail-type of every status event.
	DetailType = "SMS Message Status Changed"
	// Channel is the detail's channel, as GET /messaging/sms/{id} answers it.
	Channel = "sms"
)

// timeLayout writes the detail's times: RFC 3339 in UTC with milliseconds,
// the records' precision.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// Change is one recorded status change: the record after it and the
// status it had before (empty for a new record).
type Change struct {
	Record   sms.Record
	Previous sms.Status
}

// Detail is the detail of a status event: the record without its history
// and owner, plus the status it left. docs/status-event.schema.json is
// its schema.
type Detail struct {
	Channel   string `json:"channel"`
	ServiceID string `json:"serviceId"`
	// MessageID is the id answered to the API caller; a record that does
	// not know it yet (a receipt outran the send path's write, which only
	// happens when the provider took the message at once) gives the
	// provider's id, which is what that answer carried, else the service
	// id.
	MessageID         string     `json:"messageId"`
	ProducerID        string     `json:"producerId,omitempty"`
	ProviderMessageID string     `json:"providerMessageId,omitempty"`
	Provider          string     `json:"provider,omitempty"`
	Status            sms.Status `json:"status"`
	// PreviousStatus is the status the change left; "" for a new record.
	PreviousStatus sms.Status   `json:"previousStatus"`
	To             string       `json:"to,omitempty"`
	From           string       `json:"from,omitempty"`
	Segments       int          `json:"segments,omitempty"`
	Encoding       sms.Encoding `json:"encoding,omitempty"`
	CreatedAt      string       `json:"createdAt,omitempty"`
	UpdatedAt      string       `json:"updatedAt"`
	ExpiresAt      string       `json:"expiresAt,omitempty"`
	Error          *sms.Failure `json:"error,omitempty"`
}

// NewDetail returns the detail of ch's event.
func NewDetail(ch Change) Detail {
	r := ch.Record
	d := Detail{
		Channel:           Channel,
		ServiceID:         r.ServiceID,
		MessageID:         r.MessageID,
		ProducerID:        r.ProducerID,
		ProviderMessageID: r.ProviderMessageID,
		Provider:          r.Provider,
		Status:            r.Status,
		PreviousStatus:    ch.Previous,
		To:                r.To,
		From:              r.From,
		Segments:          r.Segments,
		Encoding:          r.Encoding,
		CreatedAt:         formatTime(r.CreatedAt),
		UpdatedAt:         formatTime(r.UpdatedAt),
		ExpiresAt:         formatTime(r.ExpiresAt),
	}
	if d.MessageID == "" {
		d.MessageID = r.ProviderMessageID
	}
	if d.MessageID == "" {
		d.MessageID = r.ServiceID
	}
	if r.Error != nil {
		f := *r.Error
		d.Error = &f
	}
	return d
}

// formatTime writes t with timeLayout; the zero time is "".
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// Event is a status event as EventBridge delivers it to a rule's target
// (the fields this service sets), and as the local server shows it.
type Event struct {
	Source     string    `json:"source"`
	DetailType string    `json:"detail-type"`
	Time       time.Time `json:"time"`
	Detail     Detail    `json:"detail"`
}

// NewEvent returns the event of ch; its time is the change's (the
// record's updatedAt).
func NewEvent(ch Change) Event {
	return Event{Source: Source, DetailType: DetailType, Time: ch.Record.UpdatedAt, Detail: NewDetail(ch)}
}

// marshalDetail encodes the detail of ch.
func marshalDetail(ch Change) (string, error) {
	b, err := json.Marshal(NewDetail(ch))
	if err != nil {
		return "", fmt.Errorf("events: encode the detail of %s: %w", ch.Record.ServiceID, err)
	}
	return string(b), nil
}
