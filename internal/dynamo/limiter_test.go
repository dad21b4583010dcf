package dynamo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/conformance"
	"github.com/fluxkit/sms/internal/testing/mototest"
)

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestLimiterConformance(t *testing.T) {
	table := newTable(t)
	conformance.Limiter(t, func(t *testing.T, spec conformance.LimiterSpec) sms.Limiter {
		l, err := NewLimiter(newCountingAPI(), table, LimiterConfig{
			Name: spec.State, Rate: spec.Rate, Margin: spec.Margin, ShardRate: 1e6, Clock: spec.Clock, DailySegments: spec.DailySegments,
		})
		if err != nil {
			t.Fatalf("NewLimiter: %v", err)
		}
		return l
	})
}

// mustLimiter builds a limiter on table or fails the test.
func mustLimiter(tb testing.TB, api LimiterAPI, table string, cfg LimiterConfig) *Limiter {
	tb.Helper()
	l, err := NewLimiter(api, table, cfg)
	if err != nil {
		tb.Fatalf("NewLimiter(%+v): %v", cfg, err)
	}
	return l
}

// mustReserve calls Reserve and fails the test on an error or no slot.
func mustReserve(tb testing.TB, l *Limiter, maxWait time.Duration) time.Time {
	tb.Helper()
	at, ok, err := l.Reserve(context.Background(), maxWait)
	if err != nil || !ok {
		tb.Fatalf("Reserve(%v) = %v, %v, %v; want a slot", maxWait, at, ok, err)
	}
	return at
}

func TestLimiterItem(t *testing.T) {
	table := newTable(t)
	clock := conformance.NewClock(epoch)
	l := mustLimiter(t, moto.DynamoDB(), table, LimiterConfig{Name: "provider", Rate: 10, Margin: sms.DefaultMargin, Clock: clock})
	interval := 105 * time.Millisecond
	if got := l.Interval(); got != interval {
		t.Fatalf("Interval() = %v, want %v", got, interval)
	}
	wantNext := func(want time.Time) {
		t.Helper()
		item := getItem(t, table, "limiter#provider", "shard#0")
		got, err := intAttr(item, "next")
		if err != nil {
			t.Fatalf("item next: %v (item %v)", err, item)
		}
		if got != want.UnixNano() {
			t.Errorf("stored next = %v, want %v", time.Unix(0, got).UTC(), want)
		}
	}
	mustReserve(t, l, 0)
	wantNext(epoch.Add(interval))
	mustReserve(t, l, time.Second)
	wantNext(epoch.Add(2 * interval))
	// A refusal writes nothing, whether the limiter knows the answer
	// already or has to ask.
	if _, ok, err := l.Reserve(context.Background(), 0); ok || err != nil {
		t.Fatalf("Reserve(0) = %v, %v; want no slot", ok, err)
	}
	fresh := mustLimiter(t, moto.DynamoDB(), table, LimiterConfig{Name: "provider", Rate: 10, Margin: sms.DefaultMargin, Clock: clock})
	if _, ok, err := fresh.Reserve(context.Background(), interval); ok || err != nil {
		t.Fatalf("fresh Reserve(interval) = %v, %v; want no slot", ok, err)
	}
	wantNext(epoch.Add(2 * interval))
}

