package systemtest

import (
	"testing"

	"github.com/cockroachdb/datadriven"
)

func TestTranscripts(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		r := &Runner{}
		datadriven.RunTest(t, path, r.Handle)
	})
}
