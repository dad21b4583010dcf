package invoketest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

// The loopback endpoints events/env.json names. They are placeholders: the
// test and `make invoke` replace them with the addresses moto and the
// Twilio fake really listen on (see Substitute). Being loopback addresses,
// they never reach a real service when used as they are.
const (
	// MotoPlaceholder stands for the AWS endpoint (moto_server's default
	// port): AWS_ENDPOINT_URL and the origin of the queue URLs.
	MotoPlaceholder = "http://127.0.0.1:5000"
	// TwilioPlaceholder stands for the Twilio API: TWILIO_API_URL.
	TwilioPlaceholder = "http://127.0.0.1:5001"
)

// ParametersSection is the env file section that applies to every
// function, as in `sam local invoke --env-vars`.
const ParametersSection = "Parameters"

// EnvFile is a `sam local invoke --env-vars` file: sections named
// "Parameters" (every function) or after a function's logical id, each
// mapping variable names to values.
type EnvFile map[string]map[string]json.RawMessage

// ReadEnvFile reads and parses an env file.
func ReadEnvFile(path string) (EnvFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("invoketest: env file: %w", err)
	}
	var f EnvFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("invoketest: env file %s: must be an object of objects: %w", path, err)
	}
	return f, nil
}

// Vars returns the variables a function gets: the "Parameters" section,
// then the function's own section (its values win). As SAM and
// scripts/invoke.sh do, a null value is left out and any other non-string
// value is passed as its JSON text (10, true).
func (f EnvFile) Vars(logical string) (map[string]string, error) {
	vars := map[string]string{}
	for _, section := range []string{ParametersSection, logical} {
		for k, raw := range f[section] {
			if k == "" || strings.ContainsAny(k, "=\x00") {
				return nil, fmt.Errorf("invoketest: env file section %s: invalid variable name %q", section, k)
			}
			raw = bytes.TrimSpace(raw)
			if string(raw) == "null" {
				continue
			}
			v := string(raw)
			if len(raw) > 0 && raw[0] == '"' {
				if err := json.Unmarshal(raw, &v); err != nil {
					return nil, fmt.Errorf("invoketest: env file section %s: %s: %w", section, k, err)
				}
			} else {
				var compact bytes.Buffer
				if err := json.Compact(&compact, raw); err != nil {
					return nil, fmt.Errorf("invoketest: env file section %s: %s: %w", section, k, err)
				}
				v = compact.String()
			}
			if strings.ContainsRune(v, 0) {
				return nil, fmt.Errorf("invoketest: env file section %s: %s contains a NUL byte", section, k)
			}
			vars[k] = v
		}
	}
	return vars, nil
}

// Substitute replaces, in value, every endpoint origin that is a key of
// endpoints by its value. An origin only matches as a whole: the
// placeholder http://127.0.0.1:5000 is replaced in
// "http://127.0.0.1:5000/123456789012/q" but not in "http://127.0.0.1:50001".
func Substitute(value string, endpoints map[string]string) string {
	origins := make([]string, 0, len(endpoints))
	for o := range endpoints {
		origins = append(origins, o)
	}
	// Longest first, so that one origin that prefixes another never wins.
	sort.Slice(origins, func(i, j int) bool { return len(origins[i]) > len(origins[j]) })
	var out strings.Builder
	for i := 0; i < len(value); {
		matched := false
		for _, o := range origins {
			if !strings.HasPrefix(value[i:], o) {
				continue
			}
			if end := i + len(o); end < len(value) && isPortOrHostByte(value[end]) {
				continue
			}
			out.WriteString(endpoints[o])
			i += len(o)
			matched = true
			break
		}
		if !matched {
			out.WriteByte(value[i])
			i++
		}
	}
	return out.String()
}

// isPortOrHostByte reports whether c could continue a host or port, so an
// origin followed by it is really a longer one.
func isPortOrHostByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.' || c == '-' || c == ':'
}

// ResolvedVars returns the variables of a function with the endpoints
// substituted.
func (f EnvFile) ResolvedVars(logical string, endpoints map[string]string) (map[string]string, error) {
	vars, err := f.Vars(logical)
	if err != nil {
		return nil, err
	}
	for k, v := range vars {
		vars[k] = Substitute(v, endpoints)
	}
	return vars, nil
}

// EnvList renders variables as sorted KEY=VALUE strings.
func EnvList(vars map[string]string) []string {
	out := make([]string, 0, len(vars))
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