// TestLimiterRequests counts DynamoDB requests per Reserve with a manual
// clock, so that every figure is exact.
func TestLimiterRequests(t *testing.T) {
	table := newTable(t)
	const rate = 10
	interval := 105 * time.Millisecond
	type call struct {
		advance  time.Duration // clock move before the call
		instance int           // which of two limiters sharing the item calls
		maxWait  time.Duration
		ok       bool
		requests int64
	}
	tests := []struct {
		name  string
		calls []call
	}{
		{"queueing behind each other: one request each", []call{
			{maxWait: time.Second, ok: true, requests: 1},
			{maxWait: time.Second, ok: true, requests: 1},
			{maxWait: time.Second, ok: true, requests: 1},
			{advance: 50 * time.Millisecond, maxWait: time.Second, ok: true, requests: 1},
		}},
		{"idle between calls: one request each", []call{
			{ok: true, requests: 1},
			{advance: time.Second, ok: true, requests: 1},
			{advance: 200 * time.Millisecond, ok: true, requests: 1},
			{advance: interval, ok: true, requests: 1},
		}},
		{"refusal known from the last answer: no request", []call{
			{ok: true, requests: 1},
			{ok: false, requests: 0},
			{maxWait: interval - 1, ok: false, requests: 0},
			{maxWait: interval, ok: true, requests: 1},
		}},
		{"cold instance joins a busy item: one extra request once", []call{
			{instance: 0, maxWait: time.Second, ok: true, requests: 1},
			{instance: 0, maxWait: time.Second, ok: true, requests: 1},
			{instance: 1, maxWait: time.Second, ok: true, requests: 2},
			{instance: 1, maxWait: time.Second, ok: true, requests: 1},
			{instance: 0, maxWait: time.Second, ok: true, requests: 1},
		}},
		{"cold instance refused by a busy item: one request", []call{
			{instance: 0, maxWait: time.Second, ok: true, requests: 1},
			{instance: 0, maxWait: time.Second, ok: true, requests: 1},
			{instance: 1, maxWait: 0, ok: false, requests: 1},
			{instance: 1, maxWait: 0, ok: false, requests: 0},
		}},
		{"stale instance learns the item is busy", []call{
			{instance: 0, ok: true, requests: 1},
			// Instance 1 joins cold, is told "busy", and remembers.
			{instance: 1, maxWait: time.Second, ok: true, requests: 2},
			// A second later both views are stale; instance 1 guesses "busy",
			// is told "idle", restarts the item and remembers.
			{advance: time.Second, instance: 1, ok: true, requests: 2},
			{instance: 1, maxWait: time.Second, ok: true, requests: 1},
			// Instance 0 guesses "idle", is told "busy", and remembers.
			{instance: 0, maxWait: time.Second, ok: true, requests: 2},
			{advance: time.Second, instance: 1, ok: true, requests: 1},
			{instance: 0, maxWait: time.Second, ok: true, requests: 1},
			// Idle again: the guess "busy" costs one request, then it is unlearned.
			{advance: time.Second, instance: 0, ok: true, requests: 2},
			{advance: time.Second, instance: 0, ok: true, requests: 1},
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := conformance.NewClock(epoch)
			cfg := LimiterConfig{Name: fmt.Sprintf("requests-%d", i), Rate: rate, Margin: sms.DefaultMargin, Clock: clock}
			apis := []*countingAPI{newCountingAPI(), newCountingAPI()}
			ls := []*Limiter{mustLimiter(t, apis[0], table, cfg), mustLimiter(t, apis[1], table, cfg)}
			for j, c := range tt.calls {
				clock.Advance(c.advance)
				api := apis[c.instance]
				before := api.n.Load()
				_, ok, err := ls[c.instance].Reserve(context.Background(), c.maxWait)
				if err != nil {
					t.Fatalf("call %d: Reserve error = %v", j, err)
				}
				if ok != c.ok {
					t.Errorf("call %d: Reserve ok = %v, want %v", j, ok, c.ok)
				}
				if got := api.n.Load() - before; got != c.requests {
					t.Errorf("call %d: requests = %d, want %d", j, got, c.requests)
				}
			}
		})
	}
}

