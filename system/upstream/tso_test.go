package upstream

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func TestTSOFormatAndMonotonic(t *testing.T) {
	clk := &fakeClock{t: time.UnixMilli(1_700_000_000_000)}
	ts, err := openTSO(t.TempDir(), clk.Now, 0)
	require.NoError(t, err)

	a, err := ts.Next()
	require.NoError(t, err)
	require.Equal(t, ComposeTS(1_700_000_000_000, 0), a)
	require.Equal(t, int64(1_700_000_000_000), PhysicalMs(a))
	require.Equal(t, clk.Now(), PhysicalTime(a))
	b, _ := ts.Next()
	require.Equal(t, a+1, b, "same ms: logical + 1")

	clk.Set(clk.Now().Add(-time.Hour)) // the clock jumps back
	c, _ := ts.Next()
	require.Greater(t, c, b)

	// Logical overflow moves to the next millisecond.
	ts.logical = maxLogical - 1
	d, _ := ts.Next()
	require.Equal(t, ComposeTS(PhysicalMs(c)+1, 0), d)
}

func TestTSONeverReusedAfterRestart(t *testing.T) {
	dir := t.TempDir()
	clk := &fakeClock{t: time.UnixMilli(1_700_000_000_000)}
	t1, err := openTSO(dir, clk.Now, 0)
	require.NoError(t, err)
	var last uint64
	for range 1000 {
		last, err = t1.Next()
		require.NoError(t, err)
	}
	clk.Set(clk.Now().Add(-time.Minute)) // restart on a machine whose clock is behind
	t2, err := openTSO(dir, clk.Now, 0)
	require.NoError(t, err)
	next, err := t2.Next()
	require.NoError(t, err)
	require.Greater(t, next, last)

	// Without the mark, the change log's last commit ts is the floor.
	t3, err := openTSO(t.TempDir(), clk.Now, ComposeTS(1_800_000_000_000, 5))
	require.NoError(t, err)
	n3, _ := t3.Next()
	require.Greater(t, n3, ComposeTS(1_800_000_000_000, 5))
}

func TestTSOConcurrent(t *testing.T) {
	ts, err := openTSO(t.TempDir(), time.Now, 0)
	require.NoError(t, err)
	const g, n = 8, 2000
	out := make([][]uint64, g)
	var wg sync.WaitGroup
	for i := range g {
		wg.Go(func() {
			for range n {
				v, err := ts.Next()
				if err != nil {
					t.Error(err)
					return
				}
				out[i] = append(out[i], v)
			}
		})
	}
	wg.Wait()
	seen := map[uint64]bool{}
	for _, vs := range out {
		for j, v := range vs {
			require.False(t, seen[v], "ts %d issued twice", v)
			seen[v] = true
			if j > 0 {
				require.Greater(t, v, vs[j-1])
			}
		}
	}
}
