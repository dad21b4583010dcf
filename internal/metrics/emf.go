package metrics

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"os"
	"strconv"
	"time"
)

// Limits of one EMF line (CloudWatch's embedded metric format
// specification): at most 100 metrics per directive and 100 values per
// metric.
const (
	maxMetricsPerLine = 100
	maxValuesPerDatum = 100
)

// line is one EMF log line: the dimension values it carries and its
// metrics. Metrics of different dimension values share a line when their
// values do not conflict, so a typical invocation writes one line.
type line struct {
	provider, outcome string
	entries           []entry
	names             map[string]bool
}

// fits reports whether e can join l: no other value for a dimension e
// has, no other series of the same metric, and room left.
func (l *line) fits(e entry) bool {
	return (e.provider == "" || l.provider == "" || e.provider == l.provider) &&
		(e.outcome == "" || l.outcome == "" || e.outcome == l.outcome) &&
		!l.names[e.name] && len(l.entries) < maxMetricsPerLine
}

func (l *line) add(e entry) {
	if e.provider != "" {
		l.provider = e.provider
	}
	if e.outcome != "" {
		l.outcome = e.outcome
	}
	l.names[e.name] = true
	l.entries = append(l.entries, e)
}

// Flush writes what s holds as EMF lines to w, one Write per line,
// stamped with now, and empties s. An empty Set writes nothing.
func (s *Set) Flush(w io.Writer, now time.Time) error {
	var lines []*line
	for _, e := range split(s.take()) {
		placed := false
		for _, l := range lines {
			if l.fits(e) {
				l.add(e)
				placed = true
				break
			}
		}
		if !placed {
			l := &line{names: map[string]bool{}}
			l.add(e)
			lines = append(lines, l)
		}
	}
	var firstErr error
	for _, l := range lines {
		if _, err := w.Write(s.encode(l, now)); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// split cuts series with more than maxValuesPerDatum observations into
// several entries of the same key; they land on separate lines.
func split(es []entry) []entry {
	out := make([]entry, 0, len(es))
	for _, e := range es {
		for len(e.values) > maxValuesPerDatum {
			head := e
			head.values = e.values[:maxValuesPerDatum]
			out = append(out, head)
			e.values = e.values[maxValuesPerDatum:]
		}
		out = append(out, e)
	}
	return out
}

// dimensionSets returns the dimension sets of a series: Function alone,
// and each longer prefix of Function, Provider, Outcome among the
// dimensions it has. Function alone is the total an alarm reads; the full
// set is the breakdown a dashboard shows.
func dimensionSets(e entry) [][]string {
	dims := []string{DimFunction}
	sets := [][]string{{DimFunction}}
	if e.provider != "" {
		dims = append(dims, DimProvider)
		sets = append(sets, append([]string(nil), dims...))
	}
	if e.outcome != "" {
		dims = append(dims, DimOutcome)
		sets = append(sets, append([]string(nil), dims...))
	}
	return sets
}

// directive is an EMF metric directive.
type directive struct {
	Namespace  string       `json:"Namespace"`
	Dimensions [][]string   `json:"Dimensions"`
	Metrics    []definition `json:"Metrics"`
}

// definition is an EMF metric definition.
type definition struct {
	Name string `json:"Name"`
	Unit Unit   `json:"Unit"`
}

// encode renders l as one JSON object and a newline: the _aws metadata
// with one directive per distinct dimension sets, the dimension values,
// then each metric's value (a number, or an array of observations).
func (s *Set) encode(l *line, now time.Time) []byte {
	var directives []directive
	index := map[string]int{}
	for _, e := range l.entries {
		sets := dimensionSets(e)
		sig, _ := json.Marshal(sets)
		i, ok := index[string(sig)]
		if !ok {
			i = len(directives)
			index[string(sig)] = i
			directives = append(directives, directive{Namespace: Namespace, Dimensions: sets})
		}
		directives[i].Metrics = append(directives[i].Metrics, definition{Name: e.name, Unit: e.unit})
	}
	meta, _ := json.Marshal(struct {
		Timestamp         int64       `json:"Timestamp"`
		CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
	}{now.UnixMilli(), directives})

	b := make([]byte, 0, 256+len(meta))
	b = append(b, `{"_aws":`...)
	b = append(b, meta...)
	b = appendMember(b, DimFunction, s.function)
	if l.provider != "" {
		b = appendMember(b, DimProvider, l.provider)
	}
	if l.outcome != "" {
		b = appendMember(b, DimOutcome, l.outcome)
	}
	for _, e := range l.entries {
		name, _ := json.Marshal(e.name)
		b = append(b, ',')
		b = append(b, name...)
		b = append(b, ':')
		switch {
		case e.unit == UnitCount:
			b = appendNumber(b, e.sum)
		case len(e.values) == 1:
			b = appendNumber(b, e.values[0])
		default:
			b = append(b, '[')
			for i, v := range e.values {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendNumber(b, v)
			}
			b = append(b, ']')
		}
	}
	return append(b, "}\n"...)
}

// appendMember appends ,"name":"value" with both JSON-escaped.
func appendMember(b []byte, name, value string) []byte {
	n, _ := json.Marshal(name)
	v, _ := json.Marshal(value)
	b = append(b, ',')
	b = append(b, n...)
	b = append(b, ':')
	return append(b, v...)
}

// appendNumber appends v as a JSON number, rounded to three decimals (to
// the microsecond for durations in milliseconds).
func appendNumber(b []byte, v float64) []byte {
	r := math.Round(v*1000) / 1000
	if r == 0 {
		r = 0 // no "-0"
	}
	return strconv.AppendFloat(b, r, 'f', -1, 64)
}

// FunctionName is the Function dimension's value: the Lambda function's
// name (AWS_LAMBDA_FUNCTION_NAME, which holds the stack's name, so that
// the alarms and the dashboard of one stack read only its own metrics),
// or fallback outside Lambda.
func FunctionName(fallback string) string {
	if name := os.Getenv("AWS_LAMBDA_FUNCTION_NAME"); name != "" {
		return name
	}
	return fallback
}

// Wrap returns h with metrics: each invocation gets a new Set in its
// context, and what it recorded is written to w as EMF lines once h has
// returned (or panicked), before the invocation ends. function is the
// Function dimension's value (FunctionName).
func Wrap[In, Out any](w io.Writer, function string, h func(context.Context, In) (Out, error)) func(context.Context, In) (Out, error) {
	return func(ctx context.Context, in In) (Out, error) {
		s := NewSet(function)
		defer func() { _ = s.Flush(w, time.Now()) }()
		return h(NewContext(ctx, s), in)
	}
}
