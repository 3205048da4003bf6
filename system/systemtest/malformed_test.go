package systemtest

import (
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// malformed are commands a transcript could get wrong: unknown commands,
// missing or extra arguments, bad numbers, unknown nodes or changefeeds.
var malformed = []string{
	"bogus",
	"reset nodes=x",
	"reset nodes=0",
	"reset nodes=10",
	"reset tables=-1",
	"reset policy=maybe",
	"reset extra",
	"elect",
	"elect n9",
	"elect n1 n2",
	"crash",
	"crash n9",
	"restart",
	"restart n9",
	"restart n1",
	"tick x",
	"tick -1",
	"tick 1 2",
	"tick 100000",
	"run x",
	"deliver epoch=x",
	"deliver n1",
	"stabilize epoch=-1",
	"hold epoch=x",
	"release extra",
	"drop epoch=1.5",
	"inflight n1",
	"isolate",
	"isolate n9",
	"cut n1",
	"cut n1 n9",
	"partition n9 n1",
	"heal n1",
	"move",
	"move cf1",
	"move cf1 n9",
	"move cf9 n2",
	"stop",
	"resume cf1 cf2",
	"inject",
	"inject from=n1",
	"inject from=n9 to=n2 kind=add",
	"inject from=n1 to=n9 kind=add",
	"inject from=n1 to=n2 kind=grow",
	"inject from=n1 to=n2 kind=add epoch=x",
	"inject from=n1 to=n2 kind=add cf=cf9",
	"inject from=n1 to=n2 kind=close sideways",
	"status n9",
	"check n1",
}

// TestMalformedCommands: every malformed command answers with an error and
// changes nothing, on an env in the middle of a run.
func TestMalformedCommands(t *testing.T) {
	for _, line := range malformed {
		t.Run(line, func(t *testing.T) {
			r := &Runner{}
			for _, setup := range []string{"reset", "elect n1", "run 8"} {
				require.NotContains(t, handle(t, r, setup), "error:", setup)
			}
			before := r.Env.status(nil)
			out := handle(t, r, line)
			assert.True(t, strings.HasPrefix(out, "error: "), "got %q", out)
			assert.Equal(t, before, r.Env.status(nil), "a refused command changes nothing")
			assert.Equal(t, "ok\n", handle(t, r, "tick 0"), "nothing of it leaks into the next command")
		})
	}
}

// TestResetFirst: a transcript must start with reset.
func TestResetFirst(t *testing.T) {
	r := &Runner{}
	assert.Equal(t, "error: tick: reset first\n", handle(t, r, "tick"))
	assert.Nil(t, r.Env)
}

func handle(t *testing.T, r *Runner, line string) string {
	t.Helper()
	cmd, cmdArgs, err := datadriven.ParseLine(line)
	require.NoError(t, err)
	return r.Handle(t, &datadriven.TestData{Pos: "test", Cmd: cmd, CmdArgs: cmdArgs, Input: line})
}
