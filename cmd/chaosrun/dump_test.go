package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/checker"
	"github.com/chaosrun/chaosrun/checker/rundir"
	"github.com/chaosrun/chaosrun/checker/rundir/rundirtest"
)

func TestDump(t *testing.T) {
	dir := runDir(t, rundirtest.Options{})
	out, errOut, code := runCmd(t, "dump", dir)
	require.Equal(t, exitPass, code, errOut)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 240)
	assert.True(t, strings.HasPrefix(lines[0], `{"partition":1,"offset":0,"append_time":"2026-01-01T00:00:00.015Z","kind":"row","changefeed":"cf1","table":"t1","pk":1,`), lines[0])
	var rows, watermarks int
	for _, l := range lines {
		var r checker.Record
		require.NoError(t, json.Unmarshal([]byte(l), &r), l)
		switch r.Kind {
		case checker.KindRow:
			rows++
			assert.NotEmpty(t, r.Columns, l)
		case checker.KindWatermark:
			watermarks++
		}
	}
	assert.Equal(t, 200, rows)
	assert.Equal(t, 40, watermarks)

	// The file itself, ending in a torn record.
	file := filepath.Join(dir, rundir.SinkRecordsFile)
	fh, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = fh.Write([]byte{40, 8})
	require.NoError(t, err)
	require.NoError(t, fh.Close())
	torn, errOut, code := runCmd(t, "dump", file)
	require.Equal(t, exitPass, code, errOut)
	assert.Equal(t, out, torn)
	assert.Contains(t, errOut, "torn record")

	_, errOut, code = runCmd(t, "dump", t.TempDir())
	assert.Equal(t, exitHarnessError, code)
	assert.Contains(t, errOut, rundir.SinkRecordsFile)
}
