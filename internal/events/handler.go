package events

import (
	"context"
	"log/slog"

	lambdaevents "github.com/aws/aws-lambda-go/events"
)

// Putter puts the events of changes on the bus and returns the indexes of
// the changes whose event it could not put (Publisher).
type Putter interface {
	Publish(ctx context.Context, changes []Change) (failed []int)
}

// Handler is the publisher function's handler: a batch of the table's
// stream in, one event per status change out, the records whose event
// could not be put reported as batch item failures (the event source
// mapping's ReportBatchItemFailures) by their sequence numbers. Lambda
// then retries from the first of them; a record it retries after its
// event went out is published again, which is why consumers deduplicate.
type Handler struct {
	put Putter
	log *slog.Logger
}

// NewHandler returns a Handler publishing through put; log may be nil.
func NewHandler(put Putter, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{put: put, log: log}
}

// Handle publishes the status changes of ev. It never fails as a whole:
// every problem is a batch item failure. A record whose image cannot be
// read is one too, logged as an error: the retries and then the on-failure
// destination keep it, rather than skipping it.
func (h *Handler) Handle(ctx context.Context, ev lambdaevents.DynamoDBEvent) (lambdaevents.DynamoDBEventResponse, error) {
	resp := lambdaevents.DynamoDBEventResponse{BatchItemFailures: []lambdaevents.DynamoDBBatchItemFailure{}}
	fail := func(seq string) {
		resp.BatchItemFailures = append(resp.BatchItemFailures, lambdaevents.DynamoDBBatchItemFailure{ItemIdentifier: seq})
	}
	var (
		changes []Change
		seqs    []string // the stream record of each change
	)
	for _, rec := range ev.Records {
		ch, ok, err := ChangeOf(rec)
		if err != nil {
			h.log.LogAttrs(ctx, slog.LevelError, "stream record not readable", slog.String("event", "status_event_failed"),
				slog.String("sequenceNumber", rec.Change.SequenceNumber), slog.String("pk", keyOf(rec)), slog.String("error", err.Error()))
			fail(rec.Change.SequenceNumber)
			continue
		}
		if ok {
			changes = append(changes, ch)
			seqs = append(seqs, rec.Change.SequenceNumber)
		}
	}
	var failed []int
	if len(changes) > 0 {
		failed = h.put.Publish(ctx, changes)
	}
	for _, i := range failed {
		fail(seqs[i])
	}
	level := slog.LevelInfo
	if len(resp.BatchItemFailures) > 0 {
		level = slog.LevelWarn
	}
	h.log.LogAttrs(ctx, level, "status events", slog.Int("records", len(ev.Records)), slog.Int("changes", len(changes)),
		slog.Int("published", len(changes)-len(failed)), slog.Int("failedRecords", len(resp.BatchItemFailures)))
	return resp, nil
}

// keyOf returns the partition key of a stream record ("" when it has no
// string one): a status record's names the message's service id, never a
// number or a body.
func keyOf(rec lambdaevents.DynamoDBEventRecord) string {
	if pk, ok := rec.Change.Keys["pk"]; ok && pk.DataType() == lambdaevents.DataTypeString {
		return pk.String()
	}
	return ""
}
