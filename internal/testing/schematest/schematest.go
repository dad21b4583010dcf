// Package schematest validates JSON documents against a JSON Schema file
// of docs/ with the reference Python implementation of JSON Schema
// (jsonschema, pinned in scripts/requirements-test.txt), so that the
// schemas the repository publishes are checked by the validator their
// readers use, not by code of ours.
package schematest

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"testing"
)

// InstallHint is the failure message when the validator is missing.
const InstallHint = `python3 with the jsonschema module is needed: install it with  pip install jsonschema (or: make tools)`

// Doc is one document to validate.
type Doc struct {
	// Name names the document in the verdicts.
	Name string `json:"name"`
	// Raw is the document's text.
	Raw string `json:"raw"`
	// Def, when set, names the schema under $defs to validate against
	// instead of the root.
	Def string `json:"def,omitempty"`
}

// script reads {"schema", "docs": [Doc]} on stdin and writes
// {"<name>": "<first error>" or ""}.
const script = `
import json, sys
import jsonschema
req = json.load(sys.stdin)
schema = req["schema"]
cls = jsonschema.validators.validator_for(schema)
cls.check_schema(schema)
root = cls(schema, format_checker=cls.FORMAT_CHECKER)
out = {}
for doc in req["docs"]:
    try:
        inst = json.loads(doc["raw"])
    except ValueError as e:
        out[doc["name"]] = "not JSON: %s" % e
        continue
    v = root.evolve(schema=schema["$defs"][doc["def"]]) if doc.get("def") else root
    err = jsonschema.exceptions.best_match(v.iter_errors(inst))
    out[doc["name"]] = "" if err is None else "%s at %s" % (err.message, list(err.absolute_path))
json.dump(out, sys.stdout)
`

// Validate checks the schema at schemaPath (it must itself be a valid
// schema) and returns each document's first error, "" when it is valid.
// A missing validator fails t with InstallHint; documents must have
// distinct names.
func Validate(t testing.TB, schemaPath string, docs []Doc) map[string]string {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatal(InstallHint)
	}
	if out, err := exec.Command("python3", "-c", "import jsonschema").CombinedOutput(); err != nil {
		t.Fatalf("%s\n(%v: %s)", InstallHint, err, out)
	}
	schema, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatalf("read schema: %v", err)
	}
	req, err := json.Marshal(map[string]any{"schema": json.RawMessage(schema), "docs": docs})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("python3", "-c", script)
	cmd.Stdin = bytes.NewReader(req)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3 jsonschema: %v\n%s", err, stderr.String())
	}
	verdicts := map[string]string{}
	if err := json.Unmarshal(out, &verdicts); err != nil {
		t.Fatalf("python3 jsonschema output %q: %v", out, err)
	}
	if len(verdicts) != len(docs) {
		t.Fatalf("got %d verdicts, want %d (names must be distinct)", len(verdicts), len(docs))
	}
	return verdicts
}
