package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestSinkFlagRefusedBeforeAnyRun checks that run and compare refuse an
// unknown --sink, and --sink txn on a debezium scenario, as input errors
// before they start anything.
func TestSinkFlagRefusedBeforeAnyRun(t *testing.T) {
	out := t.TempDir()
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"run", "owner-isolation", "--sink", "transactional", "--out", out}, `--sink must be idempotent or txn, got "transactional"`},
		{[]string{"compare", "owner-isolation", "--sink", "exactly-once", "--out", out}, `--sink must be idempotent or txn`},
		{[]string{"run", "connect-task-worker-isolation", "--sink", "txn", "--out", out}, "--sink txn is a sink mode of the cdc target"},
		{[]string{"compare", "connect-task-worker-isolation", "--sink", "txn", "--out", out}, "--sink txn is a sink mode of the cdc target"},
	} {
		_, errOut, code := runCmd(t, tc.args...)
		assert.Equal(t, exitHarnessError, code, tc.args)
		assert.Contains(t, errOut, tc.msg, tc.args)
	}
}

// TestNodeSinkFlag checks the --sink parsing of node and up: an unknown
// mode is an input error before anything connects or starts.
func TestNodeSinkFlag(t *testing.T) {
	for _, args := range [][]string{
		{"node", "--id", "n1", "--meta", "http://127.0.0.1:1", "--upstream", "127.0.0.1:1", "--kafka", "127.0.0.1:1", "--sink", "both"},
		{"up", "--out", t.TempDir(), "--sink", "both"},
	} {
		_, errOut, code := runCmd(t, args...)
		assert.Equal(t, exitHarnessError, code, args)
		assert.Contains(t, errOut, `sink mode must be idempotent or txn, got "both"`, args)
	}
}
