package tail_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/chaosrun/chaosrun/checker"
	"github.com/chaosrun/chaosrun/checker/rundir"
	"github.com/chaosrun/chaosrun/checker/tail"
	"github.com/chaosrun/chaosrun/evidence"
	"github.com/chaosrun/chaosrun/reports/result"
	"github.com/chaosrun/chaosrun/sink/kafka"
)

// The benchmark's child processes are this test binary, told what to do by
// the environment (see benchChild).
const (
	envBenchChild   = "CHAOSRUN_TAIL_BENCH_CHILD" // "raw", "consume" or "check"
	envBenchBrokers = "CHAOSRUN_TAIL_BENCH_BROKERS"
	envBenchTopic   = "CHAOSRUN_TAIL_BENCH_TOPIC"
	envBenchDir     = "CHAOSRUN_TAIL_BENCH_DIR"
)

// childReport is what a child prints on stdout.
type childReport struct {
	Seconds float64 `json:"seconds"`
	Records int64   `json:"records"`
	// PeakRSSKB is the child's VmHWM: the peak resident set of the whole
	// process, runtime included.
	PeakRSSKB int64  `json:"peak_rss_kb"`
	Outcome   string `json:"outcome,omitempty"`
	Missing   int64  `json:"missing,omitempty"`
	Keys      int64  `json:"keys,omitempty"`
	Error     string `json:"error,omitempty"`
	// CPUSeconds is the child's user+system time, filled in by the parent.
	CPUSeconds float64 `json:"-"`
}

// benchChild runs one phase of the benchmark in a fresh process, so that
// its peak RSS is its own: "raw" reads the topic with a bare sarama
// consumer of the tailer's configuration and does nothing with the records
// (the baseline); "consume" tails the topic into the run directory and
// drains it; "check" runs CheckRunDir over it.
func benchChild() int {
	var rep childReport
	dir := os.Getenv(envBenchDir)
	if pd := os.Getenv("CHAOSRUN_CPUPROFILE_DIR"); pd != "" { // where the time goes: go tool pprof
		if f, err := os.Create(filepath.Join(pd, os.Getenv(envBenchChild)+".pprof")); err == nil && pprof.StartCPUProfile(f) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	t0 := time.Now()
	err := func() error {
		switch os.Getenv(envBenchChild) {
		case "raw":
			n, err := rawConsume(strings.Split(os.Getenv(envBenchBrokers), ","), os.Getenv(envBenchTopic))
			rep.Records = n
			return err
		case "consume":
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			tl, err := tail.Start(ctx, tail.Config{Brokers: strings.Split(os.Getenv(envBenchBrokers), ","), Topic: os.Getenv(envBenchTopic), Dir: dir})
			if err != nil {
				return err
			}
			offs, err := tl.Drain(ctx)
			if cerr := tl.Close(); err == nil {
				err = cerr
			}
			rep.Records = offs.Records
			return err
		case "check":
			res, err := rundir.CheckRunDir(dir, checker.SLOs{L: 10 * time.Second, W: time.Second}, rundir.Info{Changefeed: "cf1"})
			if err != nil {
				return err
			}
			rep.Records, rep.Outcome, rep.Missing, rep.Keys = res.Counters.Records, string(res.Verdict.Outcome), res.Counters.Missing, res.Counters.Keys
			return nil
		default:
			return fmt.Errorf("unknown phase %q", os.Getenv(envBenchChild))
		}
	}()
	rep.Seconds = time.Since(t0).Seconds()
	rep.PeakRSSKB = vmHWM()
	if err != nil {
		rep.Error = err.Error()
	}
	_ = json.NewEncoder(os.Stdout).Encode(rep)
	if err != nil {
		return 1
	}
	return 0
}

// vmHWM reads the process's peak resident set (kB) from /proc; -1 when
// unavailable.
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}

