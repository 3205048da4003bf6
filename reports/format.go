package reports

import (
	"strconv"
	"strings"
	"time"

	"github.com/chaosrun/chaosrun/reports/result"
)

// formatFuncs are the template functions report.md and report.html share.
var formatFuncs = map[string]any{
	"num":  num,
	"dash": orDash,
	"upper": func(o result.Outcome) string {
		return strings.ToUpper(string(o))
	},
}

// dur formats a millisecond duration ("450ms", "1.5s", "2m3s").
func dur(ms int64) string {
	return (time.Duration(ms) * time.Millisecond).String()
}

// rel formats a time relative to the run's start ("+12.345s").
func rel(ms int64) string {
	if ms < 0 {
		return "-" + dur(-ms)
	}
	return "+" + dur(ms)
}

// num formats an integer with thousands separators.
func num(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// orDash returns s, or an em dash when s is empty.
func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// mark is the check mark of a boolean outcome.
func mark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}
