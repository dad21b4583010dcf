// Package metrics records the service's CloudWatch metrics during one
// invocation and writes them once, when the invocation's handler has
// returned, as CloudWatch Embedded Metric Format (EMF) lines on stdout:
// CloudWatch Logs turns those lines into metrics of the namespace
// FluxKitSMS, with no API call and no agent (docs/observability.md).
//
// A call site records with one line, for example
//
//	metrics.Inc(ctx, metrics.Queued)
//	metrics.Duration(ctx, metrics.ProviderLatency, took, metrics.Provider("twilio"))
//
// which only adds to the invocation's Set in memory: nothing is written
// on the path of a provider call. Wrap gives each invocation its Set and
// flushes it. Without a Set in the context (tests, the local server) the
// calls do nothing.
//
// Dimensions are of low cardinality by construction: every metric has the
// function's name, and an observation may add a provider and an outcome
// (an HTTP status, a provider code known to be a rejection, a
// dead-letter reason, a refusal code) and nothing else. There is no way
// to add a country, a caller or a number.
package metrics

import (
	"context"
	"math"
	"sort"
	"sync"
	"time"
	"unicode/utf8"
)

// Namespace is the CloudWatch namespace of every metric of the service.
const Namespace = "FluxKitSMS"

// Unit is a CloudWatch metric unit.
type Unit string

// The units the service's metrics use.
const (
	UnitCount        Unit = "Count"
	UnitMilliseconds Unit = "Milliseconds"
	UnitPercent      Unit = "Percent"
)

// Metric is a metric's name and unit. The catalogue (catalogue.go) names
// every metric of the service.
type Metric struct {
	Name string
	Unit Unit
}

// The dimension names. Function is on every metric.
const (
	DimFunction = "Function"
	DimProvider = "Provider"
	DimOutcome  = "Outcome"
)

// maxDimValue bounds a dimension value (CloudWatch allows 1024 characters).
const maxDimValue = 250

// Dim is a dimension of one observation besides Function: Provider or
// Outcome.
type Dim struct{ name, value string }

// Provider is the Provider dimension: the provider that was called
// (twilio, vonage).
func Provider(name string) Dim { return Dim{DimProvider, name} }

// Outcome is the Outcome dimension: what came of the observation, from a
// small fixed set of values (an HTTP status, a provider's rejection code,
// a dead-letter reason, a refusal code, a status).
func Outcome(value string) Dim { return Dim{DimOutcome, value} }

// key identifies one series of a Set: a metric and its dimension values
// ("" when absent).
type key struct {
	name              string
	provider, outcome string
}

// series is what a Set holds for one key: the sum of a count, or every
// observation of any other unit (their distribution gives percentiles).
type series struct {
	unit   Unit
	sum    float64
	values []float64
}

// Set collects the metrics of one invocation of one function. It is safe
// for concurrent use: the drain works on several records at once.
type Set struct {
	function string

	mu     sync.Mutex
	series map[key]*series
}

// NewSet returns an empty Set for function, the value of the Function
// dimension (the Lambda function's name).
func NewSet(function string) *Set {
	return &Set{function: dimValue(function), series: map[key]*series{}}
}

// Add records v for m with dims. A count adds v to the series' sum; any
// other unit keeps v as one observation. A value that is not a finite
// number is dropped, as is a dimension other than Provider or Outcome.
func (s *Set) Add(m Metric, v float64, dims ...Dim) {
	if math.IsNaN(v) || math.IsInf(v, 0) || m.Name == "" {
		return
	}
	k := key{name: m.Name}
	for _, d := range dims {
		switch d.name {
		case DimProvider:
			k.provider = dimValue(d.value)
		case DimOutcome:
			k.outcome = dimValue(d.value)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sr := s.series[k]
	if sr == nil {
		sr = &series{unit: m.Unit}
		s.series[k] = sr
	}
	if m.Unit == UnitCount {
		sr.sum += v
		return
	}
	sr.values = append(sr.values, v)
}

// Len reports how many series the Set holds.
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.series)
}

// take empties the Set and returns its series in a stable order.
func (s *Set) take() []entry {
	s.mu.Lock()
	taken := s.series
	s.series = map[key]*series{}
	s.mu.Unlock()
	out := make([]entry, 0, len(taken))
	for k, sr := range taken {
		out = append(out, entry{key: k, series: *sr})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].key, out[j].key
		if a.name != b.name {
			return a.name < b.name
		}
		if a.provider != b.provider {
			return a.provider < b.provider
		}
		return a.outcome < b.outcome
	})
	return out
}

// entry is one series taken from a Set.
type entry struct {
	key
	series
}

// dimValue makes v a valid dimension value: not empty, at most
// maxDimValue bytes of valid UTF-8.
func dimValue(v string) string {
	if v == "" {
		return "none"
	}
	if len(v) > maxDimValue {
		v = v[:maxDimValue]
		for !utf8.ValidString(v) {
			v = v[:len(v)-1]
		}
	}
	return v
}

type setKey struct{}

// NewContext returns ctx carrying s: the metrics recorded with the
// returned context go to s.
func NewContext(ctx context.Context, s *Set) context.Context {
	return context.WithValue(ctx, setKey{}, s)
}

// FromContext returns the Set of ctx, or nil.
func FromContext(ctx context.Context) *Set {
	s, _ := ctx.Value(setKey{}).(*Set)
	return s
}

// Add records v for m with dims in the Set of ctx; without one it does
// nothing.
func Add(ctx context.Context, m Metric, v float64, dims ...Dim) {
	if s := FromContext(ctx); s != nil {
		s.Add(m, v, dims...)
	}
}

// Inc counts one of m with dims in the Set of ctx.
func Inc(ctx context.Context, m Metric, dims ...Dim) { Add(ctx, m, 1, dims...) }

// Duration records d, in milliseconds, for m with dims in the Set of ctx.
// A negative duration counts as zero.
func Duration(ctx context.Context, m Metric, d time.Duration, dims ...Dim) {
	Add(ctx, m, float64(max(d, 0))/float64(time.Millisecond), dims...)
}

// Since records the time from t until now, in milliseconds, for m with
// dims in the Set of ctx; a zero t (not known) records nothing.
func Since(ctx context.Context, m Metric, t time.Time, dims ...Dim) {
	if t.IsZero() {
		return
	}
	Duration(ctx, m, time.Since(t), dims...)
}
