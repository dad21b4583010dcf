package logging

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// callerHashLen is how many hexadecimal digits of the hash name a caller:
// 64 bits, enough to tell the callers of a deployment apart.
const callerHashLen = 16

// CallerHash names API callers in logs without logging who they are: a
// shortened HMAC-SHA256 of the token's subject keyed with the secret's
// logKey, or a shortened SHA-256 of it without a key. The same subject
// always gets the same name, so abuse can be traced to a token; with a key,
// a name cannot be checked against a guessed subject. The zero value is
// unkeyed.
type CallerHash struct{ key []byte }

// NewCallerHash returns the CallerHash keyed with key; an empty key gives
// the unkeyed one.
func NewCallerHash(key string) CallerHash {
	if key == "" {
		return CallerHash{}
	}
	return CallerHash{key: []byte(key)}
}

// Keyed reports whether names are keyed.
func (h CallerHash) Keyed() bool { return len(h.key) > 0 }

// Of returns the name of the caller whose token's subject is subject.
func (h CallerHash) Of(subject string) string {
	var sum []byte
	if h.Keyed() {
		m := hmac.New(sha256.New, h.key)
		m.Write([]byte(subject))
		sum = m.Sum(nil)
	} else {
		s := sha256.Sum256([]byte(subject))
		sum = s[:]
	}
	return hex.EncodeToString(sum[:callerHashLen/2])
}

// String never shows the key.
func (h CallerHash) String() string {
	if h.Keyed() {
		return "CallerHash(keyed)"
	}
	return "CallerHash(unkeyed)"
}

// GoString never shows the key.
func (h CallerHash) GoString() string { return h.String() }
