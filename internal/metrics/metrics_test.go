package metrics_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/metrics"
)

var testNow = time.UnixMilli(1_800_000_000_000)

func TestFlushWritesWhatCloudWatchExtracts(t *testing.T) {
	type obs struct {
		m    metrics.Metric
		v    float64
		dims []metrics.Dim
	}
	twilio := metrics.Provider("twilio")
	tests := []struct {
		name      string
		obs       []obs
		want      map[string][]float64
		wantLines int
	}{
		{
			name:      "nothing recorded writes nothing",
			want:      map[string][]float64{},
			wantLines: 0,
		},
		{
			name: "a direct send: one line with every dimension set",
			obs: []obs{
				{metrics.Requests, 1, []metrics.Dim{metrics.Outcome("200")}},
				{metrics.Sent, 1, []metrics.Dim{twilio}},
				{metrics.Segments, 2, []metrics.Dim{twilio}},
				{metrics.ProviderLatency, 301.5, []metrics.Dim{twilio}},
				{metrics.LimiterWait, 4.25, nil},
			},
			want: map[string][]float64{
				"Requests{Function=fn}":                        {1},
				"Requests{Function=fn,Outcome=200}":            {1},
				"Sent{Function=fn}":                            {1},
				"Sent{Function=fn,Provider=twilio}":            {1},
				"Segments{Function=fn}":                        {2},
				"Segments{Function=fn,Provider=twilio}":        {2},
				"ProviderLatency{Function=fn}":                 {301.5},
				"ProviderLatency{Function=fn,Provider=twilio}": {301.5},
				"LimiterWait{Function=fn}":                     {4.25},
			},
			wantLines: 1,
		},
		{
			name: "counts add up, durations keep every observation",
			obs: []obs{
				{metrics.Sent, 1, []metrics.Dim{twilio}},
				{metrics.Sent, 1, []metrics.Dim{twilio}},
				{metrics.Sent, 1, []metrics.Dim{twilio}},
				{metrics.QueueAge, 10, nil},
				{metrics.QueueAge, 30, nil},
				{metrics.QueueAge, 20, nil},
			},
			want: map[string][]float64{
				"Sent{Function=fn}":                 {3},
				"Sent{Function=fn,Provider=twilio}": {3},
				"QueueAge{Function=fn}":             {10, 20, 30},
			},
			wantLines: 1,
		},
		{
			name: "different outcomes of one metric go on separate lines",
			obs: []obs{
				{metrics.Records, 1, []metrics.Dim{metrics.Outcome("delivered")}},
				{metrics.Records, 1, []metrics.Dim{metrics.Outcome("delivered")}},
				{metrics.Records, 1, []metrics.Dim{metrics.Outcome("deferred")}},
				{metrics.Rejected, 1, []metrics.Dim{twilio, metrics.Outcome("21211")}},
			},
			want: map[string][]float64{
				"Records{Function=fn}":                                {1, 2},
				"Records{Function=fn,Outcome=deferred}":               {1},
				"Records{Function=fn,Outcome=delivered}":              {2},
				"Rejected{Function=fn}":                               {1},
				"Rejected{Function=fn,Provider=twilio}":               {1},
				"Rejected{Function=fn,Provider=twilio,Outcome=21211}": {1},
			},
			wantLines: 3,
		},
		{
			name: "two providers",
			obs: []obs{
				{metrics.Sent, 1, []metrics.Dim{twilio}},
				{metrics.Sent, 1, []metrics.Dim{metrics.Provider("vonage")}},
			},
			want: map[string][]float64{
				"Sent{Function=fn}":                 {1, 1},
				"Sent{Function=fn,Provider=twilio}": {1},
				"Sent{Function=fn,Provider=vonage}": {1},
			},
			wantLines: 2,
		},
		{
			name: "values that are not numbers are dropped, empty dimension values named",
			obs: []obs{
				{metrics.ProviderLatency, math.NaN(), []metrics.Dim{twilio}},
				{metrics.ProviderLatency, math.Inf(1), []metrics.Dim{twilio}},
				{metrics.DeadLettered, 1, []metrics.Dim{metrics.Outcome("")}},
			},
			want: map[string][]float64{
				"DeadLettered{Function=fn}":              {1},
				"DeadLettered{Function=fn,Outcome=none}": {1},
			},
			wantLines: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := metrics.NewSet("fn")
			for _, o := range tt.obs {
				s.Add(o.m, o.v, o.dims...)
			}
			out := flushed(t, func(b *bytes.Buffer, now time.Time) error { return s.Flush(b, now) }, testNow)
			got, lines := parseAll(t, out, testNow)
			if lines != tt.wantLines {
				t.Errorf("%d lines, want %d:\n%s", lines, tt.wantLines, out)
			}
			for k, want := range tt.want {
				if !equalValues(got[k], want) {
					t.Errorf("%s = %v, want %v", k, got[k], want)
				}
			}
			if len(got) != len(tt.want) {
				t.Errorf("data points:\n  %s\nwant:\n  %s", keys(got), keys(tt.want))
			}
			if s.Len() != 0 {
				t.Errorf("Set holds %d series after Flush, want 0", s.Len())
			}
			if again := flushed(t, func(b *bytes.Buffer, now time.Time) error { return s.Flush(b, now) }, testNow); again != "" {
				t.Errorf("second Flush wrote %q, want nothing", again)
			}
		})
	}
}

