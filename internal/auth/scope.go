package auth

import (
	"encoding/json"
	"errors"
	"strings"
)

// scopeList decodes a scope claim written either as one space-separated
// string (RFC 8693 "scope", Azure "scp") or as an array of strings (Okta
// "scp").
type scopeList []string

// UnmarshalJSON implements json.Unmarshaler.
func (s *scopeList) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*s = nil
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		*s = strings.Fields(str)
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return errors.New("scope claim must be a string or an array of strings")
	}
	out := list[:0]
	for _, v := range list {
		if v != "" {
			out = append(out, v)
		}
	}
	*s = out
	return nil
}

// mergeScopes returns the scopes of both claims without duplicates, in order
// of appearance.
func mergeScopes(a, b scopeList) []string {
	if len(b) == 0 {
		return a
	}
	out := make([]string, 0, len(a)+len(b))
	seen := make(map[string]bool, len(a)+len(b))
	for _, list := range []scopeList{a, b} {
		for _, v := range list {
			if !seen[v] {
				seen[v] = true
				out = append(out, v)
			}
		}
	}
	return out
}
