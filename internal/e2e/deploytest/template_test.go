package deploytest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/fluxkit/sms/internal/testing/mototest"
	"github.com/fluxkit/sms/internal/testing/rie"
)

const cfnLintHint = "cfn-lint not found: install it with  pip install cfn-lint"

// obj is a JSON object of the template.
type obj = map[string]any

var loaded struct {
	once     sync.Once
	raw, cfn obj
	err      error
}

// loadTemplate returns template.yaml as written (raw) and after the SAM
// transform (cfn), converted by testdata/cfn2json.py once per test binary.
func loadTemplate(t *testing.T) (raw, cfn obj) {
	t.Helper()
	root := rie.ModuleRoot(t)
	loaded.once.Do(func() {
		if _, err := exec.LookPath("python3"); err != nil {
			loaded.err = errors.New("python3 not found: the template checks read template.yaml through cfn-lint's Python modules")
			return
		}
		cmd := exec.Command("python3", filepath.Join("testdata", "cfn2json.py"), filepath.Join(root, "template.yaml"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			loaded.err = fmt.Errorf("convert template.yaml to JSON: %v\n%s", err, stderr.String())
			return
		}
		var both struct {
			Template    obj `json:"template"`
			Transformed obj `json:"transformed"`
		}
		if err := json.Unmarshal(out, &both); err != nil {
			loaded.err = fmt.Errorf("decode cfn2json output: %w", err)
			return
		}
		loaded.raw, loaded.cfn = both.Template, both.Transformed
	})
	if loaded.err != nil {
		t.Fatal(loaded.err)
	}
	return loaded.raw, loaded.cfn
}

// at returns the value at path in v (object keys, or list indexes as
// numbers), or nil.
func at(v any, path ...string) any {
	for _, p := range path {
		switch x := v.(type) {
		case obj:
			v = x[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// resource returns the named resource of tpl or fails the test.
func resource(t *testing.T, tpl obj, name string) obj {
	t.Helper()
	r, ok := at(tpl, "Resources", name).(obj)
	if !ok {
		t.Fatalf("resource %s missing", name)
	}
	return r
}

// props returns the Properties of the named resource.
func props(t *testing.T, tpl obj, name string) obj {
	t.Helper()
	p, _ := resource(t, tpl, name)["Properties"].(obj)
	return p
}

// target returns the logical id v points at: {"Ref": X} or
// {"Fn::GetAtt": [X, ...]} (or "X.Attr"); "" otherwise.
func target(v any) string {
	m, ok := v.(obj)
	if !ok || len(m) != 1 {
		return ""
	}
	if r, ok := m["Ref"].(string); ok {
		return r
	}
	switch g := m["Fn::GetAtt"].(type) {
	case []any:
		if len(g) > 0 {
			s, _ := g[0].(string)
			return s
		}
	case string:
		s, _, _ := strings.Cut(g, ".")
		return s
	}
	return ""
}

// quantity is a number in the template: a constant, or a parameter (with
// its default as value).
type quantity struct {
	param string
	value float64
}

// resolve reads v as a quantity: a number, a numeric string, or a Ref to a
// Number parameter.
func resolve(t *testing.T, tpl obj, v any) quantity {
	t.Helper()
	switch x := v.(type) {
	case float64:
		return quantity{value: x}
	case string:
		f, err := strconv.ParseFloat(x, 64)
		if err != nil {
			t.Fatalf("%q is not a number", x)
		}
		return quantity{value: f}
	}
	name := target(v)
	p, ok := at(tpl, "Parameters", name).(obj)
	if !ok {
		t.Fatalf("%v is neither a number nor a parameter reference", v)
	}
	q := resolve(t, tpl, p["Default"])
	q.param = name
	return q
}

func asStrings(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			} else {
				b, _ := json.Marshal(e)
				out = append(out, string(b))
			}
		}
		return out
	}
	return nil
}

func TestCfnLintHasNoErrorsOrWarnings(t *testing.T) {
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Fatal(cfnLintHint)
	}
	cmd := exec.Command(bin, "--format", "parseable", "--", "template.yaml")
	cmd.Dir = rie.ModuleRoot(t)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("cfn-lint template.yaml: %v, want exit 0 and no findings:\n%s", err, out)
	}
}

// functions are the template's Lambda functions.
var functions = []string{"SendFunction", "DrainFunction", "ReceiptsFunction"}

func TestFunctionsRunBootstrapOnArm64(t *testing.T) {
	raw, cfn := loadTemplate(t)
	for _, fn := range functions {
		t.Run(fn, func(t *testing.T) {
			if got, want := at(raw, "Resources", fn, "Metadata", "BuildMethod"), "makefile"; got != want {
				t.Errorf("Metadata.BuildMethod = %v, want %v", got, want)
			}
			if got, want := at(raw, "Resources", fn, "Properties", "CodeUri"), "."; got != want {
				t.Errorf("CodeUri = %v, want %v (the Makefile is at the root)", got, want)
			}
			if got, want := resource(t, cfn, fn)["Type"], "AWS::Lambda::Function"; got != want {
				t.Fatalf("transformed type = %v, want %v", got, want)
			}
			p := props(t, cfn, fn)
			for _, c := range []struct {
				field string
				got   any
				want  any
			}{
				{"Runtime", p["Runtime"], "provided.al2023"},
				{"Handler", p["Handler"], "bootstrap"},
				{"Architectures", strings.Join(asStrings(p["Architectures"]), ","), "arm64"},
			} {
				if c.got != c.want {
					t.Errorf("%s = %v, want %v", c.field, c.got, c.want)
				}
			}
			mem := resolve(t, cfn, p["MemorySize"]).value
			if mem < 128 || mem > 1024 {
				t.Errorf("MemorySize = %v, want 128-1024 MB", mem)
			}
			role := target(p["Role"])
			if got, want := at(cfn, "Resources", role, "Type"), "AWS::IAM::Role"; got != want {
				t.Errorf("Role points at %q of type %v, want a role of this template (%v)", role, got, want)
			}
			group := target(at(p, "LoggingConfig", "LogGroup"))
			if got, want := at(cfn, "Resources", group, "Type"), "AWS::Logs::LogGroup"; got != want {
				t.Fatalf("LoggingConfig.LogGroup points at %q of type %v, want %v", group, got, want)
			}
			if at(cfn, "Resources", group, "Properties", "RetentionInDays") == nil {
				t.Errorf("log group %s has no RetentionInDays", group)
			}
		})
	}
}

