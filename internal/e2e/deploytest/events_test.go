package deploytest

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/dynamo"
)

// eventForms are the deployments with status events: the bus by name and
// by ARN. eventsOffForms have none: no bus (the default), or a bus without
// status records to publish.
var (
	sampleBusArn = "arn:aws:events:eu-west-1:123456789012:event-bus/sms-events"
	eventForms   = []form{
		{"EventBusName a name", map[string]string{"EventBusName": "sms-events"}},
		{"EventBusName an ARN", map[string]string{"EventBusName": sampleBusArn}},
	}
	eventsOffForms = []form{
		{"EventBusName empty", nil},
		{"StatusTracking false", map[string]string{"EventBusName": "sms-events", "StatusTracking": "false"}},
	}
)

// eventResources are the resources that exist only with events.
var eventResources = []string{"PublisherFunction", "PublisherFunctionRole", "PublisherLogGroup", "EventsDeadLetterQueue", "EventsDeadLetterQueueAlarm", "PublisherIteratorAgeAlarm"}

// TestNoEventsNoStream: without a bus (or without status records) the
// stack has no stream, no publisher and nothing of theirs: events cost
// nothing unless asked for.
func TestNoEventsNoStream(t *testing.T) {
	_, tpl := loadTemplate(t)
	for _, f := range eventsOffForms {
		t.Run(f.name, func(t *testing.T) {
			cfn := f.resolve(t, tpl)
			if s := props(t, cfn, "Table")["StreamSpecification"]; s != nil {
				t.Errorf("Table StreamSpecification = %v, want none", s)
			}
			for name, r := range at(cfn, "Resources").(obj) {
				if slices.Contains(eventResources, name) || at(r, "Type") == "AWS::Lambda::EventSourceMapping" && target(at(r, "Properties", "FunctionName")) == "PublisherFunction" {
					t.Errorf("resource %s exists, want none without events", name)
				}
			}
			for name := range at(cfn, "Outputs").(obj) {
				if name == "PublisherFunctionName" || name == "EventsDeadLetterQueueUrl" {
					t.Errorf("output %s exists, want none without events", name)
				}
			}
		})
	}
}

// publisherESM returns the properties of the publisher's one event source
// mapping in cfn.
func publisherESM(t *testing.T, cfn obj) obj {
	t.Helper()
	var esm obj
	for name, r := range at(cfn, "Resources").(obj) {
		if at(r, "Type") == "AWS::Lambda::EventSourceMapping" && target(at(r, "Properties", "FunctionName")) == "PublisherFunction" {
			if esm != nil {
				t.Fatalf("more than one event source mapping for PublisherFunction (%s)", name)
			}
			esm = at(r, "Properties").(obj)
		}
	}
	if esm == nil {
		t.Fatal("no event source mapping for PublisherFunction")
	}
	return esm
}

