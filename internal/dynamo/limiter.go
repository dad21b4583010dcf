package dynamo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fluxkit/sms/internal/sms"
)

// LimiterAPI is the part of the DynamoDB client the limiter uses.
type LimiterAPI interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// ShardRate is the most slots per second the default configuration puts
// on one item: half of what a DynamoDB partition sustains for writes.
const ShardRate = 500

// maxAttempts caps the UpdateItem requests one Reserve makes. Two are
// enough unless the item changes under it twice; see Reserve.
const maxAttempts = 4

// Names of the limiter item's attributes.
const (
	attrPK   = "pk"
	attrSK   = "sk"
	attrNext = "next" // unix nanoseconds of the next free slot
)

// LimiterConfig configures a Limiter.
type LimiterConfig struct {
	// Name tells apart limiters sharing a table; items are keyed
	// "limiter#<Name>". Empty means "default".
	Name string
	// Rate is the number of slots per second for the whole deployment; it
	// must be positive.
	Rate float64
	// Margin stretches every slot by this fraction: zero means
	// sms.DefaultMargin; it must be less than 1. Calls may reach the provider
	// up to Margin seconds after their slot starts without breaking the
	// 1-second bound, and a saturated limiter grants Rate/(1+Margin) slots
	// per second.
	Margin float64
	// Shards is how many items share the rate; zero means
	// ceil(Rate/ShardRate).
	Shards int
	// Clock is the time source; nil means sms.SystemClock.
	Clock sms.Clock
}

// Limiter is the DynamoDB sms.Limiter shared by every instance of the
// service; see the package documentation for the algorithm and its bound.
// It is safe for concurrent use.
type Limiter struct {
	api    LimiterAPI
	table  string
	clock  sms.Clock
	rate   float64
	shards []shard
	// maxLate is how far in the past a granted slot may start when the
	// answer arrives: half the margin, in seconds. The other half is left
	// for the spread of the delay from Reserve's return to the provider.
	maxLate int64
}

// shard is one limiter item and what this instance last learned about it.
type shard struct {
	sk       string
	rate     float64       // slots per second on this item
	weight   float64       // cumulative share of the rate, for picking
	interval time.Duration // spacing of this item's slots
	pk       string
	// known is the largest value of the item's next slot (unix ns) this
	// instance has seen; 0 when none. The stored value never decreases,
	// so it is a lower bound of the stored value.
	known atomic.Int64
	// busy records whether, the last time known was in the past, the item
	// turned out to have been moved ahead by another instance. It picks
	// the first request's form in that case.
	busy atomic.Bool
	// gate lets one Reserve at a time talk to the item (capacity 1), so
	// that callers in one instance never race each other for a slot.
	gate chan struct{}
}

// NewLimiter returns a limiter keeping its state in table through api.
func NewLimiter(api LimiterAPI, table string, cfg LimiterConfig) (*Limiter, error) {
	if api == nil {
		return nil, errors.New("dynamo: new limiter: nil DynamoDB client")
	}
	if table == "" {
		return nil, errors.New("dynamo: new limiter: empty table name")
	}
	if !(cfg.Rate > 0) || math.IsInf(cfg.Rate, 0) {
		return nil, fmt.Errorf("dynamo: new limiter: rate %v is not a positive number", cfg.Rate)
	}
	if !(cfg.Margin >= 0 && cfg.Margin < 1) {
		return nil, fmt.Errorf("dynamo: new limiter: margin %v is not in [0, 1)", cfg.Margin)
	}
	if cfg.Shards < 0 {
		return nil, fmt.Errorf("dynamo: new limiter: shards %d is negative", cfg.Shards)
	}
	if cfg.Name == "" {
		cfg.Name = "default"
	}
	if cfg.Margin == 0 {
		cfg.Margin = sms.DefaultMargin
	}
	if cfg.Shards == 0 {
		cfg.Shards = int(math.Ceil(cfg.Rate / ShardRate))
	}
	if cfg.Clock == nil {
		cfg.Clock = sms.SystemClock{}
	}
	l := &Limiter{
		api: api, table: table, clock: cfg.Clock, rate: cfg.Rate, shards: make([]shard, cfg.Shards),
		maxLate: int64(cfg.Margin * float64(time.Second) / 2),
	}
	var cum float64
	for i, r := range splitRate(cfg.Rate, cfg.Shards) {
		cum += r
		s := &l.shards[i]
		s.pk = "limiter#" + cfg.Name
		s.sk = "shard#" + strconv.Itoa(i)
		s.rate = r
		s.weight = cum
		s.interval = sms.SlotInterval(r, cfg.Margin)
		s.gate = make(chan struct{}, 1)
	}
	return l, nil
}

