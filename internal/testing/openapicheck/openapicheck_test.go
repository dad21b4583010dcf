package openapicheck_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fluxkit/sms/internal/testing/openapicheck"
)

func TestSpec(t *testing.T) {
	broken := filepath.Join(t.TempDir(), "broken.yaml")
	// Valid YAML, invalid OpenAPI: no info, and a response without the
	// required description.
	const brokenDoc = "openapi: 3.1.0\npaths:\n  /x:\n    get:\n      responses:\n        '200': {}\n"
	if err := os.WriteFile(broken, []byte(brokenDoc), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		wantErr bool
	}{
		{"docs/openapi.yaml", openapicheck.Document(t), false},
		{"a broken document is refused", broken, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := openapicheck.Run(t, nil, "spec", tt.path)
			if got := err != nil; got != tt.wantErr {
				t.Fatalf("validation error = %v, want error %v (output %q)", err, tt.wantErr, out)
			}
			if !tt.wantErr && strings.TrimSpace(string(out)) != "ok" {
				t.Errorf("output = %q, want \"ok\"", out)
			}
		})
	}
}

// TestContractParametersAndRefs runs the checker on testdata/small.yaml:
// query parameters (one of them an exploded object), header parameters,
// form bodies and answers checked against a component's response are
// judged as the document says, each way.
func TestContractParametersAndRefs(t *testing.T) {
	hdr := map[string]string{"X-Sig": "s"}
	ack := map[string]string{"Content-Type": "application/json"}
	tests := []struct {
		name     string
		method   string
		request  *openapicheck.Request
		response *openapicheck.Response
		// wantProblem is a part of the one problem wanted; empty wants
		// none.
		wantProblem string
	}{
		{name: "query object and header", method: "get",
			request: &openapicheck.Request{Query: "status=delivered&token=abcd", Headers: hdr, ExpectValid: true}},
		{name: "query object without its required field", method: "get",
			request: &openapicheck.Request{Query: "token=abcd", Headers: hdr, ExpectValid: true}, wantProblem: "query receipt: (root): 'status' is a required property"},
		{name: "path-level parameter off its schema", method: "get",
			request: &openapicheck.Request{Query: "status=x&token=ab", Headers: hdr, ExpectValid: true}, wantProblem: "query token:"},
		{name: "required header missing", method: "get",
			request: &openapicheck.Request{Query: "status=x", Headers: map[string]string{}, ExpectValid: true}, wantProblem: "required header X-Sig is missing"},
		{name: "refused request the document refuses", method: "get",
			request: &openapicheck.Request{Query: "status=x", Headers: map[string]string{}}},
		{name: "refused request the document allows", method: "get",
			request: &openapicheck.Request{Query: "status=x", Headers: hdr}, wantProblem: "validates against the documented request"},
		{name: "body where none is documented", method: "get",
			request: &openapicheck.Request{Body: "x", Query: "status=x", ExpectValid: true}, wantProblem: "documents no request body"},
		{name: "form body", method: "post",
			request: &openapicheck.Request{Body: "status=delivered&err-code=0", MediaType: "application/x-www-form-urlencoded", ExpectValid: true}},
		{name: "form body without its required field", method: "post",
			request: &openapicheck.Request{Body: "err-code=0", MediaType: "application/x-www-form-urlencoded", ExpectValid: true}, wantProblem: "'status' is a required property"},
		{name: "undocumented media type", method: "post",
			request: &openapicheck.Request{Body: `{"status":"x"}`, ExpectValid: true}, wantProblem: "no application/json request body"},
		{name: "answer with an optional header", method: "get",
			response: &openapicheck.Response{Status: 200, Headers: map[string]string{"Content-Type": "application/json", "Retry-After": "2"}, Body: "{}", ExpectValid: true}},
		{name: "answer with a header off its schema", method: "get",
			response: &openapicheck.Response{Status: 200, Headers: map[string]string{"Content-Type": "application/json", "Retry-After": "0"}, Body: "{}", ExpectValid: true}, wantProblem: "header Retry-After:"},
		{name: "answer by a component's response", method: "get",
			response: &openapicheck.Response{Status: 405, Ref: "#/components/responses/NotAllowed", Headers: map[string]string{"Content-Type": "application/json", "Allow": "GET, POST"}, Body: `{"error":"x"}`, ExpectValid: true}},
		{name: "component's response without its required header", method: "get",
			response: &openapicheck.Response{Status: 405, Ref: "#/components/responses/NotAllowed", Headers: ack, Body: `{"error":"x"}`, ExpectValid: true}, wantProblem: "required header Allow is missing"},
		{name: "component's response with another body", method: "get",
			response: &openapicheck.Response{Status: 405, Ref: "#/components/responses/NotAllowed", Headers: map[string]string{"Content-Type": "application/json", "Allow": "GET"}, Body: `{}`, ExpectValid: true}, wantProblem: "'error' is a required property"},
		{name: "no such component", method: "get",
			response: &openapicheck.Response{Status: 405, Ref: "#/components/responses/Gone", Headers: ack, Body: `{}`, ExpectValid: true}, wantProblem: "has no response"},
		{name: "undocumented status", method: "get",
			response: &openapicheck.Response{Status: 404, Headers: ack, Body: `{}`, ExpectValid: true}, wantProblem: "status 404 is not documented"},
	}
	// One checker run per method, each judging its cases by name.
	doc := filepath.Join("testdata", "small.yaml")
	found := map[string][]string{}
	for _, method := range []string{"get", "post"} {
		c := openapicheck.Contract{Path: "/hook", Method: method, ErrorCodes: "#/components/schemas/Codes",
			Responses: []openapicheck.Response{}, Requests: []openapicheck.Request{}}
		for _, tt := range tests {
			switch {
			case tt.method != method:
			case tt.request != nil:
				r := *tt.request
				r.Name = tt.name
				c.Requests = append(c.Requests, r)
			case tt.response != nil:
				r := *tt.response
				r.Name = tt.name
				c.Responses = append(c.Responses, r)
			}
		}
		stdin, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		out, err := openapicheck.Run(t, stdin, "contract", doc)
		if err != nil {
			t.Fatal(err)
		}
		var rep openapicheck.Report
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("checker output %q: %v", out, err)
		}
		if want := []string{"GET", "POST"}; !slices.Equal(rep.Methods, want) {
			t.Errorf("%s: methods = %v, want %v", method, rep.Methods, want)
		}
		if want := []string{"a", "b"}; !slices.Equal(rep.ErrorCodes, want) {
			t.Errorf("%s: error codes = %v, want %v", method, rep.ErrorCodes, want)
		}
		for _, f := range rep.Examples {
			if len(f.Problems) > 0 {
				t.Errorf("%s: example %s: %v", method, f.Name, f.Problems)
			}
		}
		if got, want := len(rep.Requests)+len(rep.Responses), len(c.Requests)+len(c.Responses); got != want {
			t.Fatalf("%s: checker judged %d items, want %d", method, got, want)
		}
		for _, f := range append(rep.Requests, rep.Responses...) {
			found[f.Name] = f.Problems
		}
	}
	for _, tt := range tests {
		problems, judged := found[tt.name]
		switch {
		case !judged:
			t.Errorf("%s: not judged", tt.name)
		case tt.wantProblem == "" && len(problems) > 0:
			t.Errorf("%s: problems = %q, want none", tt.name, problems)
		case tt.wantProblem != "" && (len(problems) != 1 || !strings.Contains(problems[0], tt.wantProblem)):
			t.Errorf("%s: problems = %q, want one containing %q", tt.name, problems, tt.wantProblem)
		}
	}
}