func TestFunctionsGetEveryConfigVariable(t *testing.T) {
	_, tpl := loadTemplate(t)
	// Every variable of README.md#configuration a deployment sets, and where it
	// comes from.
	want := map[string]string{
		"SMS_PROVIDER":             "Provider",
		"SMS_FROM":                 "Sender",
		"SMS_SECRET_ID":            "ProviderSecret",
		"SMS_RATE_LIMIT":           "RateLimit",
		"SMS_RATE_MARGIN":          "RateMargin",
		"SMS_QUEUE_ENABLED":        "QueueEnabled",
		"SMS_TABLE_NAME":           "Table",
		"SMS_QUEUE_URL":            "Queue",
		"SMS_DLQ_URL":              "DeadLetterQueue",
		"SMS_ALLOWED_SENDERS":      "AllowedSenders",
		"SMS_ALLOWED_COUNTRIES":    "AllowedCountries",
		"SMS_BLOCKED_NUMBER_TYPES": "BlockedNumberTypes",
		"SMS_SMART_ENCODING":       "SmartEncoding",
		"SMS_RECIPIENT_LIMIT":      "RecipientLimit",
		"SMS_CALLER_LIMIT":         "CallerLimit",
		"SMS_DAILY_SEGMENT_LIMIT":  "DailySegmentLimit",
		"SMS_RATE_UNIT":            "RateUnit",
		"JWT_ISSUER":               "JwtIssuer",
		"JWT_AUDIENCE":             "JwtAudience",
		"JWT_JWKS_URL":             "JwtJwksUrl",
		"JWT_REQUIRED_SCOPE":       "JwtRequiredScope",
		"JWT_READ_ALL_SCOPE":       "JwtReadAllScope",
		"JWT_MAX_LIFETIME":         "JwtMaxLifetime",
		"SMS_STATUS_TRACKING":      "StatusTracking",
		"SMS_STATUS_RETENTION":     "StatusRetention",
		"SMS_MAX_RECEIVES":         "MaxReceiveCount",
	}
	for _, f := range jwtSecretForms {
		t.Run(f.name, func(t *testing.T) {
			cfn := f.resolve(t, tpl)
			for _, fn := range functions {
				vars, _ := at(props(t, cfn, fn), "Environment", "Variables").(obj)
				for name, from := range want {
					if got := target(vars[name]); got != from {
						t.Errorf("%s: %s = %v, want a Ref to %s", fn, name, vars[name], from)
					}
				}
				// SMS_PUBLIC_URL: the PublicUrl parameter, or the API's own
				// URL (without a trailing slash: the routes are appended).
				pub := vars["SMS_PUBLIC_URL"]
				switch f.param(t, tpl, "PublicUrl") {
				case "":
					if got := fmt.Sprint(at(pub, "Fn::Sub")); got != "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}" {
						t.Errorf("%s: SMS_PUBLIC_URL = %v, want the API's execute-api URL", fn, pub)
					}
				default:
					if got := target(pub); got != "PublicUrl" {
						t.Errorf("%s: SMS_PUBLIC_URL = %v, want a Ref to PublicUrl", fn, pub)
					}
				}
			}
			// JWT_SECRET_ID: only the send function reads the JWT keys, and
			// without JwtSecretArn it is left unset, so that the function
			// reads them from SMS_SECRET_ID exactly as before.
			send, _ := at(props(t, cfn, "SendFunction"), "Environment", "Variables").(obj)
			jwtID, set := send["JWT_SECRET_ID"]
			switch f.params["JwtSecretArn"] {
			case "":
				if set {
					t.Errorf("SendFunction: JWT_SECRET_ID = %v, want it unset", jwtID)
				}
			default:
				if got := target(jwtID); got != "JwtSecretArn" {
					t.Errorf("SendFunction: JWT_SECRET_ID = %v, want a Ref to JwtSecretArn", jwtID)
				}
			}
			for _, fn := range []string{"DrainFunction", "ReceiptsFunction"} {
				vars, _ := at(props(t, cfn, fn), "Environment", "Variables").(obj)
				if v, ok := vars["JWT_SECRET_ID"]; ok {
					t.Errorf("%s: JWT_SECRET_ID = %v, want it unset (only the send function reads the JWT keys)", fn, v)
				}
			}
		})
	}
}