// splitRate divides rate over n shards. An integral rate of at least n is
// split into integral parts (so that the per-shard bounds add up to
// exactly rate); any other rate into equal parts.
func splitRate(rate float64, n int) []float64 {
	parts := make([]float64, n)
	if rate == math.Trunc(rate) && rate >= float64(n) {
		base := math.Floor(rate / float64(n))
		extra := int(rate - base*float64(n))
		for i := range parts {
			parts[i] = base
			if i < extra {
				parts[i]++
			}
		}
		return parts
	}
	for i := range parts {
		parts[i] = rate / float64(n)
	}
	return parts
}

// Shards reports how many items the limiter spreads its rate over.
func (l *Limiter) Shards() int { return len(l.shards) }

// Interval is the spacing of consecutive slots on one shard (with one
// shard, of all slots).
func (l *Limiter) Interval() time.Duration { return l.shards[0].interval }

// pick chooses a shard at random, in proportion to its share of the rate.
func (l *Limiter) pick() *shard {
	if len(l.shards) == 1 {
		return &l.shards[0]
	}
	x := rand.Float64() * l.rate
	for i := range l.shards {
		if x < l.shards[i].weight {
			return &l.shards[i]
		}
	}
	return &l.shards[len(l.shards)-1]
}

// form is which of the two conditional updates a request makes.
type form int

const (
	// advance: the next slot is in [now, now+maxWait]; take it and move it
	// on by one interval.
	advance form = iota
	// restart: the next slot is in the past (or was never set); take now
	// and set the next slot to now + interval.
	restart
)

// Reserve takes the next free slot of a randomly picked shard if it starts
// no later than now+maxWait and returns its start; otherwise it takes
// nothing, writes nothing, and returns ok == false. Reserve does not
// sleep: the caller waits until the returned time, then calls the
// provider at once (the margin covers the lateness; see the package
// documentation). A negative maxWait counts as zero. A slot whose start
// is more than half the margin (in seconds) in the past when DynamoDB's
// answer arrives is not returned: it stays taken and Reserve tries again,
// so a slow answer costs capacity, never strictness.
//
// Calls on one Limiter take turns on each shard: a caller waits (as long
// as ctx allows) while another caller of the same instance is talking to
// the item, then decides from the fresh answer, so callers of one instance
// never race each other for a slot and refusals they can foresee cost no
// request. Callers of different instances are kept apart by the
// conditions alone. One instance thus takes at most one slot per shard
// per DynamoDB round trip (100 to 200 a second at 5 to 10 ms).
//
// In steady state Reserve makes one conditional UpdateItem. When the form
// this instance predicts from what it last saw is wrong, DynamoDB answers
// with the stored item (ReturnValuesOnConditionCheckFailure) and the
// second request uses the right form; when the stored next slot is
// already beyond now+maxWait, Reserve answers ok == false after zero or
// one request. It never loops on contention: after a few requests it
// gives up with a KindUnavailable error. DynamoDB failures are
// KindUnavailable (throttling, server faults, connection) or KindInternal
// (anything else).
func (l *Limiter) Reserve(ctx context.Context, maxWait time.Duration) (time.Time, bool, error) {
	if maxWait < 0 {
		maxWait = 0
	}
	s := l.pick()
	if s.known.Load() > horizonAt(l.clock.Now().UnixNano(), maxWait) {
		// Refuse at once, without waiting for the gate.
		return time.Time{}, false, nil
	}
	select {
	case s.gate <- struct{}{}:
	case <-ctx.Done():
		return time.Time{}, false, classify("reserve slot", ctx.Err())
	}
	defer func() { <-s.gate }()
	late := false
	for range maxAttempts {
		now := l.clock.Now().UnixNano()
		horizon := horizonAt(now, maxWait)
		known := s.known.Load()
		if known > horizon {
			// The stored value is at least known: no slot within maxWait.
			return time.Time{}, false, nil
		}
		// known >= now: the item is busy (next is at least known). Otherwise
		// guess from what happened the last time knowledge was stale.
		f := restart
		if known >= now || (known != 0 && s.busy.Load()) {
			f = advance
		}
		at, stored, err := l.try(ctx, s, f, now, horizon)
		if err == nil {
			s.observe(at + int64(s.interval))
			if l.clock.Now().UnixNano()-at > l.maxLate {
				// The answer came too late to use the slot within the
				// margin. It stays taken (capacity lost, never exceeded).
				late = true
				continue
			}
			return time.Unix(0, at), true, nil
		}
		late = false
		if !errors.Is(err, errConflict) {
			return time.Time{}, false, err
		}
		if stored == 0 {
			// The item does not exist: only the restart form can create it.
			s.known.Store(0)
			s.busy.Store(false)
			continue
		}
		// Learn whether a stale view meant an idle or a busy item.
		s.busy.Store(stored >= now)
		s.observe(stored)
		if stored > horizon {
			return time.Time{}, false, nil
		}
	}
	cause := fmt.Errorf("dynamo: reserve slot: item %s/%s changed under %d requests", s.pk, s.sk, maxAttempts)
	if late {
		cause = fmt.Errorf("dynamo: reserve slot: item %s/%s: answers slower than %v", s.pk, s.sk, time.Duration(l.maxLate))
	}
	return time.Time{}, false, sms.E(sms.KindUnavailable, "rate limiter unavailable", sms.RetryAfter(retryAfter), sms.Cause(cause))
}