func TestSplitRate(t *testing.T) {
	tests := []struct {
		rate, unit float64
		want       []float64
	}{
		{rate: 10, unit: 500, want: []float64{10}},
		{rate: 500, unit: 500, want: []float64{500}},
		{rate: 1000, unit: 500, want: []float64{500, 500}},
		{rate: 1001, unit: 500, want: []float64{500, 500, 1}},
		{rate: 1000.5, unit: 500, want: []float64{500, 500, 0.5}},
		{rate: 2.5, unit: 500, want: []float64{2.5}},
		{rate: 30, unit: 10, want: []float64{10, 10, 10}},
	}
	for _, tt := range tests {
		if got := splitRate(tt.rate, tt.unit); !slices.Equal(got, tt.want) {
			t.Errorf("splitRate(%v, %v) = %v, want %v", tt.rate, tt.unit, got, tt.want)
		}
	}
}

// TestShardLayoutAcrossRates checks the layout's two promises for pairs of
// rates that old and new instances may run side by side: the shares add
// up to the rate with ceilings adding up to ceil(rate), and the union of
// the two layouts — each item at the larger of its two shares — offers no
// more than the larger rate.
func TestShardLayoutAcrossRates(t *testing.T) {
	rates := []float64{0.5, 1, 10, 399.5, 400, 500, 501, 999, 1000, 1000.5, 1001, 1499.9, 1500, 2600}
	for _, a := range rates {
		shares := splitRate(a, ShardRate)
		var sum, ceilings float64
		for _, r := range shares {
			sum += r
			ceilings += math.Ceil(r)
		}
		if sum != a || ceilings != math.Ceil(a) {
			t.Errorf("splitRate(%v) = %v: shares add up to %v, ceilings to %v; want %v and %v", a, shares, sum, ceilings, a, math.Ceil(a))
		}
		for _, b := range rates {
			sa, sb := splitRate(a, ShardRate), splitRate(b, ShardRate)
			var union float64
			for i := range max(len(sa), len(sb)) {
				var x, y float64
				if i < len(sa) {
					x = sa[i]
				}
				if i < len(sb) {
					y = sb[i]
				}
				union += math.Ceil(max(x, y))
			}
			if want := math.Ceil(max(a, b)); union > want {
				t.Errorf("rates %v (%v) and %v (%v) side by side offer %v a second, want at most %v", a, sa, b, sb, union, want)
			}
		}
	}
}

func TestNewLimiterConfig(t *testing.T) {
	tests := []struct {
		rate      float64
		margin    float64
		shardRate float64
		want      int
		interval  time.Duration
	}{
		{rate: 10, margin: 0.05, want: 1, interval: 105 * time.Millisecond},
		{rate: 10, margin: 0.1, want: 1, interval: 110 * time.Millisecond},
		{rate: 10, margin: 0, want: 1, interval: 100 * time.Millisecond}, // zero means none
		{rate: 500, margin: 0.05, want: 1, interval: 2100 * time.Microsecond},
		{rate: 501, margin: 0.05, want: 2, interval: 2100 * time.Microsecond}, // 500 + 1
		{rate: 1200, margin: 0.05, want: 3, interval: 2100 * time.Microsecond},
		{rate: 1200, margin: 0.05, shardRate: 1200, want: 1, interval: 875 * time.Microsecond},
	}
	for _, tt := range tests {
		l := mustLimiter(t, moto.DynamoDB(), "t", LimiterConfig{Rate: tt.rate, Margin: tt.margin, ShardRate: tt.shardRate})
		if got := l.Shards(); got != tt.want {
			t.Errorf("NewLimiter(rate %v, shard rate %v).Shards() = %d, want %d", tt.rate, tt.shardRate, got, tt.want)
		}
		if got := l.Interval(); got != tt.interval {
			t.Errorf("NewLimiter(rate %v, margin %v, shard rate %v).Interval() = %v, want %v", tt.rate, tt.margin, tt.shardRate, got, tt.interval)
		}
	}
}

