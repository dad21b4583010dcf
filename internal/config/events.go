package config

import "strings"

// maxEventBusName is the longest event bus name EventBridge accepts.
const maxEventBusName = 256

// eventBusProblem says why v cannot be SMS_EVENT_BUS, or returns "": it
// must be an event bus name (1-256 of A-Z, a-z, 0-9, '.', '-', '_', '/')
// or the ARN of one (arn:<partition>:events:<region>:<account>:event-bus/<name>).
func eventBusProblem(v string) string {
	const want = "must be an EventBridge event bus name or ARN"
	name := v
	if strings.HasPrefix(v, "arn:") {
		parts := strings.SplitN(v, ":", 6)
		if len(parts) != 6 || !strings.HasPrefix(parts[1], "aws") || parts[2] != "events" || parts[3] == "" || !isDigits(parts[4], 12) {
			return want + " (arn:aws:events:<region>:<account>:event-bus/<name>)"
		}
		var ok bool
		if name, ok = strings.CutPrefix(parts[5], "event-bus/"); !ok {
			return want + " (arn:aws:events:<region>:<account>:event-bus/<name>)"
		}
	}
	if name == "" || len(name) > maxEventBusName {
		return want + " (a name of 1 to 256 characters)"
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' || c == '/') {
			return want + " (a name of A-Z, a-z, 0-9, '.', '-', '_' and '/')"
		}
	}
	return ""
}

// isDigits reports whether s is n ASCII digits.
func isDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
