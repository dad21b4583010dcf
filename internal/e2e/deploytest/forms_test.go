package deploytest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// form is one deployment of the template: parameter values that replace
// the defaults.
type form struct {
	name   string
	params map[string]string
}

// sampleJwtSecretArn is a JWT secret ARN as Secrets Manager returns it.
const sampleJwtSecretArn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:fluxkit-sms/jwt-AbC123"

// jwtSecretForms are the two forms of the JwtSecretArn parameter: empty
// (the provider secret's jwtSecret signs tokens, as before the parameter
// existed) and set (the JWT keys have a secret of their own).
var jwtSecretForms = []form{
	{"JwtSecretArn empty", nil},
	{"JwtSecretArn set", map[string]string{"JwtSecretArn": sampleJwtSecretArn}},
}

// param returns the value of the named parameter in f: f's own, or the
// template's default.
func (f form) param(t *testing.T, tpl obj, name string) string {
	t.Helper()
	if v, ok := f.params[name]; ok {
		return v
	}
	p, ok := at(tpl, "Parameters", name).(obj)
	if !ok {
		t.Fatalf("parameter %s missing", name)
	}
	switch d := p["Default"].(type) {
	case string:
		return d
	case float64:
		return fmt.Sprint(d)
	case nil:
		t.Fatalf("parameter %s has no default: give the form a value", name)
	}
	return fmt.Sprint(p["Default"])
}

// value evaluates the condition functions CloudFormation allows in
// Conditions and Rules (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition,
// Fn::Select, Fn::Split, and Ref to a parameter) in f: a bool, a string or
// a list.
func (f form) value(t *testing.T, tpl obj, v any) any {
	t.Helper()
	switch x := v.(type) {
	case string, bool, []any:
		return x
	case float64:
		return fmt.Sprint(x)
	}
	m, ok := v.(obj)
	if !ok || len(m) != 1 {
		t.Fatalf("cannot evaluate %v", v)
	}
	for fn, arg := range m {
		args, _ := arg.([]any)
		switch fn {
		case "Ref":
			return f.param(t, tpl, arg.(string))
		case "Condition":
			c := at(tpl, "Conditions", arg.(string))
			if c == nil {
				t.Fatalf("condition %v missing", arg)
			}
			return f.value(t, tpl, c)
		case "Fn::Equals":
			return fmt.Sprint(f.value(t, tpl, args[0])) == fmt.Sprint(f.value(t, tpl, args[1]))
		case "Fn::Not":
			return !f.truth(t, tpl, args[0])
		case "Fn::And":
			for _, a := range args {
				if !f.truth(t, tpl, a) {
					return false
				}
			}
			return true
		case "Fn::Or":
			for _, a := range args {
				if f.truth(t, tpl, a) {
					return true
				}
			}
			return false
		case "Fn::Split":
			var parts []any
			for _, p := range strings.Split(fmt.Sprint(f.value(t, tpl, args[1])), fmt.Sprint(args[0])) {
				parts = append(parts, p)
			}
			return parts
		case "Fn::Select":
			i, err := strconv.Atoi(fmt.Sprint(f.value(t, tpl, args[0])))
			list, ok := f.value(t, tpl, args[1]).([]any)
			if err != nil || !ok || i < 0 || i >= len(list) {
				t.Fatalf("cannot evaluate %v", v)
			}
			return list[i]
		}
		t.Fatalf("cannot evaluate %s", fn)
	}
	return nil
}

// truth evaluates a condition in f.
func (f form) truth(t *testing.T, tpl obj, v any) bool {
	t.Helper()
	b, ok := f.value(t, tpl, v).(bool)
	if !ok {
		t.Fatalf("%v is not a condition", v)
	}
	return b
}

// noValue is {"Ref": "AWS::NoValue"}: the property or list entry is left
// out.
func noValue(v any) bool { return target(v) == "AWS::NoValue" }

// resolve returns tpl as CloudFormation deploys it in f: every Fn::If
// replaced by its branch, AWS::NoValue entries left out, and resources and
// outputs whose Condition is false removed. References are kept.
func (f form) resolve(t *testing.T, tpl obj) obj {
	t.Helper()
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case obj:
			if args, ok := x["Fn::If"].([]any); ok && len(x) == 1 && len(args) == 3 {
				if f.truth(t, tpl, obj{"Condition": args[0]}) {
					return walk(args[1])
				}
				return walk(args[2])
			}
			out := obj{}
			for k, e := range x {
				if r := walk(e); !noValue(r) {
					out[k] = r
				}
			}
			return out
		case []any:
			out := []any{}
			for _, e := range x {
				if r := walk(e); !noValue(r) {
					out = append(out, r)
				}
			}
			return out
		}
		return v
	}
	out := obj{}
	for k, v := range tpl {
		if k != "Resources" && k != "Outputs" {
			out[k] = v
			continue
		}
		section := obj{}
		for name, e := range v.(obj) {
			if c, ok := at(e, "Condition").(string); ok && !f.truth(t, tpl, obj{"Condition": c}) {
				continue
			}
			section[name] = walk(e)
		}
		out[k] = section
	}
	// A round trip through JSON keeps the forms from sharing maps.
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	var copied obj
	if err := json.Unmarshal(b, &copied); err != nil {
		t.Fatal(err)
	}
	return copied
}

// failedRules returns the AssertDescription of every rule assertion of
// tpl that fails in f.
func (f form) failedRules(t *testing.T, tpl obj) []string {
	t.Helper()
	var failed []string
	rules, _ := at(tpl, "Rules").(obj)
	for _, r := range rules {
		if c := at(r, "RuleCondition"); c != nil && !f.truth(t, tpl, c) {
			continue
		}
		for _, a := range asList(at(r, "Assertions")) {
			if !f.truth(t, tpl, at(a, "Assert")) {
				failed = append(failed, fmt.Sprint(at(a, "AssertDescription")))
			}
		}
	}
	return failed
}
