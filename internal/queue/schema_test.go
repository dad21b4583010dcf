package queue

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/fluxkit/sms/internal/testing/schematest"
)

const schemaPath = "../../docs/queue-message.schema.json"

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
	var docs []schematest.Doc
	want := map[string]bool{}
	names := make([]string, 0, len(fixtures))
	for name := range fixtures {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		docs = append(docs, schematest.Doc{Name: name, Raw: schemaSubject(readFixture(t, name))})
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
			docs = append(docs, schematest.Doc{Name: name, Raw: string(body), Def: def})
			want[name] = true
		}
	}
	// A producer message is not an envelope.
	docs = append(docs, schematest.Doc{Name: "producer form as envelope", Raw: `{"to":"+14155552671","body":"hi"}`, Def: "envelope"})
	want["producer form as envelope"] = false
	// $defs/envelope keeps the root's field rules.
	docs = append(docs, schematest.Doc{Name: "envelope with a bad to", Def: "envelope",
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
			docs = append(docs, schematest.Doc{Name: name, Raw: string(ex), Def: def})
			want[name] = true
			// Every example is also what Decode accepts.
			if _, err := Decode(ex, "m-1"); err != nil {
				t.Errorf("Decode(%s) error = %v, want nil", name, err)
			}
		}
	}

	verdicts := schematest.Validate(t, schemaPath, docs)
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