func TestFlushKeepsWithinTheLimitsOfALine(t *testing.T) {
	s := metrics.NewSet("fn")
	for i := range 150 {
		s.Add(metrics.Metric{Name: fmt.Sprintf("M%03d", i), Unit: metrics.UnitCount}, 1)
	}
	for i := range 250 {
		s.Add(metrics.ProviderLatency, float64(i))
	}
	out := flushed(t, func(b *bytes.Buffer, now time.Time) error { return s.Flush(b, now) }, testNow)
	got, lines := parseAll(t, out, testNow)
	if lines < 3 {
		t.Errorf("%d lines, want at least 3 (151 metrics, 250 observations of one)", lines)
	}
	if n := len(got["ProviderLatency{Function=fn}"]); n != 250 {
		t.Errorf("ProviderLatency has %d observations, want 250", n)
	}
	for i := range 150 {
		if k := fmt.Sprintf("M%03d{Function=fn}", i); !equalValues(got[k], []float64{1}) {
			t.Errorf("%s = %v, want [1]", k, got[k])
		}
	}
}

func TestDimensionValuesAreBounded(t *testing.T) {
	s := metrics.NewSet(strings.Repeat("é", 300))
	s.Add(metrics.Refusals, 1, metrics.Outcome(strings.Repeat("x", 2000)))
	out := flushed(t, func(b *bytes.Buffer, now time.Time) error { return s.Flush(b, now) }, testNow)
	got, _ := parseAll(t, out, testNow)
	for k := range got {
		for _, part := range strings.Split(strings.Trim(k[strings.Index(k, "{"):], "{}"), ",") {
			if _, v, _ := strings.Cut(part, "="); len(v) > 250 {
				t.Errorf("%s: dimension value of %d bytes, want at most 250", k, len(v))
			}
		}
	}
}

func TestWithoutASetNothingIsRecorded(t *testing.T) {
	ctx := context.Background()
	metrics.Inc(ctx, metrics.Sent, metrics.Provider("twilio"))
	metrics.Duration(ctx, metrics.LimiterWait, time.Second)
	metrics.Since(ctx, metrics.QueueAge, time.Now())
	if s := metrics.FromContext(ctx); s != nil {
		t.Fatalf("FromContext = %v, want nil", s)
	}
}