func TestQueueVisibilityIsSixDrainTimeouts(t *testing.T) {
	_, cfn := loadTemplate(t)
	timeout := resolve(t, cfn, props(t, cfn, "DrainFunction")["Timeout"])
	visibility := resolve(t, cfn, props(t, cfn, "Queue")["VisibilityTimeout"])
	if visibility.value < 6*timeout.value {
		t.Errorf("Queue VisibilityTimeout = %v s, want >= 6 x drain Timeout %v s = %v s", visibility.value, timeout.value, 6*timeout.value)
	}
	if timeout.value < 30 || timeout.value > 900 {
		t.Errorf("DrainFunction Timeout = %v s, want 30-900 s", timeout.value)
	}
	for _, fn := range []string{"SendFunction", "ReceiptsFunction"} {
		if got := resolve(t, cfn, props(t, cfn, fn)["Timeout"]).value; got > 29 {
			t.Errorf("%s Timeout = %v s, want < 30 s (API Gateway's integration limit)", fn, got)
		}
	}
}

func TestDrainConcurrencyIsReservedAndCapped(t *testing.T) {
	_, cfn := loadTemplate(t)
	var esm obj
	for name, r := range at(cfn, "Resources").(obj) {
		r := r.(obj)
		if r["Type"] == "AWS::Lambda::EventSourceMapping" && target(at(r, "Properties", "FunctionName")) == "DrainFunction" {
			if esm != nil {
				t.Fatalf("more than one event source mapping for DrainFunction (%s)", name)
			}
			esm = r["Properties"].(obj)
		}
	}
	if esm == nil {
		t.Fatal("no event source mapping for DrainFunction")
	}
	if got, want := target(esm["EventSourceArn"]), "Queue"; got != want {
		t.Errorf("event source = %v, want %s", got, want)
	}
	if got := resolve(t, cfn, esm["BatchSize"]).value; got < 1 || got > 10 {
		t.Errorf("BatchSize = %v, want 1-10", got)
	}
	if got := asStrings(esm["FunctionResponseTypes"]); !slices.Contains(got, "ReportBatchItemFailures") {
		t.Errorf("FunctionResponseTypes = %v, want ReportBatchItemFailures", got)
	}
	maxConc := resolve(t, cfn, at(esm, "ScalingConfig", "MaximumConcurrency"))
	if maxConc.value < 2 {
		t.Errorf("MaximumConcurrency = %v, want >= 2 (the SQS minimum)", maxConc.value)
	}

	reserved := props(t, cfn, "DrainFunction")["ReservedConcurrentExecutions"]
	branches := []any{reserved}
	if f, ok := at(reserved, "Fn::If").([]any); ok && len(f) == 3 {
		branches = f[1:]
	}
	reserves := 0
	for _, b := range branches {
		if target(b) == "AWS::NoValue" {
			continue
		}
		reserves++
		r := resolve(t, cfn, b)
		switch {
		case r.param != "" && r.param == maxConc.param:
		case r.param == "" && maxConc.param == "" && r.value >= maxConc.value:
		default:
			t.Errorf("ReservedConcurrentExecutions %+v is not provably >= MaximumConcurrency %+v: use the same parameter or constants", r, maxConc)
		}
	}
	if reserves == 0 {
		t.Errorf("ReservedConcurrentExecutions = %v, want a reservation", reserved)
	}
	if got, want := at(cfn, "Parameters", "ReserveDrainConcurrency", "Default"), "true"; len(branches) == 2 && got != want {
		t.Errorf("ReserveDrainConcurrency default = %v, want %v", got, want)
	}
}

// grant is one allowed action on one resource (a logical id, or the
// resource as written when it is not a reference).
type grant struct{ action, resource string }

func (g grant) String() string { return g.action + " on " + g.resource }

// policyDocuments returns every IAM policy document of tpl by owner.
func policyDocuments(t *testing.T, tpl obj) map[string][]any {
	t.Helper()
	docs := map[string][]any{}
	for name, r := range at(tpl, "Resources").(obj) {
		r := r.(obj)
		switch r["Type"] {
		case "AWS::IAM::Role":
			for _, p := range asList(at(r, "Properties", "Policies")) {
				docs[name] = append(docs[name], at(p, "PolicyDocument"))
			}
			if m := at(r, "Properties", "ManagedPolicyArns"); m != nil {
				t.Errorf("%s: ManagedPolicyArns = %v, want none (AWS managed policies grant on \"*\")", name, m)
			}
		case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy":
			docs[name] = append(docs[name], at(r, "Properties", "PolicyDocument"))
		}
	}
	return docs
}

func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

// grants lists the Allow statements of docs.
func grants(t *testing.T, owner string, docs []any) []grant {
	t.Helper()
	var out []grant
	for _, d := range docs {
		for _, st := range asList(at(d, "Statement")) {
			if got := at(st, "Effect"); got != "Allow" {
				continue
			}
			for _, key := range []string{"NotAction", "NotResource"} {
				if at(st, key) != nil {
					t.Errorf("%s: statement uses %s, want explicit Action and Resource", owner, key)
				}
			}
			for _, action := range asStrings(at(st, "Action")) {
				for _, res := range asList(at(st, "Resource")) {
					name := target(res)
					if name == "" {
						b, _ := json.Marshal(res)
						name = string(b)
						if s, ok := res.(string); ok {
							name = s
						}
					}
					out = append(out, grant{action, name})
				}
			}
		}
	}
	return out
}

// TestIAMIsLeastPrivilege checks every role's exact grants in both forms
// of JwtSecretArn: set, the send function alone gets the JWT secret, and
// the drain keeps only the provider secret (IAM grants whole secrets, so
// that is what keeps it from the JWT keys once they leave the provider
// secret).
func TestIAMIsLeastPrivilege(t *testing.T) {
	_, tpl := loadTemplate(t)
	for _, f := range jwtSecretForms {
		t.Run(f.name, func(t *testing.T) {
			var jwtGrants []grant
			if f.params["JwtSecretArn"] != "" {
				jwtGrants = []grant{{"secretsmanager:GetSecretValue", "JwtSecretArn"}}
			}
			checkGrants(t, f.resolve(t, tpl), jwtGrants)
		})
	}
}

