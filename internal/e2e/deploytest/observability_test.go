package deploytest

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/fluxkit/sms/internal/metrics"
)

// xrayGrants are what Lambda's active tracing needs of a function's role.
// X-Ray has no resource-level permissions for them, so they are the only
// grants on "*" the template may hold (checkGrants).
var xrayGrants = []grant{{"xray:PutTraceSegments", "*"}, {"xray:PutTelemetryRecords", "*"}}

// lambdaFunctions returns the logical ids of the template's Lambda functions.
func lambdaFunctions(cfn obj) []string {
	var out []string
	for name, r := range at(cfn, "Resources").(obj) {
		if at(r, "Type") == "AWS::Lambda::Function" {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// observedForms are the deployments whose functions differ: without and
// with status events (the publisher).
var observedForms = []form{eventsOffForms[0], eventForms[0]}

func TestFunctionsAreTraced(t *testing.T) {
	_, tpl := loadTemplate(t)
	for _, f := range observedForms {
		t.Run(f.name, func(t *testing.T) { checkTraced(t, f.resolve(t, tpl)) })
	}
}

func checkTraced(t *testing.T, cfn obj) {
	t.Helper()
	fns := lambdaFunctions(cfn)
	if len(fns) < 2 {
		t.Fatalf("functions %v, want at least send and drain", fns)
	}
	for _, fn := range fns {
		if got := at(props(t, cfn, fn), "TracingConfig", "Mode"); got != "Active" {
			t.Errorf("%s TracingConfig.Mode = %v, want Active", fn, got)
		}
		role := target(props(t, cfn, fn)["Role"])
		got := grants(t, role, policyDocuments(t, cfn)[role])
		for _, g := range xrayGrants {
			if !slices.Contains(got, g) {
				t.Errorf("%s (role %s) lacks %s: its traces would be dropped", fn, role, g)
			}
		}
	}
}

// catalogued reports whether name is a metric of internal/metrics.
func catalogued(name string) bool {
	for _, m := range metrics.All {
		if m.Name == name {
			return true
		}
	}
	return false
}

// alarmMetric is one metric an alarm reads.
type alarmMetric struct {
	namespace, name string
	dims            map[string]any
}

// alarmMetrics returns the metrics alarm p reads, and checks the metric
// math: ids unique, every id an expression names defined, one query
// returning data.
func alarmMetrics(t *testing.T, name string, p obj) []alarmMetric {
	t.Helper()
	if p["Metrics"] == nil {
		dims := map[string]any{}
		for _, d := range asList(p["Dimensions"]) {
			dims[fmt.Sprint(at(d, "Name"))] = at(d, "Value")
		}
		return []alarmMetric{{fmt.Sprint(p["Namespace"]), fmt.Sprint(p["MetricName"]), dims}}
	}
	for _, k := range []string{"Namespace", "MetricName", "Statistic", "Period"} {
		if p[k] != nil {
			t.Errorf("%s: %s beside Metrics, want metric math alone", name, k)
		}
	}
	var out []alarmMetric
	ids := map[string]bool{}
	returning := 0
	var expressions []string
	for _, q := range asList(p["Metrics"]) {
		id := fmt.Sprint(at(q, "Id"))
		if ids[id] {
			t.Errorf("%s: metric id %q twice", name, id)
		}
		ids[id] = true
		if rd := at(q, "ReturnData"); rd == nil || rd == true {
			returning++
		}
		if e, ok := at(q, "Expression").(string); ok {
			expressions = append(expressions, e)
			continue
		}
		m := at(q, "MetricStat", "Metric")
		dims := map[string]any{}
		for _, d := range asList(at(m, "Dimensions")) {
			dims[fmt.Sprint(at(d, "Name"))] = at(d, "Value")
		}
		out = append(out, alarmMetric{fmt.Sprint(at(m, "Namespace")), fmt.Sprint(at(m, "MetricName")), dims})
	}
	if returning != 1 {
		t.Errorf("%s: %d queries return data, want 1", name, returning)
	}
	word := regexp.MustCompile(`\b[a-z][A-Za-z0-9_]*\b`)
	for _, e := range expressions {
		for _, ref := range word.FindAllString(e, -1) {
			if !ids[ref] {
				t.Errorf("%s: expression %q names %q, which is no query of the alarm", name, e, ref)
			}
		}
	}
	return out
}

// TestAlarmsCoverWhatNeedsAPerson: the alarms of the service's list exist,
// notify the optional topic, take their thresholds from parameters, and
// read metrics the functions emit (internal/metrics) or Lambda's, of this
// stack's functions.
func TestAlarmsCoverWhatNeedsAPerson(t *testing.T) {
	_, tpl := loadTemplate(t)
	for name, r := range at(tpl, "Resources").(obj) {
		if at(r, "Type") != "AWS::CloudWatch::Alarm" {
			continue
		}
		for _, k := range []string{"AlarmActions", "OKActions"} {
			b, _ := json.Marshal(at(r, "Properties", k))
			if want := `{"Fn::If":["HasAlarmTopic",[{"Ref":"AlarmTopicArn"}],{"Ref":"AWS::NoValue"}]}`; string(b) != want {
				t.Errorf("%s %s = %s, want the optional topic %s", name, k, b, want)
			}
		}
	}
	for _, f := range observedForms {
		t.Run(f.name, func(t *testing.T) { checkAlarms(t, f.resolve(t, tpl)) })
	}
}

func checkAlarms(t *testing.T, cfn obj) {
	t.Helper()
	fns := lambdaFunctions(cfn)
	// What needs a person, and the alarm that says so.
	wantAlarms := map[string]string{
		"DeadLetterQueueAlarm":      "messages in the dead-letter queue",
		"OldestMessageAlarm":        "the queue not draining",
		"ProviderAccountErrorAlarm": "provider account errors",
		"AmbiguousSendsAlarm":       "ambiguous sends",
		"RejectedRatioAlarm":        "a rejected ratio over a threshold",
		"DailyBudgetAlarm":          "the daily budget at 80 %",
		"IdempotencyRecordAlarm":    "idempotency records not written",
		"StatusRecordAlarm":         "status records not written (send, drain, receipts)",
		"FunctionErrorsAlarm":       "function errors",
		"FunctionThrottlesAlarm":    "function throttles",
		"SendServerErrorsAlarm":     "send-path 5xx",
	}
	thresholds := map[string]string{
		"AmbiguousSendsAlarm":    "AmbiguousSendsAlarmThreshold",
		"RejectedRatioAlarm":     "RejectedPercentAlarmThreshold",
		"DailyBudgetAlarm":       "DailyBudgetAlarmPercent",
		"FunctionErrorsAlarm":    "FunctionErrorsAlarmThreshold",
		"FunctionThrottlesAlarm": "FunctionThrottlesAlarmThreshold",
		"SendServerErrorsAlarm":  "SendServerErrorsAlarmThreshold",
		"OldestMessageAlarm":     "OldestMessageAlarmSeconds",
	}
	for name, what := range wantAlarms {
		if at(cfn, "Resources", name, "Type") != "AWS::CloudWatch::Alarm" {
			t.Errorf("no alarm %s (%s)", name, what)
		}
	}
	for _, name := range []string{"FunctionErrorsAlarm", "FunctionThrottlesAlarm"} {
		var covered []string
		for _, m := range alarmMetrics(t, name, props(t, cfn, name)) {
			covered = append(covered, target(m.dims["FunctionName"]))
		}
		slices.Sort(covered)
		if !slices.Equal(covered, fns) {
			t.Errorf("%s reads the functions %v, want every function of the stack %v", name, covered, fns)
		}
	}
	for name, r := range at(cfn, "Resources").(obj) {
		if at(r, "Type") != "AWS::CloudWatch::Alarm" {
			continue
		}
		p := props(t, cfn, name)
		if want, ok := thresholds[name]; ok {
			if got := resolve(t, cfn, p["Threshold"]); got.param != want {
				t.Errorf("%s Threshold = %v, want a Ref to the parameter %s", name, p["Threshold"], want)
			}
		}
		if p["TreatMissingData"] != "notBreaching" {
			t.Errorf("%s TreatMissingData = %v, want notBreaching (no traffic is not a fault)", name, p["TreatMissingData"])
		}
		for _, m := range alarmMetrics(t, name, p) {
			switch m.namespace {
			case metrics.Namespace:
				if _, fromLogs := m.dims["Function"]; !fromLogs {
					continue // a metric filter's metric (ProviderAccountErrors-<stack> …)
				}
				if !catalogued(m.name) {
					t.Errorf("%s reads %s/%s, which internal/metrics does not emit", name, m.namespace, m.name)
				}
				if fn := target(m.dims["Function"]); !slices.Contains(fns, fn) {
					t.Errorf("%s reads %s with Function %v, want a Ref to a function of the stack", name, m.name, m.dims["Function"])
				}
			case "AWS/Lambda":
				if fn := target(m.dims["FunctionName"]); !slices.Contains(fns, fn) {
					t.Errorf("%s reads %s of %v, want a function of the stack", name, m.name, m.dims["FunctionName"])
				}
			}
		}
	}
}

// subPlaceholder matches the ${…} of a Fn::Sub string.
var subPlaceholder = regexp.MustCompile(`\$\{([^}!]+)\}`)

// TestDashboard: the dashboard's body is the JSON CloudWatch takes once
// CloudFormation substitutes it, every ${…} names something of the stack,
// it shows the funnel, provider latency, limiter wait, queue age, receipts
// and quota refusals, and it reads only metrics the functions emit.
func TestDashboard(t *testing.T) {
	_, cfn := loadTemplate(t)
	body, ok := at(props(t, cfn, "Dashboard"), "DashboardBody", "Fn::Sub").(string)
	if !ok {
		t.Fatalf("DashboardBody = %v, want a Fn::Sub of JSON", props(t, cfn, "Dashboard")["DashboardBody"])
	}
	resources := at(cfn, "Resources").(obj)
	substituted := subPlaceholder.ReplaceAllStringFunc(body, func(m string) string {
		ref := m[2 : len(m)-1]
		name, _, _ := strings.Cut(ref, ".")
		if _, ok := resources[name]; !ok && !strings.HasPrefix(ref, "AWS::") {
			t.Errorf("dashboard ${%s} names nothing of the stack", ref)
		}
		return "value-of-" + strings.NewReplacer(":", "-", ".", "-").Replace(ref)
	})
	var dash struct {
		Widgets []struct {
			Type       string `json:"type"`
			Properties struct {
				Title   string  `json:"title"`
				Region  string  `json:"region"`
				Metrics [][]any `json:"metrics"`
			} `json:"properties"`
		} `json:"widgets"`
	}
	if err := json.Unmarshal([]byte(substituted), &dash); err != nil {
		t.Fatalf("DashboardBody is not JSON once substituted: %v", err)
	}
	shown := map[string]bool{}
	for _, w := range dash.Widgets {
		if w.Type != "metric" {
			continue
		}
		if w.Properties.Region == "" || w.Properties.Title == "" {
			t.Errorf("widget %q without a title or region", w.Properties.Title)
		}
		for _, m := range w.Properties.Metrics {
			if len(m) == 0 {
				t.Errorf("widget %q: empty metric", w.Properties.Title)
				continue
			}
			if e, ok := m[0].(map[string]any); ok {
				expr, _ := e["expression"].(string)
				for _, name := range regexp.MustCompile(`MetricName=\\?"([A-Za-z]+)\\?"`).FindAllStringSubmatch(expr, -1) {
					shown[name[1]] = true
					if !catalogued(name[1]) {
						t.Errorf("widget %q searches %s, which internal/metrics does not emit", w.Properties.Title, name[1])
					}
				}
				continue
			}
			if len(m) < 2 {
				t.Errorf("widget %q: metric %v without a name", w.Properties.Title, m)
				continue
			}
			ns, _ := m[0].(string)
			name, _ := m[1].(string)
			if ns == metrics.Namespace {
				shown[name] = true
				if !catalogued(name) {
					t.Errorf("widget %q shows %s, which internal/metrics does not emit", w.Properties.Title, name)
				}
			}
		}
	}
	for _, want := range []string{"Requests", "Sent", "Queued", "DeadLettered", "ProviderLatency", "LimiterWait", "QueueAge", "Receipts", "Refusals"} {
		if !shown[want] {
			t.Errorf("the dashboard does not show %s", want)
		}
	}
}
