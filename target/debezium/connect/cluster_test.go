package connect_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/evidence"
	"github.com/chaosrun/chaosrun/internal/logtest"
	"github.com/chaosrun/chaosrun/internal/proctest"
	"github.com/chaosrun/chaosrun/internal/wait"
	"github.com/chaosrun/chaosrun/sink/kafka"
	"github.com/chaosrun/chaosrun/target/debezium/connect"
	"github.com/chaosrun/chaosrun/target/debezium/pg"
	"github.com/chaosrun/chaosrun/target/debezium/pg/pgtest"
	"github.com/chaosrun/chaosrun/target/debezium/pgstore"
	"github.com/chaosrun/chaosrun/workloads"
)

var record = flag.Bool("record", false, "write the Debezium records the test reads to evidence/debezium/testdata/recorded-*.json (the decoder's test cases)")

// kafkaLibs returns the broker jar directory ($CHAOSRUN_KAFKA_LIBS, else the
// module's .cache/kafka/libs) and whether the jars are there.
func kafkaLibs(t *testing.T) (string, bool) {
	d := os.Getenv(kafka.EnvLibs)
	if d == "" {
		var err error
		d, err = filepath.Abs(filepath.Join("..", "..", "..", ".cache", "kafka", "libs"))
		require.NoError(t, err)
	}
	jars, _ := filepath.Glob(filepath.Join(d, "kafka_*.jar"))
	return d, len(jars) > 0
}

// connectDir returns the Connect cache ($CHAOSRUN_CONNECT_LIBS, else the
// module's .cache/connect) and whether the jars are there.
func connectDir(t *testing.T) (string, bool) {
	d := os.Getenv(connect.EnvDir)
	if d == "" {
		var err error
		d, err = filepath.Abs(filepath.Join("..", "..", "..", ".cache", "connect"))
		require.NoError(t, err)
	}
	jars, _ := filepath.Glob(filepath.Join(d, "libs", "connect-runtime-*.jar"))
	return d, len(jars) > 0
}

// event is the part of a Debezium change event (JSON converter, schemas
// off) the test checks.
type event struct {
	Before map[string]any `json:"before"`
	After  map[string]any `json:"after"`
	Op     string         `json:"op"`
	Source struct {
		Table string `json:"table"`
		TxID  int64  `json:"txId"`
		TsUs  int64  `json:"ts_us"`
	} `json:"source"`
}

type rowKey struct {
	table string
	pk    int64
	op    string
}

