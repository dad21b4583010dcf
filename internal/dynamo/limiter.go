package dynamo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fluxkit/sms/internal/metrics"
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
	// attrSpacing is the slot interval (ns) of the instance with the
	// longest one that took a slot until attrSpacingUntil (unix ns).
	attrSpacing      = "spacing"
	attrSpacingUntil = "spacingUntil"
	// attrDay is the UTC day (sms.UTCDay) whose segments attrSegments
	// counts: the shard's part of the daily budget.
	attrDay      = "day"
	attrSegments = "segs"
)

// LimiterConfig configures a Limiter.
type LimiterConfig struct {
	// Name tells apart limiters sharing a table; items are keyed
	// "limiter#<Name>". Empty means "default".
	Name string
	// Rate is the number of slots per second for the whole deployment; it
	// must be positive.
	Rate float64
	// Margin stretches every slot by this fraction: zero means none; it
	// must be less than 1. Calls may reach the provider up to Margin
	// seconds after their slot starts without breaking the 1-second bound,
	// and a saturated limiter grants Rate/(1+Margin) slots per second.
	Margin float64
	// ShardRate is the most slots per second one item takes; zero means
	// ShardRate. It must be a whole number. The rate is laid out over the
	// items greedily (see splitRate), so every instance sharing the table
	// must use the same ShardRate, whatever its Rate.
	ShardRate float64
	// Clock is the time source; nil means sms.SystemClock.
	Clock sms.Clock
	// DailySegments is the daily segment budget (SMS_DAILY_SEGMENT_LIMIT):
	// the most segments granted slots may carry per UTC day, split over
	// the shards as the rate is; zero means none. It is counted in the
	// slot's own write.
	DailySegments int64
	// Log receives the event daily_budget_80 when a shard's part of the
	// budget crosses 80 %; nil discards.
	Log *slog.Logger
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
	// budgeted: a daily segment budget applies (each shard's is
	// shard.budget).
	budgeted bool
	log      *slog.Logger
}

// shard is one limiter item and what this instance last learned about it.
type shard struct {
	sk       string
	rate     float64       // slots per second on this item
	weight   float64       // cumulative share of the rate, for picking
	interval time.Duration // this instance's spacing of the item's slots
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
	// stored is the item's stricter spacing as last seen; read and written
	// only by the holder of gate.
	stored spacing
	// budget is the shard's part of the daily segment budget.
	budget int64
	// day and used are the UTC day the item last counted segments for and
	// how many it had counted as last seen (a lower bound of the stored
	// count while the day lasts).
	day, used atomic.Int64
}