// rawConsume reads every partition of topic from the oldest offset up to its
// high watermark with sarama's partition consumers, as the tailer's
// sessions do, and counts the records: what consuming costs before the
// tailer decodes, dumps or scans anything.
func rawConsume(brokers []string, topic string) (int64, error) {
	client, err := sarama.NewClient(brokers, tail.SaramaConfig("chaosrun-bench-raw", true))
	if err != nil {
		return 0, err
	}
	defer func() { _ = client.Close() }()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return 0, err
	}
	defer func() { _ = consumer.Close() }()
	parts, err := client.Partitions(topic)
	if err != nil {
		return 0, err
	}
	var (
		g     errgroup.Group
		total atomic.Int64
	)
	for _, p := range parts {
		high, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return 0, err
		}
		g.Go(func() error {
			pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
			if err != nil {
				return err
			}
			defer func() { _ = pc.Close() }()
			var n, size int64
			for m := range pc.Messages() {
				n, size = n+1, size+int64(len(m.Value)+len(m.Key)+len(m.Headers))
				if m.Offset+1 >= high {
					break
				}
			}
			total.Add(n)
			if size == 0 {
				return fmt.Errorf("partition %d: no bytes read", p)
			}
			return nil
		})
	}
	err = g.Wait()
	return total.Load(), err
}

func runChild(b *testing.B, phase string, env ...string) childReport {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, envBenchChild+"="+phase)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var rep childReport
	if jerr := json.Unmarshal(out, &rep); jerr != nil || err != nil || rep.Error != "" {
		b.Fatalf("%s child: %v %v %s\nstdout: %s\nstderr (tail): %s", phase, err, jerr, rep.Error, out, tailString(stderr.String(), 4000))
	}
	rep.CPUSeconds = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	return rep
}

// loadAvg is the machine's 1-minute load average, for the log: the figures
// mean little on a loaded machine.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

