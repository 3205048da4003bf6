package upstream

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaosrun/chaosrun/system/mtls"
	"github.com/chaosrun/chaosrun/system/mtls/mtlstest"
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

// BenchmarkCommitMutualTLS measures what mutual TLS costs the commit path:
// the same commits (one row, and 100 rows, per transaction; 16 clients)
// in plaintext and over the run's mutual TLS, each against a fresh server,
// in one run. It reports both rates and their ratio.
//
//	go test -run '^$' -bench BenchmarkCommitMutualTLS -benchtime 3x ./system/upstream/
func BenchmarkCommitMutualTLS(b *testing.B) {
	ids := mtlstest.Issue(b, Member, "n1")
	for _, perTxn := range []int{1, 100} {
		b.Run(fmt.Sprintf("rows-per-txn=%d", perTxn), func(b *testing.B) {
			const txns = 2000
			var plain, secure time.Duration
			for range b.N {
				plain += commitMany(b, ServeConfig{}, nil, txns, perTxn)
				secure += commitMany(b, ServeConfig{Identity: ids[Member]}, ids["n1"], txns, perTxn)
			}
			rows := float64(txns * perTxn * b.N)
			b.ReportMetric(rows/plain.Seconds(), "plain-rows/s")
			b.ReportMetric(rows/secure.Seconds(), "mtls-rows/s")
			b.ReportMetric(plain.Seconds()/secure.Seconds(), "ratio")
		})
	}
}

// commitMany serves cfg (a fresh directory) and times txns commits of
// perTxn rows each from 16 clients presenting client.
func commitMany(b *testing.B, cfg ServeConfig, client *mtls.Identity, txns, perTxn int) time.Duration {
	b.Helper()
	cfg.DB = Config{Dir: b.TempDir(), Tables: []string{"t1"}, Logger: slog.New(slog.DiscardHandler)}
	c, stop := serveAs(b, cfg, client)
	defer stop()
	ctx := testCtx(b, 10*time.Minute)
	var next, pk atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 16 {
		wg.Go(func() {
			for next.Add(1) <= int64(txns) {
				ws := make([]Write, perTxn)
				for i := range ws {
					ws[i] = ins("t1", pk.Add(1), map[string]Value{"v": Str("payload")})
				}
				if _, err := c.Commit(ctx, ws...); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}
