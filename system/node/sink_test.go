package node

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/evidence"
	"github.com/chaosrun/chaosrun/system/upstream"
)

func TestParseSinkMode(t *testing.T) {
	for in, want := range map[string]SinkMode{"": SinkIdempotent, "idempotent": SinkIdempotent, "txn": SinkTxn} {
		got, err := ParseSinkMode(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	_, err := ParseSinkMode("transactional")
	assert.ErrorContains(t, err, `sink mode must be idempotent or txn, got "transactional"`)
}

// TestTxnIDsNameTheUnitOfOwnership checks that the transactional id depends
// on the changefeed and the span only, so every generation's dispatcher of
// a span initialises the same id (and fences the previous one).
func TestTxnIDsNameTheUnitOfOwnership(t *testing.T) {
	s := upstream.Span{Table: "t1", StartPK: 0, EndPK: 500}
	assert.Equal(t, "cf1/t1/0-500", spanTxnID("cf1", s))
	assert.NotEqual(t, spanTxnID("cf1", s), spanTxnID("cf1", upstream.Span{Table: "t1", StartPK: 500, EndPK: 1000}))
	assert.NotEqual(t, spanTxnID("cf1", s), spanTxnID("cf2", s))
	assert.Equal(t, "cf1/watermark", watermarkTxnID("cf1"))
}

// TestFencedDecisionIsEvidence checks that a "fenced by broker" line goes
// to the decision log in the evidence format, and is not an act.
func TestFencedDecisionIsEvidence(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, evidence.DecisionsFile("n1"))
	l, err := openDecisionLog(path)
	require.NoError(t, err)
	want := evidence.Decision{Time: time.Unix(1700000000, 0).UTC(), Node: "n1", Role: "dispatcher", Changefeed: "cf1",
		Message: "Transact", MsgEpoch: 3, LocalEpoch: 3, Sender: "cf1/t1/0-500", Rule: ruleBrokerFence,
		Verdict: verdictFencedByBroker, Policy: "epoch", Reason: "fenced"}
	require.NoError(t, l.writeEvidence(want))
	require.NoError(t, l.Close())
	got, err := evidence.ReadDecisions(path)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, want, got[0])
	assert.False(t, got[0].Acted)
}
