package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/schematest"
)

const schemaPath = "../../docs/status-event.schema.json"

// TestSchema checks docs/status-event.schema.json against the details of
// the events the publisher put on a bus on moto (every path of the
// scenario), a detail with every field, the schema's own examples, and
// details it must refuse.
func TestSchema(t *testing.T) {
	r := newRig(t)
	scenario(t, r)
	if _, failures := r.pump(t); len(failures) != 0 {
		t.Fatalf("batch item failures %v", failures)
	}
	_, _, evs := r.received(t)
	if len(evs) == 0 {
		t.Fatal("no events")
	}
	docs, want := map[string]string{}, map[string]bool{}
	for i, ev := range evs {
		name := fmt.Sprintf("published event %d", i)
		docs[name], want[name] = string(ev.Detail), true
	}
	full, err := json.Marshal(NewDetail(Change{Record: sampleRecord(), Previous: sms.StatusSent}))
	if err != nil {
		t.Fatal(err)
	}
	docs["every field"], want["every field"] = string(full), true

	var schema struct {
		Examples []json.RawMessage `json:"examples"`
	}
	raw, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &schema); err != nil || len(schema.Examples) == 0 {
		t.Fatalf("schema examples: %v (%d)", err, len(schema.Examples))
	}
	for i, ex := range schema.Examples {
		name := fmt.Sprintf("example %d", i)
		docs[name], want[name] = string(ex), true
		// Each example is what the publisher writes: it decodes strictly.
		dec := json.NewDecoder(bytes.NewReader(ex))
		dec.DisallowUnknownFields()
		var d Detail
		if err := dec.Decode(&d); err != nil {
			t.Errorf("example %d does not decode into Detail: %v", i, err)
		}
	}

	change := func(f func(m map[string]any)) string {
		var m map[string]any
		_ = json.Unmarshal(full, &m)
		f(m)
		b, _ := json.Marshal(m)
		return string(b)
	}
	for name, doc := range map[string]string{
		"no status":             change(func(m map[string]any) { delete(m, "status") }),
		"no previousStatus":     change(func(m map[string]any) { delete(m, "previousStatus") }),
		"unknown status":        change(func(m map[string]any) { m["status"] = "read" }),
		"history leaked":        change(func(m map[string]any) { m["history"] = []any{} }),
		"owner leaked":          change(func(m map[string]any) { m["owner"] = map[string]any{"kind": "caller"} }),
		"time without ms":       change(func(m map[string]any) { m["updatedAt"] = "2026-03-01T10:00:00Z" }),
		"time not in UTC":       change(func(m map[string]any) { m["updatedAt"] = "2026-03-01T11:00:00.000+01:00" }),
		"segments zero":         change(func(m map[string]any) { m["segments"] = 0 }),
		"to not E.164":          change(func(m map[string]any) { m["to"] = "4155550100" }),
		"error without code":    change(func(m map[string]any) { m["error"] = map[string]any{"message": "x"} }),
		"service id not a UUID": change(func(m map[string]any) { m["serviceId"] = "SM123" }),
	} {
		docs[name], want[name] = doc, false
	}

	var list []schematest.Doc
	for name, raw := range docs {
		list = append(list, schematest.Doc{Name: name, Raw: raw})
	}
	for name, problem := range schematest.Validate(t, schemaPath, list) {
		if got := problem == ""; got != want[name] {
			t.Errorf("%s: schema valid = %v (%s), want %v\n  %s", name, got, problem, want[name], docs[name])
		}
	}
}