// TestPublisherReadsTheStream checks the stream and the event source
// mapping: both images, only status records (the prefix StatusStore
// writes), partial batch failures, bisection, bounded retries whose last
// word goes to the events dead-letter queue while the stream (24 hours)
// still holds the records.
func TestPublisherReadsTheStream(t *testing.T) {
	_, tpl := loadTemplate(t)
	for _, f := range eventForms {
		t.Run(f.name, func(t *testing.T) {
			cfn := f.resolve(t, tpl)
			if got, want := at(props(t, cfn, "Table"), "StreamSpecification", "StreamViewType"), "NEW_AND_OLD_IMAGES"; got != want {
				t.Errorf("Table StreamViewType = %v, want %v (previousStatus comes from the old image)", got, want)
			}
			esm := publisherESM(t, cfn)
			if src := esm["EventSourceArn"]; target(src) != "Table" || !strings.Contains(fmt.Sprint(src), "StreamArn") {
				t.Errorf("EventSourceArn = %v, want the table's StreamArn", src)
			}
			if got, want := esm["StartingPosition"], "TRIM_HORIZON"; got != want {
				t.Errorf("StartingPosition = %v, want %v (nothing written before the mapping is skipped)", got, want)
			}
			if got := asStrings(esm["FunctionResponseTypes"]); !slices.Contains(got, "ReportBatchItemFailures") {
				t.Errorf("FunctionResponseTypes = %v, want ReportBatchItemFailures", got)
			}
			if got := esm["BisectBatchOnFunctionError"]; got != true {
				t.Errorf("BisectBatchOnFunctionError = %v, want true", got)
			}
			if got := resolve(t, cfn, esm["BatchSize"]).value; got < 10 || got > 1000 {
				t.Errorf("BatchSize = %v, want 10-1000", got)
			}
			if got := resolve(t, cfn, esm["MaximumRetryAttempts"]).value; got < 1 || got > 10000 {
				t.Errorf("MaximumRetryAttempts = %v, want a bound (1-10000)", got)
			}
			age := resolve(t, cfn, esm["MaximumRecordAgeInSeconds"]).value
			if age < 3600 || age > 43200 {
				t.Errorf("MaximumRecordAgeInSeconds = %v, want 1-12 hours: long enough to ride out an outage, short enough to leave half the stream's 24 hours to publish again", age)
			}
			if got, want := target(at(esm, "DestinationConfig", "OnFailure", "Destination")), "EventsDeadLetterQueue"; got != want {
				t.Errorf("on-failure destination = %v, want %s", at(esm, "DestinationConfig"), want)
			}
			filters := asList(at(esm, "FilterCriteria", "Filters"))
			if len(filters) != 1 {
				t.Fatalf("FilterCriteria = %v, want one filter", at(esm, "FilterCriteria"))
			}
			var pattern struct {
				EventName []string `json:"eventName"`
				DynamoDB  struct {
					Keys struct {
						PK struct {
							S []map[string]string `json:"S"`
						} `json:"pk"`
					} `json:"Keys"`
				} `json:"dynamodb"`
			}
			raw := fmt.Sprint(at(filters[0], "Pattern"))
			if err := json.Unmarshal([]byte(raw), &pattern); err != nil {
				t.Fatalf("filter pattern %s: %v", raw, err)
			}
			if !slices.Equal(pattern.EventName, []string{"INSERT", "MODIFY"}) {
				t.Errorf("filter eventName = %v, want INSERT and MODIFY (REMOVE is the TTL)", pattern.EventName)
			}
			if s := pattern.DynamoDB.Keys.PK.S; len(s) != 1 || s[0]["prefix"] != dynamo.StatusKeyPrefix {
				t.Errorf("filter on pk = %v, want the prefix %q of status records", s, dynamo.StatusKeyPrefix)
			}
			q := props(t, cfn, "EventsDeadLetterQueue")
			if q["SqsManagedSseEnabled"] != true || resolve(t, cfn, q["MessageRetentionPeriod"]).value < 7*86400 {
				t.Errorf("EventsDeadLetterQueue = %v, want encrypted and kept at least 7 days", q)
			}
		})
	}
}

// TestPublisherFunction: the publisher is a function like the others
// (arm64, bootstrap, its own log group and role) that gets the bus and
// nothing the send path has.
func TestPublisherFunction(t *testing.T) {
	_, tpl := loadTemplate(t)
	raw, _ := loadTemplate(t)
	if got, want := at(raw, "Resources", "PublisherFunction", "Metadata", "BuildMethod"), "makefile"; got != want {
		t.Errorf("Metadata.BuildMethod = %v, want %v", got, want)
	}
	for _, f := range eventForms {
		t.Run(f.name, func(t *testing.T) {
			cfn := f.resolve(t, tpl)
			p := props(t, cfn, "PublisherFunction")
			for field, want := range map[string]string{"Runtime": "provided.al2023", "Handler": "bootstrap", "Architectures": "arm64"} {
				if got := strings.Join(asStrings(p[field]), ","); got != want {
					t.Errorf("%s = %v, want %v", field, got, want)
				}
			}
			if got := target(p["Role"]); got != "PublisherFunctionRole" {
				t.Errorf("Role = %v, want PublisherFunctionRole", got)
			}
			if got := target(at(p, "LoggingConfig", "LogGroup")); got != "PublisherLogGroup" {
				t.Errorf("LogGroup = %v, want PublisherLogGroup", got)
			}
			if got := target(at(p, "Environment", "Variables", config.EnvEventBus)); got != "EventBusName" {
				t.Errorf("%s = %v, want a Ref to EventBusName", config.EnvEventBus, at(p, "Environment", "Variables", config.EnvEventBus))
			}
			if timeout := resolve(t, cfn, p["Timeout"]).value; timeout < 15 || timeout > 60 {
				t.Errorf("Timeout = %v s, want 15-60 (room for the PutEvents retries)", timeout)
			}
		})
	}
}