// checkGrants compares the grants of every IAM resource of cfn with the
// expected ones; sendExtra are the send role's grants beyond the common
// ones.
func checkGrants(t *testing.T, cfn obj, sendExtra []grant) {
	t.Helper()
	docs := policyDocuments(t, cfn)

	for owner, d := range docs {
		for _, g := range grants(t, owner, d) {
			if g.resource == "*" && !slices.Contains(xrayGrants, g) {
				t.Errorf("%s: %s, want no \"*\" resource (X-Ray's two actions are the one exception)", owner, g)
			}
			if strings.Contains(g.action, "*") {
				t.Errorf("%s: %s, want no wildcard action", owner, g)
			}
		}
	}

	crud := []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
	common := func(logGroup string) []grant {
		gs := []grant{
			{"logs:CreateLogStream", logGroup}, {"logs:PutLogEvents", logGroup},
			{"secretsmanager:GetSecretValue", "ProviderSecret"},
		}
		gs = append(gs, xrayGrants...)
		for _, a := range crud {
			gs = append(gs, grant{a, "Table"})
		}
		return gs
	}
	// The send function looks status records up by provider id (GET) in
	// the table's one index, and nowhere else.
	statusIndex := grant{"dynamodb:Query", `{"Fn::Sub":"${Table.Arn}/index/providerMessageId"}`}
	want := map[string][]grant{
		"SendFunctionRole": append(append(append(common("SendLogGroup"), grant{"sqs:SendMessage", "Queue"}, statusIndex), sendExtra...), sendScheduleGrants...),
		"DrainFunctionRole": append(common("DrainLogGroup"),
			grant{"sqs:ReceiveMessage", "Queue"}, grant{"sqs:DeleteMessage", "Queue"},
			grant{"sqs:GetQueueAttributes", "Queue"}, grant{"sqs:ChangeMessageVisibility", "Queue"},
			grant{"sqs:SendMessage", "Queue"}, grant{"sqs:SendMessage", "DeadLetterQueue"}),
		"ProducerPolicy": {{"sqs:SendMessage", "Queue"}},
		// The receipts function writes status records (one conditional
		// UpdateItem per receipt, whose failure returns the stored item)
		// and reads the keys that verify receipts: nothing else, not even
		// GetItem, and never the JWT secret.
		"ReceiptsFunctionRole": append([]grant{
			{"logs:CreateLogStream", "ReceiptsLogGroup"}, {"logs:PutLogEvents", "ReceiptsLogGroup"},
			{"secretsmanager:GetSecretValue", "ProviderSecret"}, {"dynamodb:UpdateItem", "Table"},
		}, xrayGrants...),
		"SchedulerRole": schedulerRoleGrants, // schedule_test.go
	}
	for role, wantGrants := range want {
		t.Run(role, func(t *testing.T) {
			got, want := sortedGrants(grants(t, role, docs[role])), sortedGrants(wantGrants)
			if !slices.Equal(got, want) {
				t.Errorf("grants =\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
		})
	}
	for name := range docs {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected IAM resource %s: list its exact grants in this test", name)
		}
	}
}

func sortedGrants(gs []grant) []string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = g.String()
	}
	sort.Strings(out)
	return slices.Compact(out)
}

func TestQueuesAreEncryptedWithRedrive(t *testing.T) {
	_, cfn := loadTemplate(t)
	for _, q := range []string{"Queue", "DeadLetterQueue"} {
		if got := props(t, cfn, q)["SqsManagedSseEnabled"]; got != true {
			t.Errorf("%s SqsManagedSseEnabled = %v, want true", q, got)
		}
	}
	redrive := props(t, cfn, "Queue")["RedrivePolicy"]
	if got, want := target(at(redrive, "deadLetterTargetArn")), "DeadLetterQueue"; got != want {
		t.Errorf("RedrivePolicy.deadLetterTargetArn -> %q, want %q", got, want)
	}
	if got := resolve(t, cfn, at(redrive, "maxReceiveCount")).value; got < 1 {
		t.Errorf("RedrivePolicy.maxReceiveCount = %v, want >= 1", got)
	}
	queueRetention := resolve(t, cfn, props(t, cfn, "Queue")["MessageRetentionPeriod"]).value
	dlqRetention := resolve(t, cfn, props(t, cfn, "DeadLetterQueue")["MessageRetentionPeriod"]).value
	if dlqRetention <= queueRetention {
		t.Errorf("DLQ retention %v s <= queue retention %v s, want longer (messages keep their age)", dlqRetention, queueRetention)
	}
}

