package upstream

import (
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkCommitParallel measures single-row commits over loopback gRPC
// with group commit (one fsync per batch).
func BenchmarkCommitParallel(b *testing.B) {
	c, _ := serve(b, b.TempDir(), "t1")
	ctx := testCtx(b, 10*time.Minute)
	var next atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Commit(ctx, ins("t1", next.Add(1), map[string]Value{"v": Str("payload")})); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
