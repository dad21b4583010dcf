package metrics_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// datum is one metric data point as CloudWatch extracts it from an EMF
// line: one per metric definition and dimension set of a directive.
type datum struct {
	Namespace string
	Name      string
	Unit      string
	Dims      string // "Function=send,Provider=twilio", in dimension set order
	Values    []float64
	Timestamp int64
}

// validUnits are the units CloudWatch accepts (MetricDatum.Unit).
var validUnits = map[string]bool{
	"Seconds": true, "Microseconds": true, "Milliseconds": true, "Bytes": true, "Kilobytes": true,
	"Megabytes": true, "Gigabytes": true, "Terabytes": true, "Bits": true, "Kilobits": true,
	"Megabits": true, "Gigabits": true, "Terabits": true, "Percent": true, "Count": true,
	"Bytes/Second": true, "Kilobytes/Second": true, "Megabytes/Second": true, "Gigabytes/Second": true,
	"Terabytes/Second": true, "Bits/Second": true, "Kilobits/Second": true, "Megabits/Second": true,
	"Gigabits/Second": true, "Terabits/Second": true, "Count/Second": true, "None": true,
}

// parseEMF reads one log line as CloudWatch Logs reads an embedded metric
// format event (the EMF specification): a JSON object whose _aws member
// holds a Timestamp in epoch milliseconds and CloudWatchMetrics
// directives; each directive a Namespace, Dimensions (dimension sets of at
// most 30 names, each naming a string member of the object) and Metrics
// (at most 100 definitions, each a Name naming a member that is a number
// or an array of at most 100 numbers, and an optional valid Unit). It
// returns the data points the line yields, or why CloudWatch would not
// extract them.
func parseEMF(line string, now time.Time) ([]datum, error) {
	var root map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value on the line")
	}
	if len(line) > 256<<10 {
		return nil, fmt.Errorf("line of %d bytes, over the 256 KB log event limit", len(line))
	}
	rawAWS, ok := root["_aws"]
	if !ok {
		return nil, errors.New("no _aws member")
	}
	var meta struct {
		Timestamp         *json.Number      `json:"Timestamp"`
		CloudWatchMetrics []json.RawMessage `json:"CloudWatchMetrics"`
	}
	if err := json.Unmarshal(rawAWS, &meta); err != nil {
		return nil, fmt.Errorf("_aws: %w", err)
	}
	if meta.Timestamp == nil {
		return nil, errors.New("_aws.Timestamp missing")
	}
	ts, err := meta.Timestamp.Int64()
	if err != nil {
		return nil, fmt.Errorf("_aws.Timestamp %q is not an integer of milliseconds", *meta.Timestamp)
	}
	at := time.UnixMilli(ts)
	if at.Before(now.Add(-14*24*time.Hour)) || at.After(now.Add(2*time.Hour)) {
		return nil, fmt.Errorf("_aws.Timestamp %v outside 14 days past to 2 hours ahead", at)
	}
	if meta.CloudWatchMetrics == nil {
		return nil, errors.New("_aws.CloudWatchMetrics missing")
	}
	str := func(name string) (string, error) {
		raw, ok := root[name]
		if !ok {
			return "", fmt.Errorf("dimension %q names no member", name)
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("dimension %q is not a string: %s", name, raw)
		}
		if s == "" || len(s) > 1024 {
			return "", fmt.Errorf("dimension %q value of %d characters, want 1-1024", name, len(s))
		}
		return s, nil
	}
	values := func(name string) ([]float64, error) {
		raw, ok := root[name]
		if !ok {
			return nil, fmt.Errorf("metric %q names no member", name)
		}
		var one float64
		if err := json.Unmarshal(raw, &one); err == nil {
			return []float64{one}, nil
		}
		var many []float64
		if err := json.Unmarshal(raw, &many); err != nil {
			return nil, fmt.Errorf("metric %q is neither a number nor an array of numbers: %s", name, raw)
		}
		if len(many) == 0 || len(many) > 100 {
			return nil, fmt.Errorf("metric %q has %d values, want 1-100", name, len(many))
		}
		return many, nil
	}
	var out []datum
	for i, rawDir := range meta.CloudWatchMetrics {
		var dir struct {
			Namespace  *string          `json:"Namespace"`
			Dimensions [][]string       `json:"Dimensions"`
			Metrics    []map[string]any `json:"Metrics"`
		}
		if err := json.Unmarshal(rawDir, &dir); err != nil {
			return nil, fmt.Errorf("directive %d: %w", i, err)
		}
		if dir.Namespace == nil || *dir.Namespace == "" || len(*dir.Namespace) > 255 {
			return nil, fmt.Errorf("directive %d: Namespace %v, want 1-255 characters", i, dir.Namespace)
		}
		if dir.Dimensions == nil {
			return nil, fmt.Errorf("directive %d: Dimensions missing", i)
		}
		if len(dir.Metrics) == 0 || len(dir.Metrics) > 100 {
			return nil, fmt.Errorf("directive %d: %d metrics, want 1-100", i, len(dir.Metrics))
		}
		for _, set := range dir.Dimensions {
			if len(set) > 30 {
				return nil, fmt.Errorf("directive %d: dimension set of %d, want at most 30", i, len(set))
			}
			var dims []string
			for _, d := range set {
				v, err := str(d)
				if err != nil {
					return nil, fmt.Errorf("directive %d: %w", i, err)
				}
				dims = append(dims, d+"="+v)
			}
			for _, def := range dir.Metrics {
				name, _ := def["Name"].(string)
				if name == "" || len(name) > 255 {
					return nil, fmt.Errorf("directive %d: metric Name %v, want 1-255 characters", i, def["Name"])
				}
				unit := "None"
				if u, ok := def["Unit"]; ok {
					us, _ := u.(string)
					if !validUnits[us] {
						return nil, fmt.Errorf("metric %q: unit %v is not a CloudWatch unit", name, u)
					}
					unit = us
				}
				vs, err := values(name)
				if err != nil {
					return nil, err
				}
				out = append(out, datum{Namespace: *dir.Namespace, Name: name, Unit: unit,
					Dims: strings.Join(dims, ","), Values: vs, Timestamp: ts})
			}
		}
	}
	return out, nil
}