// TestPublisherIsLeastPrivilege: the publisher's role reads the stream
// (not the table), puts events on the configured bus only, and sends to
// its dead-letter queue; the other roles gain nothing with events.
func TestPublisherIsLeastPrivilege(t *testing.T) {
	_, tpl := loadTemplate(t)
	base := policyDocuments(t, eventsOffForms[0].resolve(t, tpl))
	for _, f := range eventForms {
		t.Run(f.name, func(t *testing.T) {
			cfn := f.resolve(t, tpl)
			docs := policyDocuments(t, cfn)
			bus := `{"Fn::Sub":"arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}"}`
			if f.params["EventBusName"] == sampleBusArn {
				bus = "EventBusName"
			}
			want := []grant{
				{"logs:CreateLogStream", "PublisherLogGroup"}, {"logs:PutLogEvents", "PublisherLogGroup"},
				{"dynamodb:DescribeStream", "Table"}, {"dynamodb:GetRecords", "Table"}, {"dynamodb:GetShardIterator", "Table"},
				{"dynamodb:ListStreams", `{"Fn::Sub":"${Table.Arn}/stream/*"}`},
				{"events:PutEvents", bus},
				{"sqs:SendMessage", "EventsDeadLetterQueue"},
			}
			want = append(want, xrayGrants...)
			gotGrants := grants(t, "PublisherFunctionRole", docs["PublisherFunctionRole"])
			if got, want := sortedGrants(gotGrants), sortedGrants(want); !slices.Equal(got, want) {
				t.Errorf("grants =\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
			// The stream actions are on the stream, not on the table.
			for _, st := range asList(at(docs["PublisherFunctionRole"][0], "Statement")) {
				if slices.Contains(asStrings(at(st, "Action")), "dynamodb:GetRecords") && !strings.Contains(fmt.Sprint(at(st, "Resource")), "StreamArn") {
					t.Errorf("stream actions on %v, want the table's StreamArn", at(st, "Resource"))
				}
			}
			for role, d := range base {
				if got, want := sortedGrants(grants(t, role, docs[role])), sortedGrants(grants(t, role, d)); !slices.Equal(got, want) {
					t.Errorf("%s grants change with events:\n  %s\nwant\n  %s", role, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
				}
			}
		})
	}
}

// TestEventsAlarm: publishing that falls behind, and positions handed to
// the events dead-letter queue, both raise an alarm.
func TestEventsAlarm(t *testing.T) {
	_, tpl := loadTemplate(t)
	cfn := eventForms[0].resolve(t, tpl)
	dlq := props(t, cfn, "EventsDeadLetterQueueAlarm")
	if at(dlq, "MetricName") != "ApproximateNumberOfMessagesVisible" || target(at(dlq, "Dimensions", "0", "Value")) != "EventsDeadLetterQueue" {
		t.Errorf("EventsDeadLetterQueueAlarm = %v, want the queue's visible messages", dlq)
	}
	age := props(t, cfn, "PublisherIteratorAgeAlarm")
	if at(age, "Namespace") != "AWS/Lambda" || at(age, "MetricName") != "IteratorAge" || target(at(age, "Dimensions", "0", "Value")) != "PublisherFunction" {
		t.Errorf("PublisherIteratorAgeAlarm = %v, want the publisher's IteratorAge", age)
	}
	maxAge := resolve(t, cfn, publisherESM(t, cfn)["MaximumRecordAgeInSeconds"]).value
	if th := resolve(t, cfn, at(age, "Threshold")).value; th <= 0 || th >= maxAge*1000/10 {
		t.Errorf("IteratorAge threshold = %v ms, want well before records are given up (%v s)", th, maxAge)
	}
}

// TestEventBusParameterMatchesConfig: the template accepts exactly the
// SMS_EVENT_BUS values the publisher accepts (and empty, for no events).
func TestEventBusParameterMatchesConfig(t *testing.T) {
	_, cfn := loadTemplate(t)
	p, ok := at(cfn, "Parameters", "EventBusName").(obj)
	if !ok {
		t.Fatal("parameter EventBusName missing")
	}
	if got := p["Default"]; got != "" {
		t.Errorf("Default = %v, want empty (no events unless asked for)", got)
	}
	re := regexp.MustCompile(fmt.Sprint(p["AllowedPattern"]))
	for _, v := range []string{
		"default", "sms-events", "aws.partner/example.com/123/sms", strings.Repeat("b", 256), sampleBusArn,
		"arn:aws-cn:events:cn-north-1:123456789012:event-bus/default",
		strings.Repeat("b", 257), "sms events", "bus:x", "arn:aws:events:eu-west-1:123456789012:rule/x",
		"arn:aws:events:eu-west-1:1234:event-bus/x", "arn:aws:events:eu-west-1:123456789012:event-bus/",
	} {
		_, err := config.FromEnv(func(k string) string {
			if k == config.EnvEventBus {
				return v
			}
			return ""
		})
		if got, want := fullMatch(re, v), err == nil; got != want {
			t.Errorf("EventBusName %q: template accepts = %v, the publisher accepts = %v (%v)", v, got, want, err)
		}
	}
	if !fullMatch(re, "") {
		t.Errorf("AllowedPattern refuses the empty default")
	}
}
