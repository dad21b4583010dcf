package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fluxkit/sms/internal/sms"
)

// Transition moves the record of serviceID from status from to status to
// when it is in from; see sms.Transitioner. It is one UpdateItem:
//
//	SET status = :to, h_<to> = :entry, updatedAt = :now, ttl = :ttl REMOVE error
//	IF status = :from AND updatedAt >= :now - retention
//
// returning the new item, or the stored one when the condition fails, so
// that a cancel and the drain's hand-over of the same scheduled message
// cannot both win (docs/status.md). A record in from has no history entry
// of a later status yet (any report of one would have moved it), so the
// entry is simply set.
func (s *StatusStore) Transition(ctx context.Context, serviceID string, from, to sms.Status, at time.Time) (sms.Record, bool, error) {
	if err := sms.CheckTransitionArgs(serviceID, from, to); err != nil {
		return sms.Record{}, false, fmt.Errorf("dynamo: status transition: %w", err)
	}
	now := s.clock.Now()
	if at.IsZero() {
		at = now
	}
	e := newExpr()
	st := e.name(attrStatus)
	entry := sms.HistoryEntry{Status: to, At: at.UTC().Truncate(time.Millisecond)}
	e.set = append(e.set, st+" = "+e.value(str(string(to))), e.name(histPrefix+string(to))+" = "+e.value(encodeEntry(entry)))
	e.remove = append(e.remove, e.name(attrError))
	e.stamp(now, s.retention)
	e.cond = append(e.cond, st+" = "+e.value(str(string(from))),
		e.name(attrUpdatedAt)+" >= "+e.value(number(now.Add(-s.retention).UnixMilli())))
	in := e.input(s.table, serviceID)
	in.ReturnValues = types.ReturnValueAllNew
	out, err := s.api.UpdateItem(ctx, in)
	if err == nil {
		r, derr := decodeStatus(out.Attributes)
		if derr != nil {
			return sms.Record{}, false, internalf("dynamo: status transition: %v", derr)
		}
		return r, true, nil
	}
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return sms.Record{}, false, classify("status transition", err)
	}
	if len(ccf.Item) == 0 {
		return sms.Record{}, false, nil
	}
	old, derr := decodeStatus(ccf.Item)
	if derr != nil {
		return sms.Record{}, false, internalf("dynamo: status transition: %v", derr)
	}
	if old.UpdatedAt.Add(s.retention).Before(now) {
		return sms.Record{}, false, nil
	}
	return old, false, nil
}