// TestDebeziumEndToEnd starts a one-broker Kafka, PostgreSQL and three
// Connect workers with exactly-once source support, registers Debezium,
// commits rows through pgstore and reads every one back read_committed.
func TestDebeziumEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Kafka, PostgreSQL and three Connect JVMs; skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: PostgreSQL runs as user postgres")
	}
	klibs, ok := kafkaLibs(t)
	if !ok {
		t.Skipf("Kafka jars missing in %s: run `make deps`", klibs)
	}
	cdir, ok := connectDir(t)
	if !ok {
		t.Skipf("Connect jars missing in %s: run `make deps`", cdir)
	}
	log := logtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	t0 := time.Now()
	kl, err := kafka.NewLocal(kafka.LocalConfig{Dir: t.TempDir(), LibsDir: klibs, Logger: log})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, kl.Close()) })
	brokers, err := kl.Start(context.WithoutCancel(ctx))
	require.NoError(t, err)
	kafkaTook := time.Since(t0)

	t0 = time.Now()
	srv := pgtest.Start(t, "")
	pgTook := time.Since(t0)
	tables := []string{"t1", "t2"}
	store, err := pgstore.Open(ctx, srv.DSN(pg.Database), tables)
	require.NoError(t, err)
	t.Cleanup(store.Close)
	const topic = "dbz-changes"
	require.NoError(t, kafka.CreateTopic(ctx, brokers, kafka.TopicSpec{Name: topic, Partitions: 1}))

	t0 = time.Now()
	cl, err := connect.Start(ctx, connect.Config{Dir: t.TempDir(), Brokers: brokers, EOS: true,
		Libs: filepath.Join(cdir, "libs"), Plugins: filepath.Join(cdir, "plugins"), Logger: log})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, cl.Close()) })
	connectTook := time.Since(t0)

	t0 = time.Now()
	cfg := connect.DebeziumConfig(connect.DebeziumParams{DBHost: srv.Host(), DBPort: srv.Port(), Tables: tables,
		Topic: topic, EOS: true})
	require.NoError(t, cl.CreateConnector(ctx, "pg", cfg))
	require.ErrorIs(t, cl.CreateConnector(ctx, "pg", cfg), connect.ErrExists)
	runningOn, err := cl.WaitTaskRunning(ctx, "pg")
	require.NoError(t, err)
	taskTook := time.Since(t0)
	waitSlotActive(ctx, t, srv, "chaosrun_slot")
	slotTook := time.Since(t0)
	t.Logf("startup: kafka %v, postgres %v, 3 Connect workers %v, connector task RUNNING %v, slot active %v",
		kafkaTook.Round(time.Millisecond), pgTook.Round(time.Millisecond), connectTook.Round(time.Millisecond),
		taskTook.Round(time.Millisecond), slotTook.Round(time.Millisecond))

	// Commit rows: inserts, updates and deletes over both tables.
	want := map[rowKey]uint64{} // → commit ts from pgstore
	commit := func(ws ...workloads.Write) {
		ts, err := store.Commit(ctx, ws)
		require.NoError(t, err)
		for _, w := range ws {
			want[rowKey{w.Table, w.PK, string(w.Op)}] = ts
		}
	}
	t0 = time.Now()
	for i := range 10 {
		commit(workloads.Write{Table: tables[i%2], PK: int64(i), Op: workloads.OpInsert, Columns: map[string]string{"v": strconv.Itoa(i)}})
	}
	commit(workloads.Write{Table: "t1", PK: 0, Op: workloads.OpUpdate, Columns: map[string]string{"v": "100"}},
		workloads.Write{Table: "t2", PK: 1, Op: workloads.OpUpdate, Columns: map[string]string{"v": "101"}})
	commit(workloads.Write{Table: "t1", PK: 2, Op: workloads.OpDelete})
	commit(workloads.Write{Table: "t2", PK: 3, Op: workloads.OpDelete})

	// Read them back read_committed, as downstream consumers of an EOS
	// source must.
	got, heartbeats, recorded := readUntil(ctx, t, brokers, topic, want)
	t.Logf("all %d rows read back %v after the first commit; %d heartbeat events seen", len(want),
		time.Since(t0).Round(time.Millisecond), heartbeats)
	for k, ts := range want {
		ev, ok := got[k]
		if !assert.True(t, ok, "row %v arrived", k) {
			continue
		}
		// The decoder maps source.ts_us with evidence.TSOMicros; it must
		// give the commit ts the writer returned.
		assert.Equal(t, ts, evidence.TSOMicros(time.UnixMicro(ev.Source.TsUs)), "row %v: source.ts_us is the commit timestamp", k)
	}
	assert.Positive(t, heartbeats, "heartbeat.action.query rows arrive on the topic")
	if *record {
		for name, raw := range recorded {
			b, err := json.MarshalIndent(raw, "", "  ")
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join("..", "..", "..", "evidence", "debezium", "testdata", "recorded-"+name+".json"), append(b, '\n'), 0o644))
		}
	}

	tw, err := cl.TaskWorker(ctx, "pg")
	require.NoError(t, err)
	require.Equal(t, runningOn, tw)
	leader, err := cl.Leader(ctx)
	require.NoError(t, err)
	require.Contains(t, cl.Workers(), tw)
	require.Contains(t, cl.Workers(), leader)
	t.Logf("task on %s, leader %s", tw, leader)

	// A killed worker starts again with the same identity (kill-restart
	// faults).
	other := cl.Workers()[0]
	if other == tw {
		other = cl.Workers()[1]
	}
	p, err := cl.Proc(other)
	require.NoError(t, err)
	oldPid := p.Pid()
	require.ErrorIs(t, cl.RestartWorker(ctx, other), connect.ErrRunning)
	require.NoError(t, p.Kill())
	t0 = time.Now()
	require.NoError(t, cl.RestartWorker(ctx, other))
	newPid, err := cl.Worker(other)
	require.NoError(t, err)
	require.NotEqual(t, oldPid, newPid)
	proctest.RequireGroupGone(t, oldPid)
	t.Logf("%s killed and restarted: healthy again in %v", other, time.Since(t0).Round(time.Millisecond))

	// Everything closes and nothing is left.
	var pids []int
	for _, w := range cl.Workers() {
		pid, err := cl.Worker(w)
		require.NoError(t, err)
		pids = append(pids, pid)
	}
	for _, pid := range kl.PIDs() {
		pids = append(pids, pid)
	}
	pids = append(pids, srv.Pid())
	require.NoError(t, cl.DeleteConnector(ctx, "pg"))
	require.ErrorIs(t, cl.DeleteConnector(ctx, "pg"), connect.ErrNotFound)
	t0 = time.Now()
	require.NoError(t, cl.Close())
	closeTook := time.Since(t0)
	require.NoError(t, kl.Close())
	store.Close()
	require.NoError(t, srv.Close())
	for _, pid := range pids {
		proctest.RequireGroupGone(t, pid)
	}
	t.Logf("Connect cluster closed in %v", closeTook.Round(time.Millisecond))
}

