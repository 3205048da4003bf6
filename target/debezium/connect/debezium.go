package connect

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// HeartbeatQuery is Debezium's heartbeat.action.query: a write to the
// heartbeat table (pgstore.HeartbeatTable), so that an idle workload still
// moves the slot and the topic.
const HeartbeatQuery = "INSERT INTO chaosrun_heartbeat (id, ts) VALUES (1, now()) ON CONFLICT (id) DO UPDATE SET ts = now()"

// DebeziumParams are the choices in a Debezium PostgreSQL connector's
// configuration. Zero values take the defaults noted.
type DebeziumParams struct {
	// DBHost and DBPort are PostgreSQL's address as the workers dial it.
	// Required.
	DBHost string
	DBPort int
	// User, Password and Database default to dbz, dbz and app (package pg).
	User, Password, Database string
	// Tables are the workload tables (schema public); the heartbeat table
	// is added.
	Tables []string
	// TopicPrefix is Debezium's topic.prefix; default "dbz".
	TopicPrefix string
	// Topic is the one topic every table's events are routed to. The
	// harness creates it (1 partition, LogAppendTime). Required.
	Topic string
	// Slot and Publication name the replication slot and publication;
	// defaults "chaosrun_slot" and "chaosrun_pub".
	Slot, Publication string
	// HeartbeatInterval is heartbeat.interval.ms; default 250ms.
	HeartbeatInterval time.Duration
	// EOS requires exactly-once delivery (the workers need Config.EOS).
	EOS bool
}

// DebeziumConfig builds the connector configuration for p.
func DebeziumConfig(p DebeziumParams) map[string]string {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&p.User, "dbz")
	def(&p.Password, "dbz")
	def(&p.Database, "app")
	def(&p.TopicPrefix, "dbz")
	def(&p.Slot, "chaosrun_slot")
	def(&p.Publication, "chaosrun_pub")
	if p.HeartbeatInterval == 0 {
		p.HeartbeatInterval = 250 * time.Millisecond
	}
	include := make([]string, 0, len(p.Tables)+1)
	for _, t := range p.Tables {
		include = append(include, "public."+t)
	}
	include = append(include, "public.chaosrun_heartbeat")
	cfg := map[string]string{
		"connector.class": "io.debezium.connector.postgresql.PostgresConnector",
		"tasks.max":       "1",
		// Built into PostgreSQL; the default, decoderbufs, needs an extension (G2).
		"plugin.name":        "pgoutput",
		"database.hostname":  p.DBHost,
		"database.port":      strconv.Itoa(p.DBPort),
		"database.user":      p.User,
		"database.password":  p.Password,
		"database.dbname":    p.Database,
		"topic.prefix":       p.TopicPrefix,
		"table.include.list": strings.Join(include, ","),
		"slot.name":          p.Slot,
		"publication.name":   p.Publication,
		// The connector creates the publication for the included tables
		// only (it needs to own them: dbz creates them).
		"publication.autocreate.mode": "filtered",
		// The tables are empty when the connector registers.
		"snapshot.mode":          "no_data",
		"heartbeat.interval.ms":  strconv.FormatInt(p.HeartbeatInterval.Milliseconds(), 10),
		"heartbeat.action.query": HeartbeatQuery,
		// A delete is one event; no null-valued tombstone after it.
		"tombstones.on.delete": "false",
		// A moved task retries for the slot for 60 s, above
		// wal_sender_timeout (10 s), the time PostgreSQL takes to drop a
		// stopped walsender (G5).
		"slot.max.retries":    "60",
		"slot.retry.delay.ms": "1000",
		// Confirm the flushed LSN to PostgreSQL every second (default 10 s).
		"status.update.interval.ms": "1000",
		// Connect creates the heartbeat topic (__debezium-heartbeat.<prefix>)
		// with these; the routed topic exists already.
		"topic.creation.default.replication.factor": "1",
		"topic.creation.default.partitions":         "1",
		// Every table's topic <prefix>.public.<table> goes to one topic,
		// so one partition orders all changes as the WAL does.
		"transforms":                   "route",
		"transforms.route.type":        "org.apache.kafka.connect.transforms.RegexRouter",
		"transforms.route.regex":       regexp.QuoteMeta(p.TopicPrefix) + `\.public\.(.*)`,
		"transforms.route.replacement": p.Topic,
	}
	if p.EOS {
		cfg["exactly.once.support"] = "required"
		// One Kafka transaction per poll: Postgres cannot define its own
		// boundaries (connector), and Debezium recommends poll.
		cfg["transaction.boundary"] = "poll"
	}
	return cfg
}
