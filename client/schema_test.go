package client_test

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/fluxkit/sms/client"
)

// openAPIPath is the API's contract, relative to this package.
const openAPIPath = "../docs/openapi.yaml"

// TestRecordCoversTheSchema: Record, Problem and Change have a field for
// every property docs/openapi.yaml gives a status record (MessageStatus,
// its error, HistoryEntry), and none it does not give, so that Status
// decodes everything a record may carry, including fields an answer only
// sometimes has (producerId, expiresAt, error).
func TestRecordCoversTheSchema(t *testing.T) {
	raw, err := os.ReadFile(openAPIPath)
	if err != nil {
		t.Fatal(err)
	}
	schemas := block(t, strings.Split(string(raw), "\n"), 0, "components", "schemas")
	status := block(t, schemas, 4, "MessageStatus")
	tests := []struct {
		name   string
		schema []string // the lines of the properties block
		indent int      // of the property names
		typ    reflect.Type
	}{
		{"MessageStatus", block(t, status, 6, "properties"), 8, reflect.TypeFor[client.Record]()},
		{"MessageStatus.error", block(t, status, 6, "properties", "error", "properties"), 12, reflect.TypeFor[client.Problem]()},
		{"HistoryEntry", block(t, schemas, 4, "HistoryEntry", "properties"), 8, reflect.TypeFor[client.Change]()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := keysAt(tt.schema, tt.indent)
			got := jsonNames(tt.typ)
			if len(want) == 0 {
				t.Fatalf("no properties found for %s in %s", tt.name, openAPIPath)
			}
			for _, p := range want {
				if !slices.Contains(got, p) {
					t.Errorf("%s has no field for the property %q of %s", tt.typ, p, tt.name)
				}
			}
			for _, f := range got {
				if !slices.Contains(want, f) {
					t.Errorf("%s decodes %q, which %s does not give", tt.typ, f, tt.name)
				}
			}
		})
	}
}

// block returns the lines nested under the key path of a YAML document
// whose mappings indent by two spaces: the first key at indent, the next
// at indent+2, and so on. It is enough for docs/openapi.yaml, which nests
// plain mappings.
func block(t *testing.T, lines []string, indent int, path ...string) []string {
	t.Helper()
	for _, key := range path {
		prefix := strings.Repeat(" ", indent) + key + ":"
		start := slices.IndexFunc(lines, func(l string) bool { return l == prefix || strings.HasPrefix(l, prefix+" ") })
		if start < 0 {
			t.Fatalf("%s: no %q at indent %d", openAPIPath, key, indent)
		}
		end := start + 1
		for end < len(lines) && (strings.TrimSpace(lines[end]) == "" || indentOf(lines[end]) > indent) {
			end++
		}
		lines = lines[start+1 : end]
		indent += 2
	}
	return lines
}

// keysAt lists the mapping keys at exactly indent.
func keysAt(lines []string, indent int) []string {
	var keys []string
	for _, l := range lines {
		if indentOf(l) != indent || strings.HasPrefix(strings.TrimSpace(l), "- ") {
			continue
		}
		if k, _, ok := strings.Cut(strings.TrimSpace(l), ":"); ok {
			keys = append(keys, k)
		}
	}
	return keys
}

func indentOf(l string) int { return len(l) - len(strings.TrimLeft(l, " ")) }

// jsonNames lists the JSON names of typ's fields that are decoded.
func jsonNames(typ reflect.Type) []string {
	var names []string
	for f := range typ.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "-" && f.IsExported() {
			names = append(names, name)
		}
	}
	return names
}
