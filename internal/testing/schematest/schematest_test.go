package schematest

import (
	"os"
	"path/filepath"
	"testing"
)

func TestValidate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "schema.json")
	schema := `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","required":["to"],
		"properties":{"to":{"type":"string"}},"$defs":{"n":{"type":"integer"}}}`
	if err := os.WriteFile(path, []byte(schema), 0o600); err != nil {
		t.Fatal(err)
	}
	got := Validate(t, path, []Doc{
		{Name: "valid", Raw: `{"to":"+1"}`},
		{Name: "missing to", Raw: `{}`},
		{Name: "not JSON", Raw: `{`},
		{Name: "def", Raw: `7`, Def: "n"},
		{Name: "def refuses", Raw: `"7"`, Def: "n"},
	})
	for name, wantValid := range map[string]bool{"valid": true, "missing to": false, "not JSON": false, "def": true, "def refuses": false} {
		if valid := got[name] == ""; valid != wantValid {
			t.Errorf("%s: verdict %q, want valid %v", name, got[name], wantValid)
		}
	}
}
