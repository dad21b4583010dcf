package queue

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
)

const schemaPath = "../../docs/queue-message.schema.json"

// schemaInstallHint is the failure message when the validator is missing.
const schemaInstallHint = `python3 with the jsonschema module is needed: install it with  pip install jsonschema`

// schemaScript validates documents against the schema with the reference
// Python implementation of JSON Schema. It reads
// {"schema": ..., "docs": [{"name", "raw", "def"}]} on stdin, where raw is
// the document's text and def an optional name under $defs to validate
// against instead of the root, and writes {"<name>": "<first error>" or ""}.
const schemaScript = `
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

// schemaDoc is one document to validate.
type schemaDoc struct {
	Name string `json:"name"`
	Raw  string `json:"raw"`
	Def  string `json:"def,omitempty"`
}

// validateWithSchema runs schemaScript and returns each document's first
// error ("" when valid).
func validateWithSchema(t *testing.T, docs []schemaDoc) map[string]string {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatal(schemaInstallHint)
	}
	if out, err := exec.Command("python3", "-c", "import jsonschema").CombinedOutput(); err != nil {
		t.Fatalf("%s\n(%v: %s)", schemaInstallHint, err, out)
	}
	schema, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatalf("read schema: %v", err)
	}
	req, err := json.Marshal(map[string]any{"schema": json.RawMessage(schema), "docs": docs})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("python3", "-c", schemaScript)
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
		t.Fatalf("got %d verdicts, want %d", len(verdicts), len(docs))
	}
	return verdicts
}

// schemaSubject returns what the schema applies to in a fixture: the
// Message string of an SNS notification, else the whole body.
func schemaSubject(body []byte) string {
	var sns struct {
		Type     string
		TopicArn string
		Message  *string
		To       *json.RawMessage `json:"to"`
	}
	if json.Unmarshal(body, &sns) == nil && sns.Type == "Notification" && sns.TopicArn != "" && sns.Message != nil && sns.To == nil {
		return *sns.Message
	}
	return string(body)
}

// TestSchema checks docs/queue-message.schema.json against the fixtures
// (valid ones pass, poison ones fail unless marked as passing the schema),
// against what Encode writes (both as a message and as $defs/envelope), and
// against the examples in the schema itself.
func TestSchema(t *testing.T) {
	var docs []schemaDoc
	want := map[string]bool{}
	names := make([]string, 0, len(fixtures))
	for name := range fixtures {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		docs = append(docs, schemaDoc{Name: name, Raw: schemaSubject(readFixture(t, name))})
		want[name] = fixtures[name].schemaValid
	}
	for i, m := range encodeSamples {
		body, err := Encode(m)
		if err != nil {
			t.Fatalf("Encode(sample %d) error = %v", i, err)
		}
		for _, def := range []string{"", "envelope"} {
			name := fmt.Sprintf("Encode(sample %d) against the root", i)
			if def != "" {
				name = fmt.Sprintf("Encode(sample %d) against $defs/%s", i, def)
			}
			docs = append(docs, schemaDoc{Name: name, Raw: string(body), Def: def})
			want[name] = true
		}
	}
	// A producer message is not an envelope.
	docs = append(docs, schemaDoc{Name: "producer form as envelope", Raw: `{"to":"+14155552671","body":"hi"}`, Def: "envelope"})
	want["producer form as envelope"] = false
	// $defs/envelope keeps the root's field rules.
	docs = append(docs, schemaDoc{Name: "envelope with a bad to", Def: "envelope",
		Raw: `{"version":1,"id":"x","to":"555-2671","body":"hi","attempt":1,"enqueuedAt":"2025-01-01T00:00:00Z"}`})
	want["envelope with a bad to"] = false

	var schema struct {
		Defs map[string]struct {
			Examples []json.RawMessage `json:"examples"`
		} `json:"$defs"`
	}
	raw, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	for def, d := range schema.Defs {
		if len(d.Examples) == 0 {
			t.Errorf("$defs/%s has no examples", def)
		}
		for i, ex := range d.Examples {
			name := fmt.Sprintf("$defs/%s example %d", def, i)
			docs = append(docs, schemaDoc{Name: name, Raw: string(ex), Def: def})
			want[name] = true
			// Every example is also what Decode accepts.
			if _, err := Decode(ex, "m-1"); err != nil {
				t.Errorf("Decode(%s) error = %v, want nil", name, err)
			}
		}
	}

	verdicts := validateWithSchema(t, docs)
	for _, d := range docs {
		problem, ok := verdicts[d.Name]
		if !ok {
			t.Errorf("%s: no verdict", d.Name)
			continue
		}
		if got := problem == ""; got != want[d.Name] {
			t.Errorf("%s: schema valid = %v (%s), want %v", d.Name, got, problem, want[d.Name])
		}
	}
}

// TestSchemaFileIsPublished makes sure the schema lives where the producer
// guide says.
func TestSchemaFileIsPublished(t *testing.T) {
	guide, err := os.ReadFile(filepath.Join("..", "..", "docs", "producers.md"))
	if err != nil {
		t.Fatalf("read producer guide: %v", err)
	}
	if !bytes.Contains(guide, []byte("queue-message.schema.json")) {
		t.Errorf("docs/producers.md does not link queue-message.schema.json")
	}
}