func TestTableMatchesDesign(t *testing.T) {
	_, cfn := loadTemplate(t)
	p := props(t, cfn, "Table")
	if got, want := p["BillingMode"], "PAY_PER_REQUEST"; got != want {
		t.Errorf("BillingMode = %v, want %v", got, want)
	}
	if got, want := at(p, "TimeToLiveSpecification", "AttributeName"), "ttl"; got != want {
		t.Errorf("TTL attribute = %v, want %v", got, want)
	}
	if got := at(p, "TimeToLiveSpecification", "Enabled"); got != true {
		t.Errorf("TTL enabled = %v, want true", got)
	}
	keys := map[string]string{}
	for _, k := range asList(p["KeySchema"]) {
		keys[fmt.Sprint(at(k, "KeyType"))] = fmt.Sprint(at(k, "AttributeName"))
	}
	types := map[string]string{}
	for _, a := range asList(p["AttributeDefinitions"]) {
		types[fmt.Sprint(at(a, "AttributeName"))] = fmt.Sprint(at(a, "AttributeType"))
	}
	for _, c := range []struct{ keyType, name string }{{"HASH", "pk"}, {"RANGE", "sk"}} {
		if got := keys[c.keyType]; got != c.name {
			t.Errorf("%s key = %q, want %q", c.keyType, got, c.name)
		}
		if got := types[c.name]; got != "S" {
			t.Errorf("%s type = %q, want S", c.name, got)
		}
	}
	// One index: status records by provider message id, keys only (the
	// lookup reads the record from the table, and status changes do not
	// write to the index). internal/testing/mototest creates the same.
	gsis := asList(p["GlobalSecondaryIndexes"])
	if len(gsis) != 1 {
		t.Fatalf("GlobalSecondaryIndexes = %v, want exactly the status index", gsis)
	}
	g := gsis[0]
	if got, want := at(g, "IndexName"), mototest.StatusIndex; got != want {
		t.Errorf("index name = %v, want %v", got, want)
	}
	ks := asList(at(g, "KeySchema"))
	if len(ks) != 1 || at(ks[0], "AttributeName") != mototest.StatusIndex || at(ks[0], "KeyType") != "HASH" {
		t.Errorf("index key schema = %v, want %s as the only (HASH) key", ks, mototest.StatusIndex)
	}
	if got := types[mototest.StatusIndex]; got != "S" {
		t.Errorf("%s type = %q, want S", mototest.StatusIndex, got)
	}
	if got, want := at(g, "Projection", "ProjectionType"), "KEYS_ONLY"; got != want {
		t.Errorf("index projection = %v, want %v", got, want)
	}
	if len(types) != 3 {
		t.Errorf("AttributeDefinitions = %v, want pk, sk and %s only", types, mototest.StatusIndex)
	}
}

// TestProviderSecretIsNeverRegenerated pins the provider secret's
// GenerateSecretString: CloudFormation regenerates the whole secret when it
// changes, which on an existing stack would erase the operator's
// credentials and change the jwtSecret every caller's token is signed with.
// Change the JWT setup through JwtSecretArn, never through this resource.
func TestProviderSecretIsNeverRegenerated(t *testing.T) {
	_, cfn := loadTemplate(t)
	want := obj{
		"SecretStringTemplate": `{"accountSid":"","authToken":"","apiKey":"","apiSecret":""}`,
		"GenerateStringKey":    "jwtSecret",
		"PasswordLength":       float64(64),
		"ExcludePunctuation":   true,
	}
	got, _ := props(t, cfn, "ProviderSecret")["GenerateSecretString"].(obj)
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("ProviderSecret GenerateSecretString = %s, want %s unchanged (a change regenerates the secret of every existing stack)", gotJSON, wantJSON)
	}
	r := resource(t, cfn, "ProviderSecret")
	if r["Type"] != "AWS::SecretsManager::Secret" || r["Condition"] != nil {
		t.Errorf("ProviderSecret = %v, want an unconditional AWS::SecretsManager::Secret (the same logical resource on every stack)", r)
	}
}

func TestSecretHoldsNoCredentials(t *testing.T) {
	_, cfn := loadTemplate(t)
	p := props(t, cfn, "ProviderSecret")
	if s, ok := p["SecretString"]; ok {
		t.Errorf("SecretString = %v, want none (GenerateSecretString with an empty template)", s)
	}
	gen, _ := p["GenerateSecretString"].(obj)
	if got, want := gen["GenerateStringKey"], "jwtSecret"; got != want {
		t.Errorf("GenerateStringKey = %v, want %v", got, want)
	}
	if got := resolve(t, cfn, gen["PasswordLength"]).value; got < 32 {
		t.Errorf("PasswordLength = %v, want >= 32 (HS256 key size)", got)
	}
	tmplStr, _ := gen["SecretStringTemplate"].(string)
	var placeholder map[string]string
	if err := json.Unmarshal([]byte(tmplStr), &placeholder); err != nil {
		t.Fatalf("SecretStringTemplate %q: %v", tmplStr, err)
	}
	for k, v := range placeholder {
		if v != "" {
			t.Errorf("SecretStringTemplate %s = %q, want empty (the operator sets it)", k, v)
		}
	}
}