func tailString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// BenchmarkConsumeAndCheck1M produces a 1,000,000-record topic (rows over
// 10,000 keys in 4 partitions, a watermark broadcast after every 9,996
// rows) and its upstream change log with the sink producer into a local
// broker, untimed; then, timed, one child process tails the topic into a
// run directory and drains it (consume) and another runs CheckRunDir over
// it (check). It reports records/s of each phase and of both, and each
// child's peak RSS (VmHWM).
//
//	go test -run '^$' -bench BenchmarkConsumeAndCheck1M -benchtime 1x ./checker/tail/
func BenchmarkConsumeAndCheck1M(b *testing.B) {
	const total = benchBatches * (benchBatchRows + partitions)
	_, addrs := startKafka(b, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const topic = "cf1"
	require.NoError(b, kafka.CreateTopic(ctx, addrs, kafka.TopicSpec{Name: topic, Partitions: partitions}))
	src := b.TempDir()
	t0 := time.Now()
	produceBenchRun(ctx, b, addrs, topic, src)
	b.Logf("produced %d records in %v", total, time.Since(t0).Round(time.Millisecond))

	b.ResetTimer()
	var raw, consume, check childReport
	for range b.N {
		dir := b.TempDir()
		require.NoError(b, os.MkdirAll(filepath.Join(dir, "upstream"), 0o755))
		require.NoError(b, os.Link(filepath.Join(src, rundir.ChangeLogPath), filepath.Join(dir, rundir.ChangeLogPath)))
		env := []string{envBenchBrokers + "=" + strings.Join(addrs, ","), envBenchTopic + "=" + topic, envBenchDir + "=" + dir}
		raw = runChild(b, "raw", env...)
		require.EqualValues(b, total, raw.Records)
		consume = runChild(b, "consume", env...)
		check = runChild(b, "check", env...)
		require.EqualValues(b, total, consume.Records)
		require.EqualValues(b, total, check.Records)
		require.Equal(b, string(result.Pass), check.Outcome)
		require.Zero(b, check.Missing)
		require.EqualValues(b, benchKeys, check.Keys)
	}
	b.StopTimer()
	reportConsumeAndCheck(b, total, raw, consume, check)
}

// The shape of BenchmarkConsumeAndCheck1M's topic: batches of rows over
// benchKeys keys, each followed by a watermark on every partition.
const (
	benchKeys      = 10_000
	benchBatches   = 100
	benchBatchRows = 9_996 // + 4 watermark records = 10,000 records a batch
)

// produceBenchRun produces the benchmark's topic and writes the change log
// under src the way the upstream does: one committed transaction per line.
func produceBenchRun(ctx context.Context, b *testing.B, addrs []string, topic, src string) {
	require.NoError(b, os.MkdirAll(filepath.Join(src, "upstream"), 0o755))
	logf, err := os.Create(filepath.Join(src, rundir.ChangeLogPath))
	require.NoError(b, err)
	logw := bufio.NewWriterSize(logf, 1<<20)
	prod, err := kafka.NewProducer(ctx, kafka.ProducerConfig{Brokers: addrs})
	require.NoError(b, err)
	var logical uint64
	last := int64(0)
	msgs := make([]evidence.Message, 0, benchBatchRows+partitions)
	for i := range benchBatches {
		msgs = msgs[:0]
		for j := range benchBatchRows {
			now := time.Now().UnixMilli()
			if now != last {
				last, logical = now, 0
			}
			ts := checker.ComposeTS(now, logical)
			logical++
			pk := int64((i*benchBatchRows + j) % benchKeys)
			v := strconv.Itoa(i*benchBatchRows + j)
			m, err := evidence.EncodeRow(topic, evidence.Row{Changefeed: "cf1", Epoch: 1, Node: "n1", Dispatcher: "d" + strconv.Itoa(int(pk%4)),
				Table: "t1", PK: pk, Op: evidence.OpUpdate, CommitTs: ts, Columns: map[string]string{"v": strconv.Quote(v), "note": `"bench"`}})
			require.NoError(b, err)
			msgs = append(msgs, m)
			_, err = fmt.Fprintf(logw, `{"commit_ts":%d,"rows":[{"table":"t1","pk":%d,"op":"update","columns":{"v":%q,"note":"bench"}}]}`+"\n", ts, pk, v)
			require.NoError(b, err)
		}
		wms, err := evidence.EncodeWatermark(topic, evidence.Watermark{Changefeed: "cf1", Epoch: 1, Node: "n1", Ts: checker.ComposeTS(last, logical)}, partitions)
		require.NoError(b, err)
		logical++
		// Rows first, acknowledged, then the watermark that covers them.
		for k, r := range prod.Produce(ctx, msgs) {
			require.Equal(b, kafka.DeliveryAcked, r.Delivery, "record %d: %v", k, r.Err)
		}
		for k, r := range prod.Produce(ctx, wms) {
			require.Equal(b, kafka.DeliveryAcked, r.Delivery, "watermark %d: %v", k, r.Err)
		}
	}
	require.NoError(b, prod.Close())
	require.NoError(b, logw.Flush())
	require.NoError(b, logf.Close())
}

// reportConsumeAndCheck reports the rates and peak memory of both phases,
// and the consume rate against the raw sarama baseline's.
func reportConsumeAndCheck(b *testing.B, total int, raw, consume, check childReport) {
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(total)/raw.Seconds, "raw-sarama-rec/s")
	b.ReportMetric(raw.Seconds/consume.Seconds, "consume-vs-raw-ratio")
	b.ReportMetric(float64(total)/(consume.Seconds+check.Seconds), "records/s")
	b.ReportMetric(float64(total)/consume.Seconds, "consume-rec/s")
	b.ReportMetric(float64(total)/check.Seconds, "check-rec/s")
	b.ReportMetric(float64(total)/check.CPUSeconds, "check-rec/cpu-s")
	b.ReportMetric(float64(total)/consume.CPUSeconds, "consume-rec/cpu-s")
	b.ReportMetric(float64(consume.PeakRSSKB)/1024, "consume-peak-RSS-MB")
	b.ReportMetric(float64(check.PeakRSSKB)/1024, "check-peak-RSS-MB")
	b.Logf("raw sarama %.2fs wall, %.2fs CPU (%.0f rec/s)", raw.Seconds, raw.CPUSeconds, float64(total)/raw.Seconds)
	b.Logf("consume %.2fs wall, %.2fs CPU (%.0f rec/s, peak RSS %d MB); check %.2fs wall, %.2fs CPU (%.0f rec/s, peak RSS %d MB); load average %s",
		consume.Seconds, consume.CPUSeconds, float64(total)/consume.Seconds, consume.PeakRSSKB/1024,
		check.Seconds, check.CPUSeconds, float64(total)/check.Seconds, check.PeakRSSKB/1024, loadAvg())
}