// waitSlotActive polls until Debezium holds its replication slot: only
// changes committed after that are streamed (snapshot.mode=no_data).
func waitSlotActive(ctx context.Context, t *testing.T, srv *pg.Server, slot string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, srv.DSN(pg.Database))
	require.NoError(t, err)
	defer func() { _ = conn.Close(ctx) }()
	for {
		var active bool
		err := conn.QueryRow(ctx, "SELECT active FROM pg_replication_slots WHERE slot_name = $1", slot).Scan(&active)
		if err == nil && active {
			return
		}
		require.NoError(t, wait.Sleep(ctx, 100*time.Millisecond), "slot %s never active (last: %v)", slot, err)
	}
}

// recordedRecord is one Debezium record as Kafka holds it, for decoder
// tests.
type recordedRecord struct {
	Topic     string          `json:"topic"`
	Partition int32           `json:"partition"`
	Offset    int64           `json:"offset"`
	Key       json.RawMessage `json:"key"`
	Value     json.RawMessage `json:"value"`
	KeyRaw    string          `json:"key_bytes"`
	ValueRaw  string          `json:"value_bytes"`
	Note      string          `json:"note"`
}

// readUntil reads topic read_committed until every row of want and a
// heartbeat arrived or ctx ends, and returns the events by row, the number of heartbeat events
// and one raw record per kind (insert, update, delete, heartbeat).
func readUntil(ctx context.Context, t *testing.T, brokers []string, topic string, want map[rowKey]uint64) (map[rowKey]event, int, map[string]recordedRecord) {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	cfg.Consumer.Return.Errors = true
	consumer, err := sarama.NewConsumer(brokers, cfg)
	require.NoError(t, err)
	defer func() { _ = consumer.Close() }()
	pc, err := consumer.ConsumePartition(topic, 0, sarama.OffsetOldest)
	require.NoError(t, err)
	defer func() { _ = pc.Close() }()
	ops := map[string]string{"c": "insert", "u": "update", "d": "delete"}
	got := map[rowKey]event{}
	recorded := map[string]recordedRecord{}
	heartbeats := 0
	rctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	for len(got) < len(want) || heartbeats == 0 {
		select {
		case m := <-pc.Messages():
			var ev event
			require.NoError(t, json.Unmarshal(m.Value, &ev), "value %s", m.Value)
			kind := ops[ev.Op]
			if ev.Source.Table == pgstore.HeartbeatTable {
				heartbeats++
				kind = "heartbeat"
			} else {
				var key struct {
					PK int64 `json:"pk"`
				}
				require.NoError(t, json.Unmarshal(m.Key, &key), "key %s", m.Key)
				k := rowKey{ev.Source.Table, key.PK, ops[ev.Op]}
				_, dup := got[k]
				assert.False(t, dup, "row %v arrived twice", k)
				got[k] = ev
			}
			if _, ok := recorded[kind]; !ok && kind != "" {
				recorded[kind] = recordedRecord{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset,
					Key: slices.Clone(m.Key), Value: slices.Clone(m.Value), KeyRaw: string(m.Key), ValueRaw: string(m.Value),
					Note: fmt.Sprintf("recorded by target/debezium/connect TestDebeziumEndToEnd: Debezium 3.6.1.Final, Connect 4.4.0, JsonConverter schemas off, EOS on, %s event", kind)}
			}
		case e := <-pc.Errors():
			t.Logf("fetch error (sarama retries): %v", e)
		case <-rctx.Done():
			var missing []rowKey
			for k := range want {
				if _, ok := got[k]; !ok {
					missing = append(missing, k)
				}
			}
			t.Fatalf("after 90s: rows missing: %v; %d heartbeats", missing, heartbeats)
		}
	}
	return got, heartbeats, recorded
}
