// Package openapicheck checks docs/openapi.yaml, and real handler traffic
// against it, for the contract tests of the handlers the document
// describes. The checking is done by openapi_check.py, beside this file,
// with the Python modules of PipHint (scripts/pytools.sh installs them).
package openapicheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// PipHint installs the Python modules the checker needs.
const PipHint = "pip install openapi-spec-validator jsonschema PyYAML"

// The checker and the document, from the module's root.
const (
	checkerPath  = "internal/testing/openapicheck/openapi_check.py"
	documentPath = "docs/openapi.yaml"
)

// Response is an answer to check: against the documented response of its
// status, or, with Ref, against that response object of the document
// ("#/components/responses/…"). Headers nil checks the body only (a
// synthetic body); ExpectValid false wants the body refused.
type Response struct {
	Name        string            `json:"name"`
	Status      int               `json:"status"`
	Headers     map[string]string `json:"headers"`
	Body        string            `json:"body"`
	ExpectValid bool              `json:"expectValid"`
	Ref         string            `json:"ref,omitempty"`
}

// Request is a request to check against the operation: its body as
// MediaType says (empty: application/json; a form is read as an object of
// strings; an operation without a request body wants none), its raw query
// string against the query parameters, and, when Headers is not nil, its
// headers against the header parameters. ExpectValid false wants the
// document to refuse it.
type Request struct {
	Name        string            `json:"name"`
	Body        string            `json:"body"`
	ExpectValid bool              `json:"expectValid"`
	MediaType   string            `json:"mediaType,omitempty"`
	Query       string            `json:"query"`
	Headers     map[string]string `json:"headers"`
}

// Contract is what Check checks: the operation (Path as the document
// writes it, Method lower-case), the answers and requests seen, and the
// schema whose enum Report.ErrorCodes lists (empty: ErrorCode).
type Contract struct {
	Path       string     `json:"path"`
	Method     string     `json:"method"`
	ErrorCodes string     `json:"errorCodes,omitempty"`
	Responses  []Response `json:"responses"`
	Requests   []Request  `json:"requests"`
}

// Findings are the problems the checker found with one item.
type Findings struct {
	Name     string   `json:"name"`
	Problems []string `json:"problems"`
}

// Report is the checker's verdict and what the document says of the
// operation: its statuses, the error codes of Contract.ErrorCodes, the
// methods of its path (upper-case), and the headers each status documents
// as required.
type Report struct {
	DocumentedStatuses []int               `json:"documentedStatuses"`
	ErrorCodes         []string            `json:"errorCodes"`
	Methods            []string            `json:"methods"`
	RequiredHeaders    map[string][]string `json:"requiredHeaders"`
	Responses          []Findings          `json:"responses"`
	Requests           []Findings          `json:"requests"`
	Examples           []Findings          `json:"examples"`
}

// Document returns the path of docs/openapi.yaml.
func Document(t testing.TB) string {
	t.Helper()
	return filepath.Join(moduleRoot(t), documentPath)
}

// moduleRoot is the directory of go.mod above the test's working
// directory (its package's directory).
func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("openapicheck: working directory: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("openapicheck: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Run runs the checker with args ("spec" or "contract", then a document)
// and stdin and returns its standard output; a checker that refuses is
// the error. A missing python3 or Python module fails the test with the
// command that installs it.
func Run(t testing.TB, stdin []byte, args ...string) ([]byte, error) {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is not installed: install Python 3, then %s", PipHint)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	script := filepath.Join(moduleRoot(t), checkerPath)
	cmd := exec.CommandContext(ctx, py, append([]string{script}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 3 {
		t.Fatalf("python3 %s: %s", checkerPath, strings.TrimSpace(stderr.String()))
	}
	if err != nil {
		return out, fmt.Errorf("python3 %s %s: %w: %s", checkerPath, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// Check checks c against docs/openapi.yaml: each response and request,
// and the examples of the operation and of the responses named by Ref.
// Every problem found is a test error; a checker that fails or judges
// other than what it was given fails the test. It returns the report for
// the caller's own checks of what the document says.
func Check(t testing.TB, c Contract) Report {
	t.Helper()
	if c.Responses == nil {
		c.Responses = []Response{}
	}
	if c.Requests == nil {
		c.Requests = []Request{}
	}
	stdin, err := json.Marshal(c)
	if err != nil {
		t.Fatalf("openapicheck: encode the contract: %v", err)
	}
	out, err := Run(t, stdin, "contract", Document(t))
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("checker output %q: %v", out, err)
	}
	if got, want := len(rep.Responses), len(c.Responses); got != want {
		t.Fatalf("checker judged %d responses, want %d", got, want)
	}
	if got, want := len(rep.Requests), len(c.Requests); got != want {
		t.Fatalf("checker judged %d requests, want %d", got, want)
	}
	for _, group := range []struct {
		what     string
		findings []Findings
	}{{"response", rep.Responses}, {"request", rep.Requests}, {"document", rep.Examples}} {
		for _, f := range group.findings {
			for _, p := range f.Problems {
				t.Errorf("%s %s: %s", group.what, f.Name, p)
			}
		}
	}
	return rep
}
