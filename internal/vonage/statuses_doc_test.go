package vonage

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// docRow matches a status row of docs/provider-codes.md: the status and its
// kind, each in backquotes.
var docRow = regexp.MustCompile("^\\| `([0-9]+)` \\|[^|]*\\| `([a-z-]+)` \\|")

// TestStatusesAreDocumented keeps the Vonage table of
// docs/provider-codes.md and statuses in step: every listed status with
// its kind, and nothing else.
func TestStatusesAreDocumented(t *testing.T) {
	raw, err := os.ReadFile("../../docs/provider-codes.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	start := strings.Index(doc, "\n## Vonage\n")
	if start < 0 {
		t.Fatalf("docs/provider-codes.md has no Vonage section")
	}
	documented := map[string]string{}
	for _, line := range strings.Split(doc[start:], "\n") {
		if m := docRow.FindStringSubmatch(line); m != nil {
			documented[m[1]] = m[2]
		}
	}
	for status, o := range statuses {
		if got, ok := documented[status]; !ok || got != o.kind.String() {
			t.Errorf("status %s: documented as %q, want %q", status, got, o.kind)
		}
	}
	for status := range documented {
		if _, ok := statuses[status]; !ok {
			t.Errorf("status %s is documented but not in statuses", status)
		}
	}
}