// TestLimiterMixedRatesAcrossShards runs two instances whose rates need
// different numbers of shards (10/s and 11/s at 5 per shard: two items
// and three) on one table with a manual clock, taking every slot either
// can get, and checks that no 1-second window holds more grants than the
// larger rate.
func TestLimiterMixedRatesAcrossShards(t *testing.T) {
	table := newTable(t)
	clock := conformance.NewClock(epoch)
	cfg := LimiterConfig{Name: "mixed", Margin: sms.DefaultMargin, ShardRate: 5, Clock: clock}
	a, b := cfg, cfg
	a.Rate, b.Rate = 10, 11
	limiters := []*Limiter{mustLimiter(t, moto.DynamoDB(), table, a), mustLimiter(t, moto.DynamoDB(), table, b)}
	if limiters[0].Shards() != 2 || limiters[1].Shards() != 3 {
		t.Fatalf("shards = %d and %d, want 2 and 3", limiters[0].Shards(), limiters[1].Shards())
	}
	var grants []time.Time
	const step = 25 * time.Millisecond
	for clock.Now().Before(epoch.Add(3 * time.Second)) {
		for _, l := range limiters {
			// Shards are picked at random: keep asking until a few refusals.
			for refusals := 0; refusals < 4; {
				at, ok, err := l.Reserve(context.Background(), 0)
				if err != nil {
					t.Fatalf("Reserve: %v", err)
				}
				if !ok {
					refusals++
					continue
				}
				grants = append(grants, at)
			}
		}
		clock.Advance(step)
	}
	peak := conformance.MaxInWindow(grants, time.Second)
	t.Logf("rates 10 and 11 over 2 and 3 shards: %d grants in 3 s, peak %d in 1 s", len(grants), peak)
	if peak > 11 {
		t.Errorf("peak grants in a 1 s window = %d, want at most 11 (the larger rate)", peak)
	}
	if len(grants) < 25 {
		t.Errorf("grants = %d in 3 s, want the shards saturated (about 30)", len(grants))
	}
}

func TestNewLimiterRejectsBadConfig(t *testing.T) {
	api := moto.DynamoDB()
	tests := []struct {
		name  string
		api   LimiterAPI
		table string
		cfg   LimiterConfig
	}{
		{"nil client", nil, "t", LimiterConfig{Rate: 10}},
		{"empty table", api, "", LimiterConfig{Rate: 10}},
		{"zero rate", api, "t", LimiterConfig{}},
		{"negative rate", api, "t", LimiterConfig{Rate: -1}},
		{"negative margin", api, "t", LimiterConfig{Rate: 10, Margin: -0.01}},
		{"margin of a whole slot", api, "t", LimiterConfig{Rate: 10, Margin: 1}},
		{"negative shard rate", api, "t", LimiterConfig{Rate: 10, ShardRate: -1}},
		{"fractional shard rate", api, "t", LimiterConfig{Rate: 10, ShardRate: 2.5}},
	}
	for _, tt := range tests {
		if l, err := NewLimiter(tt.api, tt.table, tt.cfg); err == nil {
			t.Errorf("%s: NewLimiter = %v, nil; want an error", tt.name, l)
		}
	}
}

// TestLimiterShards checks that every shard keeps its own spacing and that
// picks follow the shares.
func TestLimiterShards(t *testing.T) {
	table := newTable(t)
	clock := conformance.NewClock(epoch)
	api := newCountingAPI()
	// 30/s over 3 shards: 10/s each, slots 105 ms apart on each item.
	l := mustLimiter(t, api, table, LimiterConfig{Name: "sharded", Rate: 30, Margin: sms.DefaultMargin, ShardRate: 10, Clock: clock})
	const calls = 300
	grants := make([]time.Time, 0, calls)
	for range calls {
		grants = append(grants, mustReserve(t, l, time.Hour))
	}
	if got := api.n.Load(); got != calls {
		t.Errorf("requests = %d, want %d (one per grant)", got, calls)
	}
	perShard := 0
	for i := range 3 {
		next, err := intAttr(getItem(t, table, "limiter#sharded", fmt.Sprintf("shard#%d", i)), "next")
		if err != nil {
			t.Fatalf("shard %d: %v", i, err)
		}
		// A shard that granted n slots from epoch stores epoch + n·interval.
		n := time.Duration(next-epoch.UnixNano()) / (105 * time.Millisecond)
		if !time.Unix(0, next).Equal(epoch.Add(n * 105 * time.Millisecond)) {
			t.Errorf("shard %d next = %v, not a whole number of slots after %v", i, time.Unix(0, next).UTC(), epoch)
		}
		// Each shard gets about a third (binomial, sd ≈ 8).
		if n < 60 || n > 140 {
			t.Errorf("shard %d granted %d of %d, want about %d", i, n, calls, calls/3)
		}
		perShard += int(n)
	}
	if perShard != calls {
		t.Errorf("slots over all shards = %d, want %d", perShard, calls)
	}
	// Grants from epoch on every shard: each slot time appears at most 3 times.
	counts := map[time.Time]int{}
	for _, g := range grants {
		counts[g]++
		if counts[g] > 3 {
			t.Fatalf("slot %v granted %d times, want at most one per shard", g, counts[g])
		}
	}
}

