package proc

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// tailWindow is how much of a log's end Tail reads.
const tailWindow = 64 << 10

// Tail returns the last n lines of the file at path (reading at most its
// last 64 KiB), or a note saying why it could not.
func Tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer func() { _ = f.Close() }()
	if st, err := f.Stat(); err == nil && st.Size() > tailWindow {
		_, _ = f.Seek(-tailWindow, io.SeekEnd)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(log unreadable: %v)", err)
	}
	return LastLines(string(b), n)
}

// LastLines returns the last n lines of s, without the final newline.
func LastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
