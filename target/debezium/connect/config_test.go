package connect

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWorkerProps(t *testing.T) {
	for _, eos := range []bool{true, false} {
		p := workerProps(Config{Brokers: []string{"10.0.0.1:9092", "10.0.0.2:9092"}, GroupID: "g", Plugins: "/p", EOS: eos}, "10.0.1.3", 18083)
		for _, line := range []string{
			`bootstrap.servers=10.0.0.1\:9092,10.0.0.2\:9092`, "group.id=g", "config.storage.topic=g-configs",
			`listeners=http\://10.0.1.3\:18083`, "rest.advertised.host.name=10.0.1.3", "rest.advertised.port=18083",
			"session.timeout.ms=6000", "heartbeat.interval.ms=2000", "scheduled.rebalance.max.delay.ms=0",
			"plugin.discovery=service_load", "offset.flush.interval.ms=1000", "status.storage.partitions=1",
			"key.converter.schemas.enable=false",
		} {
			assert.Contains(t, p, line+"\n")
		}
		want := map[bool]string{true: "enabled", false: "disabled"}[eos]
		assert.Contains(t, p, "exactly.once.source.support="+want+"\n")
	}
}

func TestDebeziumConfig(t *testing.T) {
	c := DebeziumConfig(DebeziumParams{DBHost: "10.0.0.5", DBPort: 5432, Tables: []string{"t1", "t2"}, Topic: "out", EOS: true})
	assert.Equal(t, "public.t1,public.t2,public.chaosrun_heartbeat", c["table.include.list"])
	assert.Equal(t, "pgoutput", c["plugin.name"])
	assert.Equal(t, "250", c["heartbeat.interval.ms"])
	assert.Equal(t, `dbz\.public\.(.*)`, c["transforms.route.regex"])
	assert.Equal(t, "out", c["transforms.route.replacement"])
	assert.Equal(t, "required", c["exactly.once.support"])
	assert.Equal(t, "poll", c["transaction.boundary"])
	assert.Equal(t, "no_data", c["snapshot.mode"])
	assert.Equal(t, "dbz", c["database.user"])

	c = DebeziumConfig(DebeziumParams{DBHost: "h", DBPort: 1, Topic: "out", HeartbeatInterval: time.Second})
	assert.NotContains(t, c, "exactly.once.support")
	assert.Equal(t, "1000", c["heartbeat.interval.ms"])
}

func TestLeaderFromLogs(t *testing.T) {
	dir := t.TempDir()
	line := func(gen int, port string) string {
		return "[2026-12-02 15:32:44,001] INFO [Worker clientId=connect-127.0.0.1:" + port + ", groupId=g] Joined group at generation " +
			strconv.Itoa(gen) + " with protocol version 2 and got assignment: Assignment{error=0, leader='connect-127.0.0.1:" +
			port + "-abc', leaderUrl='http://127.0.0.1:" + port + "/', offset=3, connectorIds=[pg], taskIds=[pg-0], revokedConnectorIds=[], revokedTaskIds=[], delay=0} with rebalance delay: 0 (org.apache.kafka.connect.runtime.distributed.DistributedHerder)\n"
	}
	c := &Cluster{}
	for i, port := range []int{18083, 18084, 18085} {
		c.workers = append(c.workers, &worker{i: i + 1, name: WorkerName(i + 1), host: "127.0.0.1", port: port,
			logPath: filepath.Join(dir, WorkerName(i+1)+".log")})
	}
	_, err := c.Leader(t.Context())
	require.ErrorIs(t, err, ErrNoLeader)

	// connect-1 led generation 1 and died; connect-2 and connect-3 then
	// joined generation 2 under connect-3.
	require.NoError(t, os.WriteFile(c.workers[0].logPath, []byte(line(1, "18083")), 0o644))
	require.NoError(t, os.WriteFile(c.workers[1].logPath, []byte(line(1, "18083")+line(2, "18085")), 0o644))
	require.NoError(t, os.WriteFile(c.workers[2].logPath, []byte(line(1, "18083")+"noise\n"+line(2, "18085")), 0o644))
	leader, err := c.Leader(t.Context())
	require.NoError(t, err)
	require.Equal(t, "connect-3", leader)
}
