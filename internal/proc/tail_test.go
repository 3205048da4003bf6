package proc

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTail(t *testing.T) {
	p := t.TempDir() + "/log"
	var b strings.Builder
	for i := range 100 {
		b.WriteString(strings.Repeat("x", i%7) + "\n")
	}
	require.NoError(t, os.WriteFile(p, []byte(b.String()), 0o644))
	assert.Len(t, strings.Split(Tail(p, 20), "\n"), 20)
	assert.Contains(t, Tail(p+".missing", 20), "no log")
	require.NoError(t, os.WriteFile(p, []byte(strings.Repeat("y", tailWindow)+"\nlast\n"), 0o644))
	assert.Equal(t, "last", Tail(p, 1), "a long log is read from its end")
}

func TestLastLines(t *testing.T) {
	assert.Equal(t, "b\nc", LastLines("a\nb\nc\n", 2))
	assert.Equal(t, "a\nb", LastLines("a\nb", 5))
	assert.Equal(t, "", LastLines("", 3))
}
