package proc

import (
	"bytes"
	"io"
	"strings"
)

// readyPrefix starts the readiness line.
const readyPrefix = "READY"

// Fields returns the key=value fields of line after its first word
// ("READY addr=127.0.0.1:4000 metrics=:9000" gives addr and metrics).
// Words without '=' are skipped.
func Fields(line string) map[string]string {
	out := map[string]string{}
	words := strings.Fields(line)
	if len(words) == 0 {
		return out
	}
	for _, w := range words[1:] {
		if k, v, ok := strings.Cut(w, "="); ok {
			out[k] = v
		}
	}
	return out
}

// maxLine bounds the partial line readyWriter keeps while it looks for the
// readiness line.
const maxLine = 64 << 10

// readyWriter passes a child's stdout to w and calls found with the fields
// of the first line starting with readyPrefix. exec.Cmd calls Write from
// one goroutine.
type readyWriter struct {
	w     io.Writer
	found func(map[string]string)
	line  []byte
	seen  bool
}

func (r *readyWriter) Write(b []byte) (int, error) {
	if !r.seen {
		r.scan(b)
	}
	return r.w.Write(b)
}

func (r *readyWriter) scan(b []byte) {
	for len(b) > 0 && !r.seen {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if len(r.line)+len(b) <= maxLine {
				r.line = append(r.line, b...)
			}
			return
		}
		line := string(append(r.line, b[:i]...))
		r.line, b = r.line[:0], b[i+1:]
		if strings.HasPrefix(line, readyPrefix) {
			r.seen = true
			r.line = nil
			r.found(Fields(line))
		}
	}
}