// TestJwtParameters: JwtSecretArn and JwtMaxLifetime default to the
// behaviour of stacks deployed before they existed, and accept only what
// the functions accept.
func TestJwtParameters(t *testing.T) {
	_, cfn := loadTemplate(t)
	tests := []struct {
		param    string
		accepted []string
		refused  []string
	}{
		{"JwtSecretArn",
			[]string{"", sampleJwtSecretArn, "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:sms_jwt.1-a1B2c3"},
			[]string{"fluxkit-sms/jwt", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:fluxkit-sms/jwt", "arn:aws:ssm:eu-west-1:123456789012:parameter/jwt-AbC123", "*"}},
		{"JwtMaxLifetime",
			[]string{"", "off", "24h", "90m", "1h30m", "3600s"},
			[]string{"1d", "24", "-1h", "0", "24 h", "forever"}},
	}
	for _, tt := range tests {
		t.Run(tt.param, func(t *testing.T) {
			p, ok := at(cfn, "Parameters", tt.param).(obj)
			if !ok {
				t.Fatalf("parameter %s missing", tt.param)
			}
			if got := p["Default"]; got != "" {
				t.Errorf("Default = %v, want empty (stacks deployed before the parameter keep their behaviour)", got)
			}
			pattern, _ := p["AllowedPattern"].(string)
			re, err := regexp.Compile(pattern)
			if err != nil || pattern == "" {
				t.Fatalf("AllowedPattern %q: %v, want a pattern", pattern, err)
			}
			for _, v := range tt.accepted {
				if !fullMatch(re, v) {
					t.Errorf("AllowedPattern refuses %q, want it accepted", v)
				}
			}
			for _, v := range tt.refused {
				if fullMatch(re, v) {
					t.Errorf("AllowedPattern accepts %q, want it refused", v)
				}
			}
		})
	}
	for _, name := range []string{"JwtSecretArn", "JwtMaxLifetime"} {
		found := false
		for _, g := range asList(at(cfn, "Metadata", "AWS::CloudFormation::Interface", "ParameterGroups")) {
			if slices.Contains(asStrings(at(g, "Parameters")), name) {
				found = true
			}
		}
		if !found {
			t.Errorf("parameter %s is in no parameter group", name)
		}
	}
}

// fullMatch reports whether re, as CloudFormation applies an
// AllowedPattern, matches all of v.
func fullMatch(re *regexp.Regexp, v string) bool {
	loc := re.FindStringIndex(v)
	return loc != nil && loc[0] == 0 && loc[1] == len(v)
}

// TestRulesRequireIssuerAndAudienceWithJwks: the stack refuses to deploy a
// JWKS without JwtIssuer and JwtAudience (the send function would refuse
// to start), before anything changes.
func TestRulesRequireIssuerAndAudienceWithJwks(t *testing.T) {
	raw, _ := loadTemplate(t)
	jwks := "https://issuer.example/.well-known/jwks.json"
	tests := []struct {
		name       string
		params     map[string]string
		wantFailed int
	}{
		{"HS256", nil, 0},
		{"JWKS alone", map[string]string{"JwtJwksUrl": jwks}, 2},
		{"JWKS without audience", map[string]string{"JwtJwksUrl": jwks, "JwtIssuer": "https://issuer.example/"}, 1},
		{"JWKS without issuer", map[string]string{"JwtJwksUrl": jwks, "JwtAudience": "sms-api"}, 1},
		{"JWKS with both", map[string]string{"JwtJwksUrl": jwks, "JwtIssuer": "https://issuer.example/", "JwtAudience": "sms-api"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			failed := form{tt.name, tt.params}.failedRules(t, raw)
			if len(failed) != tt.wantFailed {
				t.Errorf("failed rule assertions = %q, want %d", failed, tt.wantFailed)
			}
		})
	}
}

func TestRouteReachesSendFunction(t *testing.T) {
	_, cfn := loadTemplate(t)
	route := props(t, cfn, "SendRoute")
	if got, want := route["RouteKey"], "POST /messaging/sms"; got != want {
		t.Errorf("RouteKey = %v, want %v", got, want)
	}
	target := fmt.Sprint(at(route, "Target", "Fn::Sub"))
	if !strings.Contains(target, "${SendIntegration}") {
		t.Errorf("route Target = %v, want integrations/${SendIntegration}", route["Target"])
	}
	integ := props(t, cfn, "SendIntegration")
	if got := fmt.Sprint(integ["IntegrationUri"]); !strings.Contains(got, "SendFunction") {
		t.Errorf("IntegrationUri = %v, want SendFunction's ARN", got)
	}
	perm := props(t, cfn, "SendFunctionApiPermission")
	if got := fmt.Sprint(at(perm, "SourceArn", "Fn::Sub")); !strings.HasSuffix(got, "${HttpApi}/*/POST/messaging/sms") {
		t.Errorf("permission SourceArn = %v, want it limited to POST /messaging/sms of this API", perm["SourceArn"])
	}
	// GET /messaging/sms/{messageId}: the same function, behind the same
	// authorizer as the POST.
	msg := props(t, cfn, "MessageRoute")
	if got, want := msg["RouteKey"], "GET /messaging/sms/{messageId}"; got != want {
		t.Errorf("MessageRoute RouteKey = %v, want %v", got, want)
	}
	if got := fmt.Sprint(at(msg, "Target", "Fn::Sub")); !strings.Contains(got, "${SendIntegration}") {
		t.Errorf("MessageRoute Target = %v, want integrations/${SendIntegration}", msg["Target"])
	}
	for _, k := range []string{"AuthorizationType", "AuthorizerId", "AuthorizationScopes"} {
		if !reflect.DeepEqual(msg[k], route[k]) {
			t.Errorf("MessageRoute %s = %v, want the send route's %v", k, msg[k], route[k])
		}
	}
	getPerm := props(t, cfn, "SendFunctionMessageApiPermission")
	if got := fmt.Sprint(at(getPerm, "SourceArn", "Fn::Sub")); !strings.HasSuffix(got, "${HttpApi}/*/GET/messaging/sms/*") {
		t.Errorf("GET permission SourceArn = %v, want it limited to GET /messaging/sms/* of this API", getPerm["SourceArn"])
	}
	if got, want := at(cfn, "Resources", "ApiJwtAuthorizer", "Condition"), "UseApiJwtAuthorizer"; got != want {
		t.Errorf("ApiJwtAuthorizer Condition = %v, want %v (optional)", got, want)
	}
	if got, want := at(cfn, "Parameters", "ApiGatewayJwtAuthorizer", "Default"), "false"; got != want {
		t.Errorf("ApiGatewayJwtAuthorizer default = %v, want %v (HS256 tokens are the default)", got, want)
	}
}

// TestReceiptRoutes: the receipt routes reach the receipts function
// without a JWT authorizer, whatever ApiGatewayJwtAuthorizer says (the
// providers sign their receipts), the function may be invoked for them
// only, and they have a throttle of their own.
func TestReceiptRoutes(t *testing.T) {
	raw, tpl := loadTemplate(t)
	routes := map[string]string{
		"ReceiptsTwilioRoute":     "POST /messaging/sms/receipts/twilio",
		"ReceiptsVonageGetRoute":  "GET /messaging/sms/receipts/vonage",
		"ReceiptsVonagePostRoute": "POST /messaging/sms/receipts/vonage",
	}
	for _, f := range []form{{"default", nil}, {"with the API's JWT authorizer", map[string]string{
		"ApiGatewayJwtAuthorizer": "true", "JwtIssuer": "https://issuer.example/", "JwtAudience": "sms-api",
		"JwtJwksUrl": "https://issuer.example/jwks", "JwtRequiredScope": "sms:send",
	}}} {
		t.Run(f.name, func(t *testing.T) {
			if failed := f.failedRules(t, raw); len(failed) > 0 {
				t.Fatalf("the form fails the template's rules: %q", failed)
			}
			cfn := f.resolve(t, tpl)
			for name, key := range routes {
				p := props(t, cfn, name)
				if got := p["RouteKey"]; got != key {
					t.Errorf("%s RouteKey = %v, want %s", name, got, key)
				}
				if got := p["AuthorizationType"]; got != "NONE" {
					t.Errorf("%s AuthorizationType = %v, want NONE", name, got)
				}
				if p["AuthorizerId"] != nil || p["AuthorizationScopes"] != nil {
					t.Errorf("%s has an authorizer: %v", name, p)
				}
				if got := fmt.Sprint(at(p, "Target", "Fn::Sub")); got != "integrations/${ReceiptsIntegration}" {
					t.Errorf("%s Target = %v, want integrations/${ReceiptsIntegration}", name, p["Target"])
				}
			}
			if got := target(props(t, cfn, "ReceiptsIntegration")["IntegrationUri"]); got != "ReceiptsFunction" {
				t.Errorf("ReceiptsIntegration IntegrationUri -> %v, want ReceiptsFunction", got)
			}
			perm := props(t, cfn, "ReceiptsFunctionApiPermission")
			if target(perm["FunctionName"]) != "ReceiptsFunction" ||
				!strings.HasSuffix(fmt.Sprint(at(perm, "SourceArn", "Fn::Sub")), "${HttpApi}/*/*/messaging/sms/receipts/*") {
				t.Errorf("ReceiptsFunctionApiPermission = %v, want ReceiptsFunction limited to the receipt routes", perm)
			}
			// The send function is invoked for its own route only.
			if got := fmt.Sprint(at(props(t, cfn, "SendFunctionApiPermission"), "SourceArn", "Fn::Sub")); strings.Contains(got, "receipts") || strings.HasSuffix(got, "/*") {
				t.Errorf("SendFunctionApiPermission SourceArn = %v, want the send route only", got)
			}

			stage := props(t, cfn, "HttpApiStage")
			for _, key := range routes {
				rs := at(stage, "RouteSettings", key)
				if got := target(at(rs, "ThrottlingRateLimit")); got != "ReceiptsThrottlingRateLimit" {
					t.Errorf("RouteSettings[%s].ThrottlingRateLimit = %v, want a Ref to ReceiptsThrottlingRateLimit", key, at(rs, "ThrottlingRateLimit"))
				}
				if got := target(at(rs, "ThrottlingBurstLimit")); got != "ReceiptsThrottlingBurstLimit" {
					t.Errorf("RouteSettings[%s].ThrottlingBurstLimit = %v, want a Ref to ReceiptsThrottlingBurstLimit", key, at(rs, "ThrottlingBurstLimit"))
				}
			}
			if rs, _ := at(stage, "RouteSettings").(obj); len(rs) != len(routes) {
				t.Errorf("RouteSettings = %v, want the receipt routes only (the send route keeps the default)", rs)
			}
			// RouteSettings fail to create unless their routes exist first.
			deps := asStrings(resource(t, cfn, "HttpApiStage")["DependsOn"])
			for name := range routes {
				if !slices.Contains(deps, name) {
					t.Errorf("HttpApiStage DependsOn = %v, want %s", deps, name)
				}
			}
		})
	}
	for _, p := range []string{"ReceiptsThrottlingRateLimit", "ReceiptsThrottlingBurstLimit"} {
		if v := resolve(t, tpl, obj{"Ref": p}); v.value < 1 {
			t.Errorf("%s default = %v, want at least 1", p, v.value)
		}
	}
}

// TestPublicUrlParameter: PublicUrl takes what SMS_PUBLIC_URL takes in a
// deployment (https, no trailing slash, query or fragment) and defaults to
// the API's own URL; the Vonage receipt URL is an output.
func TestPublicUrlParameter(t *testing.T) {
	_, cfn := loadTemplate(t)
	p, _ := at(cfn, "Parameters", "PublicUrl").(obj)
	if p == nil || p["Default"] != "" {
		t.Fatalf("PublicUrl = %v, want a parameter defaulting to empty", p)
	}
	re := regexp.MustCompile(p["AllowedPattern"].(string))
	for _, v := range []string{"", "https://sms.example.com", "https://api.example.com/sms", "https://sms.example.com:8443"} {
		if !fullMatch(re, v) {
			t.Errorf("AllowedPattern refuses %q, want it accepted", v)
		}
	}
	for _, v := range []string{"http://sms.example.com", "https://sms.example.com/", "https://sms.example.com/?a=1", "https://sms.example.com#x", "sms.example.com", "https://"} {
		if fullMatch(re, v) {
			t.Errorf("AllowedPattern accepts %q, want it refused", v)
		}
	}
	out := fmt.Sprint(at(cfn, "Outputs", "VonageReceiptUrl", "Value"))
	if !strings.Contains(out, "${PublicUrl}/messaging/sms/receipts/vonage") || !strings.Contains(out, "execute-api") || strings.Contains(out, "token") {
		t.Errorf("VonageReceiptUrl = %v, want the Vonage receipt route on PublicUrl or the API's URL, without the token", out)
	}
}

func TestAlarmsCoverDLQAgeAndProviderAccount(t *testing.T) {
	_, cfn := loadTemplate(t)
	type key struct{ namespace, metric, queue string }
	alarms := map[key]bool{}
	for _, r := range at(cfn, "Resources").(obj) {
		if at(r, "Type") != "AWS::CloudWatch::Alarm" {
			continue
		}
		p := at(r, "Properties")
		k := key{fmt.Sprint(at(p, "Namespace")), fmt.Sprint(at(p, "MetricName")), target(at(p, "Dimensions", "0", "Value"))}
		alarms[k] = true
	}
	providerMetric := fmt.Sprint(props(t, cfn, "ProviderAccountErrorAlarm")["MetricName"])
	for _, want := range []key{
		{"AWS/SQS", "ApproximateNumberOfMessagesVisible", "DeadLetterQueue"},
		{"AWS/SQS", "ApproximateAgeOfOldestMessage", "Queue"},
		{"FluxKitSMS", providerMetric, ""},
	} {
		if !alarms[want] {
			t.Errorf("no alarm on %+v; have %v", want, alarms)
		}
	}
	statusMetric := fmt.Sprint(props(t, cfn, "StatusRecordAlarm")["MetricName"])
	if !alarms[key{"FluxKitSMS", statusMetric, ""}] {
		t.Errorf("no alarm on failed status writes; have %v", alarms)
	}
	// Every function that writes status records feeds the one alarm: the
	// send path and the drain log status_record_failed, the receipts
	// function receipt_record_failed (checkReceiptRecordFailedLogged).
	statusFilters := []struct{ filter, group, event string }{
		{"SendStatusRecordFailedFilter", "SendLogGroup", "status_record_failed"},
		{"DrainStatusRecordFailedFilter", "DrainLogGroup", "status_record_failed"},
		{"ReceiptsRecordFailedFilter", "ReceiptsLogGroup", receiptRecordFailed},
	}
	for _, f := range statusFilters {
		p := props(t, cfn, f.filter)
		if got := target(p["LogGroupName"]); got != f.group {
			t.Errorf("%s log group = %v, want %v", f.filter, got, f.group)
		}
		if got, want := p["FilterPattern"], `{ $.event = "`+f.event+`" }`; got != want {
			t.Errorf("%s FilterPattern = %v, want %v", f.filter, got, want)
		}
		tr := at(p, "MetricTransformations", "0")
		if got, want := at(tr, "MetricNamespace"), "FluxKitSMS"; got != want {
			t.Errorf("%s namespace = %v, want %v", f.filter, got, want)
		}
		if got := fmt.Sprint(at(tr, "MetricName")); got != statusMetric {
			t.Errorf("%s metric = %v, want the alarm's %v", f.filter, got, statusMetric)
		}
	}
	var feeding []string
	for name, r := range at(cfn, "Resources").(obj) {
		if at(r, "Type") == "AWS::Logs::MetricFilter" && fmt.Sprint(at(r, "Properties", "MetricTransformations", "0", "MetricName")) == statusMetric {
			feeding = append(feeding, name)
		}
	}
	slices.Sort(feeding)
	want := []string{"DrainStatusRecordFailedFilter", "ReceiptsRecordFailedFilter", "SendStatusRecordFailedFilter"}
	if !slices.Equal(feeding, want) {
		t.Errorf("metric filters into %s = %v, want %v", statusMetric, feeding, want)
	}
	checkReceiptRecordFailedLogged(t, fmt.Sprint(props(t, cfn, "ReceiptsRecordFailedFilter")["FilterPattern"]))
	for _, f := range []struct{ filter, group string }{
		{"SendProviderAccountErrorFilter", "SendLogGroup"},
		{"DrainProviderAccountErrorFilter", "DrainLogGroup"},
	} {
		p := props(t, cfn, f.filter)
		if got := target(p["LogGroupName"]); got != f.group {
			t.Errorf("%s log group = %v, want %v", f.filter, got, f.group)
		}
		if got, want := p["FilterPattern"], `{ $.event = "provider_account_error" }`; got != want {
			t.Errorf("%s FilterPattern = %v, want %v", f.filter, got, want)
		}
		tr := at(p, "MetricTransformations", "0")
		if got, want := at(tr, "MetricNamespace"), "FluxKitSMS"; got != want {
			t.Errorf("%s namespace = %v, want %v", f.filter, got, want)
		}
		if got := fmt.Sprint(at(tr, "MetricName")); got != providerMetric {
			t.Errorf("%s metric = %v, want the alarm's %v", f.filter, got, providerMetric)
		}
	}
}

func TestOutputsForProducersAndOperators(t *testing.T) {
	_, cfn := loadTemplate(t)
	for _, name := range []string{"ApiUrl", "QueueUrl", "QueueArn", "ProducerPolicyArn", "DeadLetterQueueUrl", "SecretArn"} {
		if at(cfn, "Outputs", name, "Value") == nil {
			t.Errorf("output %s missing", name)
		}
	}
	if got := fmt.Sprint(at(cfn, "Outputs", "ApiUrl", "Value")); !strings.Contains(got, "/messaging/sms") {
		t.Errorf("ApiUrl = %v, want the route's URL", got)
	}
}
