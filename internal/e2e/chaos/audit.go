package chaos

import (
	"bytes"
	"encoding/json"
	"regexp"
)

// Secret is a value no log line may contain, with the name a finding
// reports it by (so that a failing audit does not print the secret).
type Secret struct {
	Name  string
	Value string
}

// Leak is a log line that breaks the logging rules of
// docs/architecture.md#logs.
type Leak struct {
	// Line is the 1-based line number in the audited logs.
	Line int
	// What names the problem: a Secret's name, "unmasked phone number",
	// "token-shaped string" or "not a JSON object".
	What string
}

var (
	// fullNumber is a phone number written out: "+" and 8 or more digits.
	// A masked number ("+1******2671") never matches.
	fullNumber = regexp.MustCompile(`\+[0-9]{8,}`)
	// jwtShape is a compact JWS: a base64url JSON header ("eyJ" is
	// `{"`), a dot and a payload.
	jwtShape = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}`)
)

// Audit checks every non-empty line of logs: it must be one JSON object
// and hold none of the secrets, no JWT and no phone number in full. It
// returns the findings in line order, several per line if need be.
func Audit(logs []byte, secrets ...Secret) []Leak {
	var leaks []Leak
	for i, line := range bytes.Split(logs, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		n := i + 1
		var obj map[string]json.RawMessage
		if json.Unmarshal(line, &obj) != nil {
			leaks = append(leaks, Leak{Line: n, What: "not a JSON object"})
		}
		for _, s := range secrets {
			if s.Value != "" && bytes.Contains(line, []byte(s.Value)) {
				leaks = append(leaks, Leak{Line: n, What: s.Name})
			}
		}
		if fullNumber.Match(line) {
			leaks = append(leaks, Leak{Line: n, What: "unmasked phone number"})
		}
		if jwtShape.Match(line) {
			leaks = append(leaks, Leak{Line: n, What: "token-shaped string"})
		}
	}
	return leaks
}