func TestContextHelpers(t *testing.T) {
	s := metrics.NewSet("fn")
	ctx := metrics.NewContext(context.Background(), s)
	metrics.Inc(ctx, metrics.Queued)
	metrics.Add(ctx, metrics.Segments, 3, metrics.Provider("vonage"))
	metrics.Duration(ctx, metrics.LimiterWait, 1500*time.Microsecond)
	metrics.Duration(ctx, metrics.LimiterWait, -time.Second)
	metrics.Since(ctx, metrics.QueueAge, time.Time{}) // unknown: nothing
	metrics.Since(ctx, metrics.QueueAge, time.Now().Add(-time.Minute))
	got, _ := parseAll(t, flushed(t, func(b *bytes.Buffer, now time.Time) error { return s.Flush(b, now) }, time.Now()), time.Now())
	for k, want := range map[string][]float64{
		"Queued{Function=fn}":                   {1},
		"Segments{Function=fn,Provider=vonage}": {3},
		"LimiterWait{Function=fn}":              {0, 1.5},
	} {
		if !equalValues(got[k], want) {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	if age := got["QueueAge{Function=fn}"]; len(age) != 1 || age[0] < 60_000 || age[0] > 70_000 {
		t.Errorf("QueueAge = %v, want one observation of about 60000 ms", age)
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestWrapFlushesOnceAfterTheHandler(t *testing.T) {
	var out lockedBuffer
	h := metrics.Wrap(&out, "send-fn", func(ctx context.Context, n int) (string, error) {
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() { metrics.Inc(ctx, metrics.Sent, metrics.Provider("twilio")) })
		}
		wg.Wait()
		if s := out.String(); s != "" {
			t.Errorf("metrics written while the handler runs: %q", s)
		}
		return "done", nil
	})
	res, err := h(context.Background(), 8)
	if res != "done" || err != nil {
		t.Fatalf("handler = %q, %v; want its own answer", res, err)
	}
	got, lines := parseAll(t, out.String(), time.Now())
	if lines != 1 || out.writes != 1 {
		t.Errorf("%d lines in %d writes, want 1 in 1", lines, out.writes)
	}
	if want := []float64{8}; !equalValues(got["Sent{Function=send-fn,Provider=twilio}"], want) {
		t.Errorf("Sent = %v, want %v", got["Sent{Function=send-fn,Provider=twilio}"], want)
	}

	// The next invocation starts empty, and one that records nothing
	// writes nothing.
	before := out.String()
	quiet := metrics.Wrap(&out, "send-fn", func(context.Context, int) (string, error) { return "", nil })
	if _, err := quiet(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if out.String() != before {
		t.Errorf("an invocation without metrics wrote %q", strings.TrimPrefix(out.String(), before))
	}
}

func TestWrapFlushesWhenTheHandlerPanics(t *testing.T) {
	var out lockedBuffer
	h := metrics.Wrap(&out, "drain-fn", func(ctx context.Context, _ struct{}) (struct{}, error) {
		metrics.Inc(ctx, metrics.Records, metrics.Outcome("delivered"))
		panic("boom")
	})
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Errorf("recovered %v, want the handler's panic", p)
			}
		}()
		_, _ = h(context.Background(), struct{}{})
	}()
	got, _ := parseAll(t, out.String(), time.Now())
	if !equalValues(got["Records{Function=drain-fn,Outcome=delivered}"], []float64{1}) {
		t.Errorf("metrics after a panic = %v, want the delivered record", keys(got))
	}
}

func TestFunctionName(t *testing.T) {
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "")
	if got := metrics.FunctionName("send"); got != "send" {
		t.Errorf("FunctionName outside Lambda = %q, want the fallback", got)
	}
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "fluxkit-sms-SendFunction-AbC123")
	if got := metrics.FunctionName("send"); got != "fluxkit-sms-SendFunction-AbC123" {
		t.Errorf("FunctionName in Lambda = %q, want the function's name", got)
	}
}

// TestStandardLibraryOnly: the domain records metrics through this
// package, and imports nothing of AWS; neither may this package.
func TestStandardLibraryOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if got := strings.Fields(string(out)); len(got) != 1 || got[0] != "github.com/fluxkit/sms/internal/metrics" {
		t.Errorf("packages outside the standard library: %v, want none", got)
	}
}
