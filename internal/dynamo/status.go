package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fluxkit/sms/internal/sms"
)

// StatusAPI is the part of the DynamoDB client the status store uses.
type StatusAPI interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// StatusIndex is the table's global secondary index on the status items'
// providerMessageId (keys only), the one lookup a key cannot serve:
// template.yaml and internal/testing/mototest create it.
const StatusIndex = "providerMessageId"

// Names of the status item's attributes. History entries are attributes
// of their own, histPrefix + status, so that each status has one entry
// and one write sets it.
const (
	statusPK       = "status#"
	statusSK       = "status"
	attrStatus     = "status"
	attrProviderID = "providerMessageId" // StatusIndex's key: set once known
	attrCreatedAt  = "createdAt"         // unix ms
	attrUpdatedAt  = "updatedAt"         // unix ms
	attrError      = "error"             // map: code, message, providerCode
	histPrefix     = "h_"                // map: at (unix ms), pc (provider code)
	keyCode        = "code"
	keyAt          = "at"
)

// maxStatusAttempts caps the UpdateItem requests of one Record. The first
// one settles every write whose status moves the record; a second one
// merges a write the record is ahead of. Each further one follows a write
// by another writer to what the merge depended on (the status, the
// history entry of the same status, createdAt), which a message's few
// writers can change only a few times.
const maxStatusAttempts = 12

// StatusStore is the DynamoDB sms.StatusStore. Each record is one item,
// pk "status#<service id>", sk "status" (docs/status.md lists its
// attributes), with ttl the end of its retention. A write is one
// UpdateItem whose condition admits it when the record is absent or its
// status may move to the new one (sms.Predecessors); when the condition
// fails, the stored item comes back with the failure, the change is
// merged into it with sms.Record.Apply, and what is left to write, if
// anything, is written by a second UpdateItem conditioned on the state it
// was merged into. Expiry is decided from updatedAt and the retention,
// never left to the table's TTL. It is safe for concurrent use.
type StatusStore struct {
	api       StatusAPI
	table     string
	clock     sms.Clock
	retention time.Duration
}

// StatusConfig holds the options of a StatusStore.
type StatusConfig struct {
	// Retention is how long a record is kept after its last change; zero
	// means sms.DefaultStatusRetention.
	Retention time.Duration
	// Clock is the time source; nil means sms.SystemClock.
	Clock sms.Clock
}

// NewStatusStore returns a store keeping records in table through api.
func NewStatusStore(api StatusAPI, table string, cfg StatusConfig) *StatusStore {
	if cfg.Clock == nil {
		cfg.Clock = sms.SystemClock{}
	}
	if cfg.Retention <= 0 {
		cfg.Retention = sms.DefaultStatusRetention
	}
	return &StatusStore{api: api, table: table, clock: cfg.Clock, retention: cfg.Retention}
}

// Record merges ch into the record of serviceID; see sms.StatusStore. A
// write that moves the status costs one request; one the record is ahead
// of costs one more only when it brings something the record lacks. When
// the answer to a write that moved the record is lost and the SDK retries
// it, the retry finds the record moved and Record reports no change.
func (s *StatusStore) Record(ctx context.Context, serviceID string, ch sms.Change) (bool, error) {
	if err := sms.CheckRecordArgs(serviceID, ch); err != nil {
		return false, fmt.Errorf("dynamo: status record: %w", err)
	}
	now := s.clock.Now()
	in, moved := s.advanceInput(serviceID, ch, now), true
	for range maxStatusAttempts {
		_, err := s.api.UpdateItem(ctx, in)
		if err == nil {
			return moved, nil
		}
		var ccf *types.ConditionalCheckFailedException
		if !errors.As(err, &ccf) {
			return false, classify("status record", err)
		}
		if len(ccf.Item) == 0 {
			// The record vanished since it was read (the table's TTL).
			in, moved = s.advanceInput(serviceID, ch, now), true
			continue
		}
		old, err := decodeStatus(ccf.Item)
		if err != nil {
			return false, internalf("dynamo: status record: %v", err)
		}
		next, mv, modified := old.Apply(ch, now)
		if !modified {
			return false, nil
		}
		in, moved = s.mergeInput(old, next, ch, now), mv
	}
	return false, sms.E(sms.KindUnavailable, "status store contended", sms.RetryAfter(retryAfter),
		sms.Cause(fmt.Errorf("dynamo: status record: record changed under %d requests", maxStatusAttempts)))
}