// parseAll parses every line of out (Flush's output), failing the test on
// an invalid one, and returns the data points by "Name{Dims}".
func parseAll(t *testing.T, out string, now time.Time) (map[string][]float64, int) {
	t.Helper()
	got := map[string][]float64{}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if out == "" {
		return got, 0
	}
	for _, l := range lines {
		ds, err := parseEMF(l, now)
		if err != nil {
			t.Fatalf("CloudWatch would not read %s: %v", l, err)
		}
		for _, d := range ds {
			if d.Namespace != "FluxKitSMS" {
				t.Errorf("namespace %q, want FluxKitSMS", d.Namespace)
			}
			k := d.Name + "{" + d.Dims + "}"
			got[k] = append(got[k], d.Values...)
		}
	}
	for _, vs := range got {
		sort.Float64s(vs)
	}
	return got, len(lines)
}

// TestParseEMFRefusesWhatCloudWatchRefuses: the reader the other tests rely
// on tells valid lines from invalid ones.
func TestParseEMFRefusesWhatCloudWatchRefuses(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_000)
	ok := `{"_aws":{"Timestamp":1800000000000,"CloudWatchMetrics":[{"Namespace":"FluxKitSMS","Dimensions":[["Function"]],"Metrics":[{"Name":"Sent","Unit":"Count"}]}]},"Function":"send","Sent":2}`
	if ds, err := parseEMF(ok, now); err != nil || len(ds) != 1 || ds[0].Values[0] != 2 {
		t.Fatalf("valid line: %v, %v", ds, err)
	}
	for _, tc := range []struct{ name, line string }{
		{"not JSON", `Sent 2`},
		{"no _aws", `{"Function":"send","Sent":2}`},
		{"no timestamp", `{"_aws":{"CloudWatchMetrics":[]},"Sent":2}`},
		{"timestamp in seconds", strings.Replace(ok, "1800000000000", "1800000000", 1)},
		{"no namespace", strings.Replace(ok, `"Namespace":"FluxKitSMS",`, "", 1)},
		{"dimension without member", strings.Replace(ok, `"Function":"send",`, "", 1)},
		{"dimension not a string", strings.Replace(ok, `"Function":"send"`, `"Function":7`, 1)},
		{"metric without member", strings.Replace(ok, `,"Sent":2`, "", 1)},
		{"metric not a number", strings.Replace(ok, `"Sent":2`, `"Sent":"2"`, 1)},
		{"bad unit", strings.Replace(ok, `"Unit":"Count"`, `"Unit":"Messages"`, 1)},
		{"101 values", strings.Replace(ok, `"Sent":2`, `"Sent":[`+strings.Repeat("1,", 100)+`1]`, 1)},
		{"two objects", ok + ok},
	} {
		if _, err := parseEMF(tc.line, now); err == nil {
			t.Errorf("%s: accepted %s", tc.name, tc.line)
		}
	}
}

func equalValues(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return math.Abs(x-y) < 1e-9 })
}

// keys lists the keys of m, sorted, for messages.
func keys(m map[string][]float64) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, "\n  ")
}

// flushed flushes s at now and returns what it wrote.
func flushed(t *testing.T, flush func(*bytes.Buffer, time.Time) error, now time.Time) string {
	t.Helper()
	var b bytes.Buffer
	if err := flush(&b, now); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	return b.String()
}