// spacing is an item's stored spacing: the interval (ns) and until when
// (unix ns) it binds instances with a shorter one. Zero: none stored.
type spacing struct {
	interval, until int64
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
	if cfg.ShardRate == 0 {
		cfg.ShardRate = ShardRate
	}
	if !(cfg.ShardRate >= 1) || cfg.ShardRate != math.Trunc(cfg.ShardRate) || math.IsInf(cfg.ShardRate, 0) {
		return nil, fmt.Errorf("dynamo: new limiter: shard rate %v is not a whole number of at least 1", cfg.ShardRate)
	}
	if cfg.Name == "" {
		cfg.Name = "default"
	}
	if cfg.Clock == nil {
		cfg.Clock = sms.SystemClock{}
	}
	if cfg.DailySegments < 0 {
		return nil, fmt.Errorf("dynamo: new limiter: daily segment budget %d is negative", cfg.DailySegments)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	shares := splitRate(cfg.Rate, cfg.ShardRate)
	l := &Limiter{
		api: api, table: table, clock: cfg.Clock, rate: cfg.Rate, shards: make([]shard, len(shares)),
		maxLate:  int64(cfg.Margin * float64(time.Second) / 2),
		budgeted: cfg.DailySegments > 0, log: cfg.Log,
	}
	var cum float64
	for i, r := range shares {
		l.shards[i].budget = budgetShare(cfg.DailySegments, cum, cum+r, cfg.Rate)
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

// splitRate lays rate out over items of at most unit slots per second,
// greedily: ceil(rate/unit) items, every one but the last at unit, the
// last with the rest. The shares add up to rate, all but the last are
// whole numbers (the last is whole when rate is), so their ceilings add up
// to ceil(rate). And item i's share, min(unit, rate - i·unit), never
// shrinks as rate grows: two instances configured with different rates
// share the items of the smaller layout, and on each item the larger rate
// has the larger share, so together they never offer more than the larger
// rate (docs/rate-limiting.md).
func splitRate(rate, unit float64) []float64 {
	n := int(math.Ceil(rate / unit))
	parts := make([]float64, n)
	for i := range parts {
		parts[i] = min(unit, rate-float64(i)*unit)
	}
	return parts
}

// budgetShare is the part of a daily budget of the shard that holds the
// rate's share from lo to hi: the budget is cut where the rate is, and the
// parts add up to the budget.
func budgetShare(budget int64, lo, hi, rate float64) int64 {
	at := func(x float64) int64 {
		if x >= rate {
			return budget
		}
		return int64(math.Floor(float64(budget) * x / rate))
	}
	return at(hi) - at(lo)
}

// Shards reports how many items the limiter spreads its rate over.
func (l *Limiter) Shards() int { return len(l.shards) }

// Interval is this instance's own spacing of consecutive slots on the
// first shard (with one shard, of all slots).
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

// Reserve takes one slot for a message of one segment: ReserveN(ctx, 1,
// 1, maxWait).
func (l *Limiter) Reserve(ctx context.Context, maxWait time.Duration) (time.Time, bool, error) {
	return l.ReserveN(ctx, 1, 1, maxWait)
}

// ReserveN takes n consecutive slots of a randomly picked shard if the
// first starts no later than now+maxWait and returns its start; otherwise
// it takes nothing, writes nothing, and returns ok == false. ReserveN does
// not sleep: the caller waits until the returned time, then calls the
// provider at once (the margin covers the lateness; see the package
// documentation). A negative maxWait counts as zero, an n below 1 as 1. A
// first slot whose start is more than half the margin (in seconds) in the
// past when DynamoDB's answer arrives is not returned: the slots stay
// taken and ReserveN tries again, so a slow answer costs capacity, never
// strictness.
//
// The next slot is moved on by n times this instance's interval, or the
// longer one the item stores when an instance configured with a lower
// rate (or a larger margin) took a slot within the last sms.SpacingHold;
// an instance whose interval is the longest in force stores its own.
//
// With a daily segment budget, the same write counts segments against the
// shard's part of the UTC day's budget, on condition that it has room for
// them; a shard without room is passed over for another, and when none
// has room ReserveN takes nothing and fails with sms.DailyBudgetError
// (after a request, or none when this instance already knows).
//
// Calls on one Limiter take turns on each shard: a caller waits (as long
// as ctx allows) while another caller of the same instance is talking to
// the item, then decides from the fresh answer, so callers of one instance
// never race each other for a slot and refusals they can foresee cost no
// request. Callers of different instances are kept apart by the
// conditions alone. One instance thus takes at most one slot per shard
// per DynamoDB round trip (100 to 200 a second at 5 to 10 ms).
//
// In steady state ReserveN makes one conditional UpdateItem. When the
// form, the spacing or the budget's day this instance predicts from what
// it last saw is wrong, DynamoDB answers with the stored item
// (ReturnValuesOnConditionCheckFailure) and the next request uses the
// right ones; when the stored next slot is already beyond now+maxWait,
// ReserveN answers ok == false after zero or one request. It never loops
// on contention: after a few requests it gives up with a KindUnavailable
// error. DynamoDB failures are KindUnavailable (throttling, server faults,
// connection) or KindInternal (anything else).
func (l *Limiter) ReserveN(ctx context.Context, n, segments int, maxWait time.Duration) (time.Time, bool, error) {
	maxWait, n, segments = max(maxWait, 0), max(n, 1), max(segments, 0)
	want := take{slots: int64(n), segments: int64(segments)}
	s := l.pick()
	for tried := 0; ; tried++ {
		if l.budgeted {
			if s = l.withRoom(s, want.segments); s == nil {
				return time.Time{}, false, sms.DailyBudgetError(l.clock.Now())
			}
		}
		at, ok, err := l.reserveOn(ctx, s, want, maxWait)
		if !errors.Is(err, errNoRoom) {
			return at, ok, err
		}
		if tried == len(l.shards) {
			return time.Time{}, false, sms.DailyBudgetError(l.clock.Now())
		}
	}
}

// take is what one ReserveN asks for: consecutive slots, and the segments
// they carry.
type take struct {
	slots, segments int64
}

// errNoRoom marks a shard whose part of the daily budget turned out to
// have no room for a take.
var errNoRoom = errors.New("no room in the daily budget")

// withRoom returns s, or when this instance knows that s's part of the
// budget has no room for segments today, another shard not known to be
// full; nil when none is left.
func (l *Limiter) withRoom(s *shard, segments int64) *shard {
	day := sms.UTCDay(l.clock.Now())
	if s.hasRoom(day, segments) {
		return s
	}
	for i := range l.shards {
		if o := &l.shards[i]; o.hasRoom(day, segments) {
			return o
		}
	}
	return nil
}

// hasRoom reports whether the shard's part of the budget may have room for
// segments on day, as far as this instance knows.
func (s *shard) hasRoom(day, segments int64) bool {
	used := int64(0)
	if s.day.Load() == day {
		used = s.used.Load()
	}
	return used+segments <= s.budget
}

// reserveOn is ReserveN on shard s. It fails with errNoRoom when the
// shard's part of the budget has no room for want.
func (l *Limiter) reserveOn(ctx context.Context, s *shard, want take, maxWait time.Duration) (time.Time, bool, error) {
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
		nowT := l.clock.Now()
		now := nowT.UnixNano()
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
		sp := s.spacingAt(now)
		b := l.budgetAt(s, nowT, want.segments)
		at, old, err := l.try(ctx, s, f, sp, b, want.slots, now, horizon)
		if err == nil {
			s.learn(old, sp, now)
			l.counted(ctx, s, b, old)
			s.observe(at + want.slots*sp.interval)
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
		s.stored = old.spacing
		if l.budgeted {
			s.day.Store(old.day)
			s.used.Store(old.segs)
			if old.day >= b.day && old.segs+want.segments > s.budget {
				return time.Time{}, false, errNoRoom
			}
		}
		if old.next == 0 {
			// The item (or its next slot) does not exist: only the restart
			// form can create it.
			s.known.Store(0)
			s.busy.Store(false)
			continue
		}
		// Learn whether a stale view meant an idle or a busy item.
		s.busy.Store(old.next >= now)
		s.observe(old.next)
		if old.next > horizon {
			return time.Time{}, false, nil
		}
	}
	cause := fmt.Errorf("dynamo: reserve slot: item %s/%s changed under %d requests", s.pk, s.sk, maxAttempts)
	if late {
		cause = fmt.Errorf("dynamo: reserve slot: item %s/%s: answers slower than %v", s.pk, s.sk, time.Duration(l.maxLate))
	}
	return time.Time{}, false, sms.E(sms.KindUnavailable, "rate limiter unavailable", sms.RetryAfter(retryAfter), sms.Cause(cause))
}

// budgetReq is how a request counts segments against the shard's part of
// the daily budget: on the item's day (sameDay: the item already counts
// day), or starting the day's count. Off: the limiter has no budget.
type budgetReq struct {
	on       bool
	sameDay  bool
	day      int64
	segments int64
	// most is the largest count the item may hold before the request.
	most int64
}

// budgetAt is the budget part of a request on s at now for segments, as
// far as this instance knows the item's day. An item that counts a later
// day than now's (another instance's clock is past midnight) is counted
// in that day.
func (l *Limiter) budgetAt(s *shard, now time.Time, segments int64) budgetReq {
	if !l.budgeted {
		return budgetReq{}
	}
	day := sms.UTCDay(now)
	known := s.day.Load()
	if known > day {
		day = known
	}
	return budgetReq{on: true, sameDay: known == day, day: day, segments: segments, most: s.budget - segments}
}

// counted learns the shard's count after a granted request b (old is the
// item before it), records the share of the shard's part of the budget
// used (metric DailyBudgetUsedPercent: the shards' parts fill alike), and
// logs daily_budget_80 when the request took it across 80 %.
func (l *Limiter) counted(ctx context.Context, s *shard, b budgetReq, old item) {
	if !b.on {
		return
	}
	before := int64(0)
	if b.sameDay {
		before = old.segs
	}
	after := before + b.segments
	s.day.Store(b.day)
	s.used.Store(after)
	if s.budget > 0 {
		metrics.Add(ctx, metrics.DailyBudgetUsedPercent, float64(after)*100/float64(s.budget))
	}
	if before*5 < s.budget*4 && after*5 >= s.budget*4 {
		l.log.LogAttrs(ctx, slog.LevelWarn, "the daily segment budget is 80 % used",
			slog.String("event", "daily_budget_80"), slog.String("shard", s.sk),
			slog.Int64("used", after), slog.Int64("budget", s.budget))
	}
}

// choice is the spacing a request applies: interval (ns), and whether it
// is the item's stored one (another instance's, stricter than this
// instance's own) rather than this instance's own.
type choice struct {
	interval int64
	stored   bool
}

// spacingAt is the spacing this instance applies at now, as far as it
// knows the item: the stored one while it is stricter and in force, else
// its own.
func (s *shard) spacingAt(now int64) choice {
	if s.stored.interval > int64(s.interval) && s.stored.until >= now {
		return choice{interval: s.stored.interval, stored: true}
	}
	return choice{interval: int64(s.interval)}
}

// learn records what the item held after a successful request that
// applied sp at now: old is the item before it.
func (s *shard) learn(old item, sp choice, now int64) {
	if sp.stored {
		s.stored = old.spacing
		return
	}
	// The request stored this instance's own spacing.
	s.stored = spacing{interval: sp.interval, until: now + int64(sms.SpacingHold)}
}

// item is what a limiter item holds; zero fields are absent.
type item struct {
	next int64
	spacing
	// day and segs are the budget's day and the segments counted in it.
	day, segs int64
}

// horizonAt is now + maxWait in unix ns, saturating instead of overflowing.
func horizonAt(now int64, maxWait time.Duration) int64 {
	if h := now + int64(maxWait); h >= now {
		return h
	}
	return math.MaxInt64
}

// errConflict marks a failed condition; try then returns the stored item.
var errConflict = errors.New("condition failed")

// try makes one conditional UpdateItem of form f applying spacing sp. On
// success it returns the granted slot (unix ns) and the item as it was
// before. When a condition fails it returns errConflict and the stored
// item (zero when it does not exist); any other error is an *sms.Error.
//
// With its own spacing, the request also stores it (with until =
// now + sms.SpacingHold), on condition that no stricter spacing is in
// force; with the stored spacing, on condition that it is still the one
// stored.
//
// With a daily budget (b.on), the same write counts b.segments: on the
// item's day if it has room for them, or starting a new day's count.
func (l *Limiter) try(ctx context.Context, s *shard, f form, sp choice, b budgetReq, slots, now, horizon int64) (at int64, old item, err error) {
	in := &dynamodb.UpdateItemInput{
		TableName: aws.String(l.table),
		Key: map[string]types.AttributeValue{
			attrPK: &types.AttributeValueMemberS{Value: s.pk},
			attrSK: &types.AttributeValueMemberS{Value: s.sk},
		},
		ExpressionAttributeNames:            map[string]string{"#n": attrNext, "#s": attrSpacing},
		ExpressionAttributeValues:           map[string]types.AttributeValue{":now": number(now)},
		ReturnValues:                        types.ReturnValueAllOld,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	var set, cond string
	switch f {
	case advance:
		set = "#n = #n + :i"
		cond = "#n BETWEEN :now AND :horizon"
		in.ExpressionAttributeValues[":i"] = number(slots * sp.interval)
		in.ExpressionAttributeValues[":horizon"] = number(horizon)
	case restart:
		set = "#n = :next"
		cond = "(attribute_not_exists(#n) OR #n < :now)"
		in.ExpressionAttributeValues[":next"] = number(now + slots*sp.interval)
	}
	if b.on {
		in.ExpressionAttributeNames["#d"] = attrDay
		in.ExpressionAttributeNames["#g"] = attrSegments
		in.ExpressionAttributeValues[":day"] = number(b.day)
		in.ExpressionAttributeValues[":g"] = number(b.segments)
		if b.sameDay {
			set += ", #g = #g + :g"
			cond += " AND #d = :day AND #g <= :most"
			in.ExpressionAttributeValues[":most"] = number(b.most)
		} else {
			set += ", #d = :day, #g = :g"
			cond += " AND (attribute_not_exists(#d) OR #d < :day)"
		}
	}
	if sp.stored {
		cond += " AND #s = :s"
		in.ExpressionAttributeValues[":s"] = number(sp.interval)
	} else {
		set += ", #s = :s, #u = :until"
		cond += " AND (attribute_not_exists(#s) OR #s <= :s OR #u < :now)"
		in.ExpressionAttributeNames["#u"] = attrSpacingUntil
		in.ExpressionAttributeValues[":s"] = number(sp.interval)
		in.ExpressionAttributeValues[":until"] = number(now + int64(sms.SpacingHold))
	}
	in.UpdateExpression = aws.String("SET " + set)
	in.ConditionExpression = aws.String(cond)
	out, err := l.api.UpdateItem(ctx, in)
	if err != nil {
		var ccf *types.ConditionalCheckFailedException
		if !errors.As(err, &ccf) {
			return 0, item{}, classify("reserve slot", err)
		}
		old, perr := parseItem(ccf.Item)
		if perr != nil {
			return 0, item{}, internalf("dynamo: reserve slot: item %s/%s: %w", s.pk, s.sk, perr)
		}
		return 0, old, errConflict
	}
	old, err = parseItem(out.Attributes)
	if err != nil {
		return 0, item{}, internalf("dynamo: reserve slot: item %s/%s: %w", s.pk, s.sk, err)
	}
	if f == restart {
		return now, old, nil
	}
	if old.next == 0 {
		return 0, item{}, internalf("dynamo: reserve slot: item %s/%s: no %s before an advance", s.pk, s.sk, attrNext)
	}
	return old.next, old, nil
}

// parseItem reads a limiter item; absent attributes read as zero.
func parseItem(attrs map[string]types.AttributeValue) (item, error) {
	var it item
	for name, dst := range map[string]*int64{attrNext: &it.next, attrSpacing: &it.interval, attrSpacingUntil: &it.until, attrDay: &it.day, attrSegments: &it.segs} {
		if _, ok := attrs[name]; !ok {
			continue
		}
		v, err := intAttr(attrs, name)
		if err != nil {
			return item{}, err
		}
		*dst = v
	}
	return it, nil
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