// expr collects an update expression with its names and values.
type expr struct {
	set, remove, cond []string
	names             map[string]string
	values            map[string]types.AttributeValue
}

func newExpr() *expr {
	return &expr{names: map[string]string{}, values: map[string]types.AttributeValue{}}
}

// name returns the placeholder of attribute a.
func (e *expr) name(a string) string {
	p := "#" + strings.NewReplacer("_", "", "#", "").Replace(a)
	e.names[p] = a
	return p
}

// value returns a new placeholder for v.
func (e *expr) value(v types.AttributeValue) string {
	p := ":v" + strconv.Itoa(len(e.values))
	e.values[p] = v
	return p
}

func (e *expr) input(table, serviceID string) *dynamodb.UpdateItemInput {
	update := "SET " + strings.Join(e.set, ", ")
	if len(e.remove) > 0 {
		update += " REMOVE " + strings.Join(e.remove, ", ")
	}
	return &dynamodb.UpdateItemInput{
		TableName:                           aws.String(table),
		Key:                                 statusKey(serviceID),
		UpdateExpression:                    aws.String(update),
		ConditionExpression:                 aws.String(strings.Join(e.cond, " AND ")),
		ExpressionAttributeNames:            e.names,
		ExpressionAttributeValues:           e.values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
}

// advanceInput is the write that creates the record from ch or moves it
// to ch.Status: its condition holds when the record is absent, or when
// its status is one ch.Status may follow and it has no earlier entry for
// ch.Status in its history; and when the record has no earlier createdAt
// than ch's, and no other provider id than ch.ForProviderMessageID when
// that is set. Fields ch brings are set only where the record has none.
func (s *StatusStore) advanceInput(serviceID string, ch sms.Change, now time.Time) *dynamodb.UpdateItemInput {
	created, _, _ := sms.Record{}.Apply(ch, now) // the record ch alone makes
	e := newExpr()
	st, hist := e.name(attrStatus), e.name(histPrefix+string(ch.Status))
	entry := created.History[0]
	e.set = append(e.set, st+" = "+e.value(str(string(ch.Status))), hist+" = "+e.value(encodeEntry(entry)))
	e.setError(created.Error)
	for _, f := range statusFields {
		if v := f.get(&created); v != nil {
			n := e.name(f.attr)
			e.set = append(e.set, fmt.Sprintf("%s = if_not_exists(%s, %s)", n, n, e.value(v)))
		}
	}
	e.stamp(now, s.retention)

	var may []string
	from, deadLettered := sms.Predecessors(ch.Status)
	if len(from) > 0 {
		vals := make([]string, len(from))
		for i, p := range from {
			vals[i] = e.value(str(string(p)))
		}
		may = append(may, st+" IN ("+strings.Join(vals, ", ")+")")
	}
	if deadLettered {
		may = append(may, fmt.Sprintf("(%s = %s AND %s.%s = %s)", st, e.value(str(string(sms.StatusFailed))),
			e.name(attrError), e.name(keyCode), e.value(str(sms.CodeDeadLettered))))
	}
	cond := "attribute_not_exists(" + st + ")"
	if len(may) > 0 {
		cond = fmt.Sprintf("(%s OR ((%s) AND (attribute_not_exists(%s) OR %s.%s > %s)))", cond,
			strings.Join(may, " OR "), hist, hist, e.name(keyAt), e.value(number(entry.At.UnixMilli())))
	}
	e.cond = append(e.cond, cond)
	if ch.ForProviderMessageID != "" {
		p := e.name(attrProviderID)
		e.cond = append(e.cond, fmt.Sprintf("(attribute_not_exists(%s) OR %s = %s)", p, p, e.value(str(ch.ForProviderMessageID))))
	}
	if !created.CreatedAt.IsZero() {
		cr := e.name(attrCreatedAt)
		v := e.value(number(created.CreatedAt.UnixMilli()))
		e.set = append(e.set, fmt.Sprintf("%s = if_not_exists(%s, %s)", cr, cr, v))
		e.cond = append(e.cond, fmt.Sprintf("(attribute_not_exists(%s) OR %s <= %s)", cr, cr, v))
	}
	return e.input(s.table, serviceID)
}

// mergeInput is the write that turns the stored record old into next,
// the merge of ch: it is conditioned on what the merge depended on (the
// status, the error's code, the history entry of ch's status, createdAt,
// and for a change limited to a provider id the absence of one), so that
// it fails, returning the new state, when another writer changed any of
// them in between. Fields the record lacked are set only where they are
// still missing.
func (s *StatusStore) mergeInput(old, next sms.Record, ch sms.Change, now time.Time) *dynamodb.UpdateItemInput {
	st := ch.Status
	e := newExpr()
	stName, hist := e.name(attrStatus), e.name(histPrefix+string(st))
	e.cond = append(e.cond, stName+" = "+e.value(str(string(old.Status))))
	if next.Status != old.Status {
		e.set = append(e.set, stName+" = "+e.value(str(string(next.Status))))
		e.setError(next.Error)
	}
	errName := e.name(attrError)
	if old.Error == nil {
		e.cond = append(e.cond, "attribute_not_exists("+errName+")")
	} else {
		e.cond = append(e.cond, errName+"."+e.name(keyCode)+" = "+e.value(str(old.Error.Code)))
	}
	oldEntry, hadEntry := entryOf(old, st)
	if newEntry, has := entryOf(next, st); has && (!hadEntry || !newEntry.At.Equal(oldEntry.At) || newEntry.ProviderCode != oldEntry.ProviderCode) {
		e.set = append(e.set, hist+" = "+e.value(encodeEntry(newEntry)))
	}
	if hadEntry {
		e.cond = append(e.cond, hist+"."+e.name(keyAt)+" = "+e.value(number(oldEntry.At.UnixMilli())))
	} else {
		e.cond = append(e.cond, "attribute_not_exists("+hist+")")
	}
	for _, f := range statusFields {
		if f.get(&old) == nil {
			if v := f.get(&next); v != nil {
				n := e.name(f.attr)
				e.set = append(e.set, fmt.Sprintf("%s = if_not_exists(%s, %s)", n, n, e.value(v)))
			}
		}
	}
	if ch.ForProviderMessageID != "" && old.ProviderMessageID == "" {
		e.cond = append(e.cond, "attribute_not_exists("+e.name(attrProviderID)+")")
	}
	if !next.CreatedAt.Equal(old.CreatedAt) {
		cr := e.name(attrCreatedAt)
		e.set = append(e.set, cr+" = "+e.value(number(next.CreatedAt.UnixMilli())))
		if old.CreatedAt.IsZero() {
			e.cond = append(e.cond, "attribute_not_exists("+cr+")")
		} else {
			e.cond = append(e.cond, cr+" = "+e.value(number(old.CreatedAt.UnixMilli())))
		}
	}
	e.stamp(now, s.retention)
	return e.input(s.table, old.ServiceID)
}

// setError sets the error attribute to f, or removes it when f is nil.
func (e *expr) setError(f *sms.Failure) {
	n := e.name(attrError)
	if f == nil {
		e.remove = append(e.remove, n)
		return
	}
	m := map[string]types.AttributeValue{keyCode: str(f.Code)}
	putStr(m, "message", f.Message)
	putStr(m, "providerCode", f.ProviderCode)
	e.set = append(e.set, n+" = "+e.value(&types.AttributeValueMemberM{Value: m}))
}

// stamp sets updatedAt to now and ttl to the end of the retention.
func (e *expr) stamp(now time.Time, retention time.Duration) {
	now = now.UTC().Truncate(time.Millisecond)
	e.set = append(e.set,
		e.name(attrUpdatedAt)+" = "+e.value(number(now.UnixMilli())),
		e.name(attrTTL)+" = "+e.value(number(expiryTTL(now, retention))))
}

// expiryTTL is the ttl attribute (epoch seconds, rounded up) of a record
// last changed at updated.
func expiryTTL(updated time.Time, retention time.Duration) int64 {
	end := updated.Add(retention)
	ttl := end.Unix()
	if end.After(time.Unix(ttl, 0)) {
		ttl++
	}
	return ttl
}

// statusField is a field of the record stored as an attribute of its
// own, set once.
type statusField struct {
	attr string
	// get returns the field of r as an attribute value, nil when unknown.
	get func(r *sms.Record) types.AttributeValue
	// put sets the field of r from v.
	put func(r *sms.Record, v types.AttributeValue) error
}

func stringField(attr string, f func(r *sms.Record) *string) statusField {
	return statusField{
		attr: attr,
		get: func(r *sms.Record) types.AttributeValue {
			if *f(r) == "" {
				return nil
			}
			return str(*f(r))
		},
		put: func(r *sms.Record, v types.AttributeValue) error {
			s, ok := v.(*types.AttributeValueMemberS)
			if !ok {
				return fmt.Errorf("attribute %s is %T, want a string", attr, v)
			}
			*f(r) = s.Value
			return nil
		},
	}
}

// statusFields are the set-once fields; createdAt (the earliest wins) and
// the status, error and history are handled on their own.
var statusFields = []statusField{
	stringField("messageId", func(r *sms.Record) *string { return &r.MessageID }),
	stringField("producerId", func(r *sms.Record) *string { return &r.ProducerID }),
	stringField(attrProviderID, func(r *sms.Record) *string { return &r.ProviderMessageID }),
	stringField("provider", func(r *sms.Record) *string { return &r.Provider }),
	stringField("to", func(r *sms.Record) *string { return &r.To }),
	stringField("from", func(r *sms.Record) *string { return &r.From }),
	stringField("encoding", func(r *sms.Record) *string { return (*string)(&r.Encoding) }),
	{
		attr: "segments",
		get: func(r *sms.Record) types.AttributeValue {
			if r.Segments <= 0 {
				return nil
			}
			return number(int64(r.Segments))
		},
		put: func(r *sms.Record, v types.AttributeValue) error {
			n, err := numberValue("segments", v)
			r.Segments = int(n)
			return err
		},
	},
	{
		attr: "expiresAt",
		get: func(r *sms.Record) types.AttributeValue {
			if r.ExpiresAt.IsZero() {
				return nil
			}
			return number(r.ExpiresAt.UnixMilli())
		},
		put: func(r *sms.Record, v types.AttributeValue) error {
			n, err := numberValue("expiresAt", v)
			r.ExpiresAt = time.UnixMilli(n).UTC()
			return err
		},
	},
	{
		attr: "owner",
		get: func(r *sms.Record) types.AttributeValue {
			if r.Owner.IsZero() {
				return nil
			}
			m := map[string]types.AttributeValue{"kind": str(string(r.Owner.Kind))}
			putStr(m, "subject", r.Owner.Subject)
			return &types.AttributeValueMemberM{Value: m}
		},
		put: func(r *sms.Record, v types.AttributeValue) error {
			m, ok := v.(*types.AttributeValueMemberM)
			if !ok {
				return fmt.Errorf("attribute owner is %T, want a map", v)
			}
			r.Owner = sms.Owner{Kind: sms.OwnerKind(mapStr(m.Value, "kind")), Subject: mapStr(m.Value, "subject")}
			return nil
		},
	},
}

func encodeEntry(h sms.HistoryEntry) types.AttributeValue {
	m := map[string]types.AttributeValue{keyAt: number(h.At.UnixMilli())}
	putStr(m, "pc", h.ProviderCode)
	return &types.AttributeValueMemberM{Value: m}
}

// entryOf returns the history entry of st in r.
func entryOf(r sms.Record, st sms.Status) (sms.HistoryEntry, bool) {
	for _, h := range r.History {
		if h.Status == st {
			return h, true
		}
	}
	return sms.HistoryEntry{}, false
}

// decodeStatus reads a status item.
func decodeStatus(item map[string]types.AttributeValue) (sms.Record, error) {
	var r sms.Record
	pk, _ := item[attrPK].(*types.AttributeValueMemberS)
	if pk == nil || !strings.HasPrefix(pk.Value, statusPK) {
		return r, fmt.Errorf("item %v is not a status record", item[attrPK])
	}
	r.ServiceID = strings.TrimPrefix(pk.Value, statusPK)
	st, _ := item[attrStatus].(*types.AttributeValueMemberS)
	if st == nil {
		return r, fmt.Errorf("status record %s has no status", r.ServiceID)
	}
	r.Status = sms.Status(st.Value)
	for _, f := range statusFields {
		if v, ok := item[f.attr]; ok {
			if err := f.put(&r, v); err != nil {
				return r, fmt.Errorf("status record %s: %w", r.ServiceID, err)
			}
		}
	}
	for name, v := range map[string]*time.Time{attrCreatedAt: &r.CreatedAt, attrUpdatedAt: &r.UpdatedAt} {
		if av, ok := item[name]; ok {
			n, err := numberValue(name, av)
			if err != nil {
				return r, fmt.Errorf("status record %s: %w", r.ServiceID, err)
			}
			*v = time.UnixMilli(n).UTC()
		}
	}
	if m, ok := item[attrError].(*types.AttributeValueMemberM); ok {
		r.Error = &sms.Failure{Code: mapStr(m.Value, keyCode), Message: mapStr(m.Value, "message"), ProviderCode: mapStr(m.Value, "providerCode")}
	}
	for name, v := range item {
		hs, ok := strings.CutPrefix(name, histPrefix)
		if !ok {
			continue
		}
		m, ok := v.(*types.AttributeValueMemberM)
		if !ok {
			return r, fmt.Errorf("status record %s: attribute %s is %T, want a map", r.ServiceID, name, v)
		}
		n, err := numberValue(name+"."+keyAt, m.Value[keyAt])
		if err != nil {
			return r, fmt.Errorf("status record %s: %w", r.ServiceID, err)
		}
		r.History = append(r.History, sms.HistoryEntry{Status: sms.Status(hs), At: time.UnixMilli(n).UTC(), ProviderCode: mapStr(m.Value, "pc")})
	}
	sms.SortHistory(r.History)
	return r, nil
}

// Get finds a record by its service id, then by a producer's id (the
// service id derived from it), then by a provider's id (StatusIndex, then
// the item): one to four requests, all but the index's strongly
// consistent. A provider id is found once the index has caught up with
// the write that set it (normally well under a second).
func (s *StatusStore) Get(ctx context.Context, id string) (sms.Record, error) {
	if id == "" {
		return sms.Record{}, sms.RecordNotFound(id)
	}
	now := s.clock.Now()
	if sms.IsServiceIDShaped(id) {
		if r, ok, err := s.getLive(ctx, id, now); err != nil || ok {
			return r, err
		}
	}
	if r, ok, err := s.getLive(ctx, sms.ServiceIDForProducer(id), now); err != nil || ok && (r.ProducerID == "" || r.ProducerID == id) {
		return r, err
	}
	out, err := s.api.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		IndexName:                 aws.String(StatusIndex),
		KeyConditionExpression:    aws.String("#p = :id"),
		ExpressionAttributeNames:  map[string]string{"#p": attrProviderID},
		ExpressionAttributeValues: map[string]types.AttributeValue{":id": str(id)},
	})
	if err != nil {
		return sms.Record{}, classify("status get", err)
	}
	for _, item := range out.Items {
		pk, _ := item[attrPK].(*types.AttributeValueMemberS)
		if pk == nil || !strings.HasPrefix(pk.Value, statusPK) {
			continue
		}
		r, ok, err := s.getLive(ctx, strings.TrimPrefix(pk.Value, statusPK), now)
		if err != nil || ok && r.ProviderMessageID == id {
			return r, err
		}
	}
	return sms.Record{}, sms.RecordNotFound(id)
}

// getLive reads the record of serviceID, reporting false when there is
// none or it is past its retention.
func (s *StatusStore) getLive(ctx context.Context, serviceID string, now time.Time) (sms.Record, bool, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            statusKey(serviceID),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return sms.Record{}, false, classify("status get", err)
	}
	if len(out.Item) == 0 {
		return sms.Record{}, false, nil
	}
	r, err := decodeStatus(out.Item)
	if err != nil {
		return sms.Record{}, false, internalf("dynamo: status get: %v", err)
	}
	if r.UpdatedAt.Add(s.retention).Before(now) {
		return sms.Record{}, false, nil
	}
	return r, true, nil
}

func statusKey(serviceID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(statusPK + serviceID), attrSK: str(statusSK)}
}

// putStr sets m[k] to v unless v is empty.
func putStr(m map[string]types.AttributeValue, k, v string) {
	if v != "" {
		m[k] = str(v)
	}
}

// mapStr reads the string m[k], or "".
func mapStr(m map[string]types.AttributeValue, k string) string {
	if s, ok := m[k].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// numberValue reads v, the integer attribute name.
func numberValue(name string, v types.AttributeValue) (int64, error) {
	return intAttr(map[string]types.AttributeValue{name: v}, name)
}