// stubAPI answers UpdateItem with a fixed function, to drive the limiter
// through DynamoDB failures the emulator cannot produce.
type stubAPI struct {
	calls  atomic.Int64
	update func(in *dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error)
}

func (s *stubAPI) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	s.calls.Add(1)
	return s.update(in)
}

func TestLimiterErrors(t *testing.T) {
	table := newTable(t)
	fail := func(err error) LimiterAPI {
		return &stubAPI{update: func(*dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) { return nil, err }}
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name  string
		api   LimiterAPI
		table string
		ctx   context.Context
		kind  sms.Kind
	}{
		{"throttled", fail(&types.ProvisionedThroughputExceededException{Message: aws.String("slow down")}), table, nil, sms.KindUnavailable},
		{"request limit", fail(&types.RequestLimitExceeded{Message: aws.String("limit")}), table, nil, sms.KindUnavailable},
		{"server fault", fail(&types.InternalServerError{Message: aws.String("boom")}), table, nil, sms.KindUnavailable},
		{"missing table", fail(&types.ResourceNotFoundException{Message: aws.String("no table")}), table, nil, sms.KindInternal},
		{"plain error", fail(errors.New("EOF")), table, nil, sms.KindUnavailable},
		{"missing table (emulator)", moto.DynamoDB(), "no-such-table", nil, sms.KindInternal},
		{"canceled context (emulator)", moto.DynamoDB(), table, canceled, sms.KindUnavailable},
		{"connection refused", unreachableClient(t), table, nil, sms.KindUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			l := mustLimiter(t, tt.api, tt.table, LimiterConfig{Name: "errors", Rate: 10})
			at, ok, err := l.Reserve(ctx, time.Second)
			if err == nil || ok {
				t.Fatalf("Reserve = %v, %v, %v; want an error", at, ok, err)
			}
			if got := sms.KindOf(err); got != tt.kind {
				t.Errorf("KindOf(%v) = %v, want %v", err, got, tt.kind)
			}
			if !strings.Contains(err.Error(), "dynamo: reserve slot: ") {
				t.Errorf("error %q does not name the operation", err)
			}
		})
	}
}

// unreachableClient is a DynamoDB client aimed at a closed loopback port.
func unreachableClient(t *testing.T) *dynamodb.Client {
	t.Helper()
	port, err := mototest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg := moto.Config()
	cfg.BaseEndpoint = aws.String(fmt.Sprintf("http://127.0.0.1:%d", port))
	return dynamodb.NewFromConfig(cfg)
}