// horizonAt is now + maxWait in unix ns, saturating instead of overflowing.
func horizonAt(now int64, maxWait time.Duration) int64 {
	if h := now + int64(maxWait); h >= now {
		return h
	}
	return math.MaxInt64
}

// errConflict marks a failed condition; try then returns the stored next
// slot (0 when the item does not exist).
var errConflict = errors.New("condition failed")

// try makes one conditional UpdateItem of form f. On success it returns
// the granted slot (unix ns). When the condition fails it returns
// errConflict and the stored next slot; any other error is an *sms.Error.
func (l *Limiter) try(ctx context.Context, s *shard, f form, now, horizon int64) (at, stored int64, err error) {
	in := &dynamodb.UpdateItemInput{
		TableName: aws.String(l.table),
		Key: map[string]types.AttributeValue{
			attrPK: &types.AttributeValueMemberS{Value: s.pk},
			attrSK: &types.AttributeValueMemberS{Value: s.sk},
		},
		ExpressionAttributeNames:            map[string]string{"#n": attrNext},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	switch f {
	case advance:
		in.UpdateExpression = aws.String("SET #n = #n + :i")
		in.ConditionExpression = aws.String("#n BETWEEN :now AND :horizon")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{
			":i":       number(int64(s.interval)),
			":now":     number(now),
			":horizon": number(horizon),
		}
		in.ReturnValues = types.ReturnValueUpdatedOld
	case restart:
		in.UpdateExpression = aws.String("SET #n = :next")
		in.ConditionExpression = aws.String("attribute_not_exists(#n) OR #n < :now")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{
			":next": number(now + int64(s.interval)),
			":now":  number(now),
		}
		in.ReturnValues = types.ReturnValueNone
	}
	out, err := l.api.UpdateItem(ctx, in)
	if err != nil {
		var ccf *types.ConditionalCheckFailedException
		if !errors.As(err, &ccf) {
			return 0, 0, classify("reserve slot", err)
		}
		if _, ok := ccf.Item[attrNext]; !ok {
			return 0, 0, errConflict
		}
		stored, perr := intAttr(ccf.Item, attrNext)
		if perr != nil {
			return 0, 0, internalf("dynamo: reserve slot: item %s/%s: %w", s.pk, s.sk, perr)
		}
		return 0, stored, errConflict
	}
	if f == restart {
		return now, 0, nil
	}
	at, err = intAttr(out.Attributes, attrNext)
	if err != nil {
		return 0, 0, internalf("dynamo: reserve slot: item %s/%s: %w", s.pk, s.sk, err)
	}
	return at, 0, nil
}

// observe raises the shard's known next slot to v.
func (s *shard) observe(v int64) {
	for {
		old := s.known.Load()
		if v <= old || s.known.CompareAndSwap(old, v) {
			return
		}
	}
}

func number(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

// intAttr reads the integer number attribute name of item.
func intAttr(item map[string]types.AttributeValue, name string) (int64, error) {
	n, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, fmt.Errorf("attribute %s is %T, want a number", name, item[name])
	}
	v, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("attribute %s: %w", name, err)
	}
	return v, nil
}
