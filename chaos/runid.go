package chaos

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"regexp"
)

// RunIDLen is the length of a chaos run id. It is short on purpose: the id is
// part of Linux interface names ("crb-<id>", "crv-<id>-<n>"), and those are
// limited to 15 bytes (IFNAMSIZ-1).
const RunIDLen = 6

const runIDAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

var runIDPattern = regexp.MustCompile(`^[a-z0-9]{6}$`)

// ErrBadRunID reports a run id that is not RunIDLen lower-case letters or
// digits.
var ErrBadRunID = errors.New("chaos: bad run id")

// NewRunID returns a fresh random run id.
func NewRunID() string {
	var b [RunIDLen]byte
	if _, err := rand.Read(b[:]); err != nil {
		// NB: crypto/rand.Read never fails on Linux since Go 1.24; keep a
		// deterministic fallback anyway so callers need no error path.
		return ShortRunID(fmt.Sprint(b))
	}
	for i := range b {
		b[i] = runIDAlphabet[int(b[i])%len(runIDAlphabet)]
	}
	return string(b[:])
}

// ShortRunID derives a run id from a longer harness run name (for example a
// run directory's base name). The same name always gives the same id.
func ShortRunID(name string) string {
	sum := sha256.Sum256([]byte(name))
	var b [RunIDLen]byte
	for i := range b {
		b[i] = runIDAlphabet[int(sum[i])%len(runIDAlphabet)]
	}
	return string(b[:])
}

// ValidateRunID returns ErrBadRunID (wrapped) unless id is a valid run id.
func ValidateRunID(id string) error {
	if !runIDPattern.MatchString(id) {
		return fmt.Errorf("%w: %q (want %d characters [a-z0-9])", ErrBadRunID, id, RunIDLen)
	}
	return nil
}

// Tag is the iptables comment that marks every rule of one fault of one run:
// "chaosrun:<run>:<fault>". Clean removes rules by this prefix, so nothing
// without it is ever touched.
func Tag(run, fault string) string { return "chaosrun:" + run + ":" + fault }

// runTagPrefix is the comment prefix shared by every rule of a run.
func runTagPrefix(run string) string { return "chaosrun:" + run + ":" }
