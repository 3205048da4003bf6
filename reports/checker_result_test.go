package reports

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/checker"
	"github.com/chaosrun/chaosrun/reports/result"
)

// TestRendersCheckerResults renders what the checker produces for an empty
// run and for a small run with a zombie, so that the renderers cope with
// real (and sparse) results, not only the fixtures.
func TestRendersCheckerResults(t *testing.T) {
	empty, err := checker.New(checker.Config{})
	require.NoError(t, err)

	c, err := checker.New(checker.Config{
		Run:        checker.RunInfo{Scenario: "tiny", Seed: 3, FencingMode: "off"},
		Partitions: 1,
		SLOs:       checker.SLOs{L: time.Second, W: time.Second},
		Grants: []checker.EpochGrant{
			{Epoch: 1, GrantedAt: start, Node: "n1"},
			{Epoch: 2, GrantedAt: start.Add(2 * time.Second), Node: "n2"},
		},
		Faults: []checker.FaultEvent{{ID: "f1", Kind: "partition", Inject: start.Add(time.Second), Heal: start.Add(3 * time.Second), Effective: true}},
	})
	require.NoError(t, err)
	ts := func(d time.Duration) uint64 { return checker.ComposeTS(start.Add(d).UnixMilli(), 0) }
	for i := range 50 {
		at := time.Duration(i) * 100 * time.Millisecond
		epoch, node := uint64(1), "n1"
		if at >= 2500*time.Millisecond {
			epoch, node = 2, "n2"
		}
		c.AddChange(checker.Change{CommitTs: ts(at), Table: "t", PK: int64(i % 5), Op: "put"})
		c.Add(checker.Record{Offset: int64(2 * i), AppendTime: start.Add(at + 5*time.Millisecond), Kind: checker.KindRow,
			Table: "t", PK: int64(i % 5), Op: "put", CommitTs: ts(at), Epoch: epoch, Node: node})
		c.Add(checker.Record{Offset: int64(2*i + 1), AppendTime: start.Add(at + 50*time.Millisecond), Kind: checker.KindWatermark,
			WatermarkTs: ts(at), Epoch: epoch, Node: node})
	}
	for name, r := range map[string]*result.Result{"empty": empty.Finish(), "tiny": c.Finish()} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, WriteDir(dir, r))
			for _, f := range []string{result.FileName, MarkdownFile, HTMLFile, JUnitFile} {
				b, err := os.ReadFile(filepath.Join(dir, f))
				require.NoError(t, err)
				require.NotEmpty(t, b)
			}
			html, err := os.ReadFile(filepath.Join(dir, HTMLFile))
			require.NoError(t, err)
			htmlStructure(t, html)
		})
	}
}
