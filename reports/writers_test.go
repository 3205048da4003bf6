package reports

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/chaosrun/chaosrun/reports/result"
)

// TestMergeEpochs merges the per-commit epochs of one transactional writer
// and keeps apart what the reader must see: aborted records, a missing
// epoch (a writer fenced or killed), another producer id, a plain writer.
func TestMergeEpochs(t *testing.T) {
	txn := func(pid int64, epoch int16, visible, aborted int64, first int64) result.SinkWriter {
		return result.SinkWriter{ProducerID: pid, Epoch: epoch, Transactional: true, Attempted: visible + aborted,
			Visible: visible, Aborted: aborted, FirstMs: first, LastMs: first + 10}
	}
	got := mergeEpochs([]result.SinkWriter{
		{ProducerID: -1, Epoch: -1, Attempted: 5, Visible: 5},
		txn(1, 0, 10, 0, 100), txn(1, 1, 20, 0, 200), txn(1, 2, 30, 0, 300),
		txn(1, 4, 40, 0, 500), // epoch 3 missing
		txn(1, 5, 0, 7, 600),  // aborted
		txn(1, 6, 50, 0, 700),
		txn(2, 7, 60, 0, 800), // another producer
	})
	var rows []string
	for _, w := range got {
		r := newWriterRow(w.SinkWriter, w.lastEpoch)
		rows = append(rows, r.Producer+" "+r.Epoch+" "+r.Visible+"/"+r.Aborted)
	}
	assert.Equal(t, []string{"none — 5/0", "1 0–2 60/0", "1 4 40/0", "1 5 0/7", "1 6 50/0", "2 7 60/0"}, rows)
	assert.Equal(t, int64(100), got[1].FirstMs)
	assert.Equal(t, int64(310), got[1].LastMs)
}
