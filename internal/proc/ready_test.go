package proc

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFields(t *testing.T) {
	for _, tt := range []struct {
		line string
		want map[string]string
	}{
		{"READY addr=127.0.0.1:4000 metrics=:9000", map[string]string{"addr": "127.0.0.1:4000", "metrics": ":9000"}},
		{"READY", map[string]string{}},
		{"", map[string]string{}},
		{"ACTIVE pid=1 note x=a=b", map[string]string{"pid": "1", "x": "a=b"}},
	} {
		assert.Equal(t, tt.want, Fields(tt.line), "%q", tt.line)
	}
}

func TestReadyWriter(t *testing.T) {
	var out strings.Builder
	var got []map[string]string
	w := &readyWriter{w: &out, found: func(f map[string]string) { got = append(got, f) }}
	for _, chunk := range []string{"loading\nREA", "DY addr", "=a:1\nREADY addr=b:2\n", "tail"} {
		n, err := w.Write([]byte(chunk))
		assert.NoError(t, err)
		assert.Equal(t, len(chunk), n)
	}
	assert.Equal(t, []map[string]string{{"addr": "a:1"}}, got, "the first readiness line only, across writes")
	assert.Equal(t, "loading\nREADY addr=a:1\nREADY addr=b:2\ntail", out.String(), "every byte passes through")

	got = nil
	w = &readyWriter{w: &out, found: func(f map[string]string) { got = append(got, f) }}
	_, _ = w.Write([]byte(strings.Repeat("x", maxLine+1)))
	_, _ = w.Write([]byte("\nREADY ok=1\n"))
	assert.Equal(t, []map[string]string{{"ok": "1"}}, got, "an overlong line does not hide the next")
}
