package twilio

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// docRow matches a code row of docs/provider-codes.md: the code and its
// kind, each in backquotes.
var docRow = regexp.MustCompile("^\\| `([0-9]+)` \\|[^|]*\\| `([a-z-]+)` \\|")

// TestCodesAreDocumented keeps the Twilio table of docs/provider-codes.md
// and codes in step: every listed code with its kind, and nothing else.
func TestCodesAreDocumented(t *testing.T) {
	raw, err := os.ReadFile("../../docs/provider-codes.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	start := strings.Index(doc, "\n## Twilio\n")
	end := strings.Index(doc, "\n## Vonage\n")
	if start < 0 || end < start {
		t.Fatalf("docs/provider-codes.md has no Twilio section before the Vonage one")
	}
	documented := map[int]string{}
	for _, line := range strings.Split(doc[start:end], "\n") {
		if m := docRow.FindStringSubmatch(line); m != nil {
			code, _ := strconv.Atoi(m[1])
			documented[code] = m[2]
		}
	}
	for code, o := range codes {
		if got, ok := documented[code]; !ok || got != o.kind.String() {
			t.Errorf("code %d: documented as %q, want %q", code, got, o.kind)
		}
	}
	for code := range documented {
		if _, ok := codes[code]; !ok {
			t.Errorf("code %d is documented but not in codes", code)
		}
	}
}