func TestLimiterGivesUpUnderContention(t *testing.T) {
	// Every answer says the item moved just before the request: the
	// stored slot is always now (fit for the advance form), yet the
	// update always fails, as if another writer won each time.
	clock := conformance.NewClock(epoch)
	api := &stubAPI{update: func(*dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) {
		return nil, &types.ConditionalCheckFailedException{
			Message: aws.String("The conditional request failed"),
			Item:    map[string]types.AttributeValue{"next": number(clock.Now().UnixNano())},
		}
	}}
	l := mustLimiter(t, api, "t", LimiterConfig{Rate: 10, Margin: sms.DefaultMargin, Clock: clock})
	_, ok, err := l.Reserve(context.Background(), time.Second)
	if ok || err == nil {
		t.Fatalf("Reserve = %v, %v; want an error", ok, err)
	}
	if got, want := sms.KindOf(err), sms.KindUnavailable; got != want {
		t.Errorf("KindOf(%v) = %v, want %v", err, got, want)
	}
	if got, want := api.calls.Load(), int64(maxAttempts); got != want {
		t.Errorf("requests = %d, want %d", got, want)
	}
}

func TestLimiterCorruptItem(t *testing.T) {
	table := newTable(t)
	// A number, but not an integer of nanoseconds, far in the future.
	putItem(t, table, map[string]types.AttributeValue{
		"pk": str("limiter#corrupt"), "sk": str("shard#0"), "next": &types.AttributeValueMemberN{Value: "9000000000000000000.5"},
	})
	l := mustLimiter(t, moto.DynamoDB(), table, LimiterConfig{Name: "corrupt", Rate: 10})
	_, ok, err := l.Reserve(context.Background(), time.Second)
	if ok || err == nil {
		t.Fatalf("Reserve = %v, %v; want an error", ok, err)
	}
	if got, want := sms.KindOf(err), sms.KindInternal; got != want {
		t.Errorf("KindOf(%v) = %v, want %v", err, got, want)
	}
	var se *sms.Error
	if !errors.As(err, &se) || se.Message != "internal error" {
		t.Errorf("client message of %v is not the generic one", err)
	}
}

// slowAPI delivers every answer delay after the request, on a manual clock.
type slowAPI struct {
	LimiterAPI
	clock *conformance.Clock
	delay time.Duration
	calls int
}

func (s *slowAPI) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	s.calls++
	out, err := s.LimiterAPI.UpdateItem(ctx, in, opts...)
	s.clock.Advance(s.delay)
	return out, err
}

func TestLimiterDropsSlotsAnsweredLate(t *testing.T) {
	table := newTable(t)
	interval := 105 * time.Millisecond // rate 10, margin 0.05: at most 25 ms late
	tests := []struct {
		name     string
		delay    time.Duration
		maxWait  time.Duration
		want     time.Duration // slot start after epoch; -1: error
		requests int
	}{
		{name: "prompt answer", delay: 5 * time.Millisecond, want: 0, requests: 1},
		{name: "late within half the margin", delay: 25 * time.Millisecond, want: 0, requests: 1},
		{name: "too late: the next slot is taken instead", delay: 30 * time.Millisecond, maxWait: time.Second, want: interval, requests: 2},
		{name: "always too late", delay: 300 * time.Millisecond, want: -1, requests: maxAttempts},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := conformance.NewClock(epoch)
			api := &slowAPI{LimiterAPI: newCountingAPI(), clock: clock, delay: tt.delay}
			l := mustLimiter(t, api, table, LimiterConfig{Name: fmt.Sprintf("late-%d", i), Rate: 10, Margin: sms.DefaultMargin, Clock: clock})
			at, ok, err := l.Reserve(context.Background(), tt.maxWait)
			if tt.want < 0 {
				if err == nil || sms.KindOf(err) != sms.KindUnavailable {
					t.Errorf("Reserve = %v, %v, %v; want a KindUnavailable error", at, ok, err)
				}
			} else if err != nil || !ok || !at.Equal(epoch.Add(tt.want)) {
				t.Errorf("Reserve = %v, %v, %v; want a slot at epoch+%v", at, ok, err, tt.want)
			}
			if api.calls != tt.requests {
				t.Errorf("requests = %d, want %d", api.calls, tt.requests)
			}
		})
	}
}
