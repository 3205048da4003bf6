package checker

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/reports/result"
)

// The histories in testdata/histories are transcripts in a compact text form,
// one directive per line (# starts a comment). Times (at=, inject=, ...) are
// milliseconds after base; a commit ts is written as its physical
// milliseconds after base, optionally with .logical (ts=100.3).
//
//	config partitions=2 L=1s W=2s bound=10s zombie=0s end=5000 [nochangelog] [bank=accounts.balance initial=100]
//	grant epoch=1 at=0 node=n1
//	fault id=f1 kind=partition role=owner proc=n1 inject=1000 [heal=3000] [ineffective]
//	decision at=2500 node=n2 role=dm msg=bootstrap msg_epoch=1 local_epoch=2 sender=n1 verdict=TakeOver [acted]
//	change ts=100 t:1 [op=put] [col=value ...]
//	row p=0 at=120 t:1 ts=100 e=1 n=n1 [d=d1] [op=put] [off=7] [col=value ...]
//	wm p=0 at=200 ts=150 e=1 n=n1
//	wms p=0,1 from=0 to=5000 every=100 lag=50 e=1 n=n1
//	env kafka broker restarted
//
// Records are fed in append-time order (file order breaks ties) with
// offsets assigned per partition unless off= is given. Expectations:
//
//	expect verdict=fail
//	expect completeness=fail [violations=1]
//	expect example completeness <substring>
//	expect counter missing=1
//	expect recovery f1 heal recovered=false [duration=1200]
//	expect stale-epoch 1 rows=2 watermarks=0 window=300 tolerated=false
//	expect reason <substring>

// base is the origin of every time in a history.
var base = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type history struct {
	cfg     Config
	changes []Change
	records []Record
	expects []string
}

func parseHistory(t *testing.T, path string) history {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	h := history{cfg: Config{Run: RunInfo{Scenario: filepath.Base(path), Seed: 1, FencingMode: "epoch"}}}
	explicitOffset := map[int]bool{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		verb, rest, _ := strings.Cut(text, " ")
		where := fmt.Sprintf("%s:%d", filepath.Base(path), line)
		if verb == "expect" {
			h.expects = append(h.expects, rest)
			continue
		}
		if verb == "env" {
			h.cfg.EnvErrors = append(h.cfg.EnvErrors, rest)
			continue
		}
		a := parseArgs(t, where, rest)
		switch verb {
		case "config":
			h.cfg.Partitions = a.int("partitions", 0)
			h.cfg.SLOs = SLOs{L: a.dur("L"), W: a.dur("W"), RecoveryBound: a.dur("bound"), AllowedZombie: a.dur("zombie")}
			if a.has("end") {
				h.cfg.End = a.time("end")
			}
			if a.has("start") {
				h.cfg.Start = a.time("start")
			}
			h.cfg.NoChangeLog = a.flag("nochangelog")
			if a.has("bank") {
				table, col, _ := strings.Cut(a.str("bank"), ".")
				h.cfg.Bank = &BankConfig{Table: table, Column: col, Initial: int64(a.int("initial", 0))}
			}
		case "grant":
			h.cfg.Grants = append(h.cfg.Grants, EpochGrant{Epoch: uint64(a.int("epoch", 0)), GrantedAt: a.time("at"), Node: a.str("node")})
		case "fault":
			fe := FaultEvent{ID: a.str("id"), Kind: a.str("kind"), TargetRole: a.str("role"), TargetProcess: a.str("proc"),
				Inject: a.time("inject"), Effective: !a.flag("ineffective")}
			if a.has("heal") {
				fe.Heal = a.time("heal")
			}
			h.cfg.Faults = append(h.cfg.Faults, fe)
		case "decision":
			h.cfg.Decisions = append(h.cfg.Decisions, DecisionEntry{Time: a.time("at"), Node: a.str("node"), Role: a.str("role"),
				MsgType: a.str("msg"), MsgEpoch: uint64(a.int("msg_epoch", 0)), LocalEpoch: uint64(a.int("local_epoch", 0)),
				Sender: a.str("sender"), Verdict: a.str("verdict"), Acted: a.flag("acted")})
		case "change":
			table, pk := a.key()
			h.changes = append(h.changes, Change{CommitTs: a.ts("ts"), Table: table, PK: pk, Op: a.strOr("op", "put"), Columns: a.columns()})
		case "row":
			table, pk := a.key()
			// seen, de and ds are the writer's generation facts (Record.Seen,
			// DispatcherEpoch, DispatcherSeen); read before the columns.
			seen, de, ds := uint64(a.int("seen", 0)), uint64(a.int("de", 0)), uint64(a.int("ds", 0))
			r := Record{Partition: int32(a.int("p", 0)), AppendTime: a.time("at"), Kind: KindRow, Table: table, PK: pk,
				Op: a.strOr("op", "put"), CommitTs: a.ts("ts"), Epoch: uint64(a.int("e", 0)),
				Node: a.str("n"), Dispatcher: a.strOr("d", "d-"+a.str("n")), Seen: seen, DispatcherEpoch: de, DispatcherSeen: ds}
			r.Columns = a.columns()
			h.records = append(h.records, r)
		case "wm":
			h.records = append(h.records, Record{Partition: int32(a.int("p", 0)), AppendTime: a.time("at"), Kind: KindWatermark,
				WatermarkTs: a.ts("ts"), Epoch: uint64(a.int("e", 0)), Node: a.str("n"), Seen: uint64(a.int("seen", 0))})
		case "wms":
			var parts []int32
			for _, p := range strings.Split(a.str("p"), ",") {
				n, err := strconv.Atoi(p)
				require.NoError(t, err, where)
				parts = append(parts, int32(n))
			}
			for at := a.int("from", 0); at <= a.int("to", 0); at += a.int("every", 100) {
				for _, p := range parts {
					h.records = append(h.records, Record{Partition: p, AppendTime: base.Add(time.Duration(at) * time.Millisecond),
						Kind: KindWatermark, WatermarkTs: ComposeTS(base.UnixMilli()+int64(at-a.int("lag", 0)), 0),
						Epoch: uint64(a.int("e", 0)), Node: a.str("n")})
				}
			}
		default:
			t.Fatalf("%s: unknown directive %q", where, verb)
		}
		if (verb == "row" || verb == "wm") && a.has("off") {
			h.records[len(h.records)-1].Offset = int64(a.int("off", 0))
			explicitOffset[len(h.records)-1] = true
		}
		a.done()
	}
	require.NoError(t, sc.Err())

	// Feed in append-time order; assign offsets per partition.
	idx := make([]int, len(h.records))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(i, j int) int { return h.records[i].AppendTime.Compare(h.records[j].AppendTime) })
	sorted := make([]Record, 0, len(h.records))
	next := map[int32]int64{}
	for _, i := range idx {
		r := h.records[i]
		if !explicitOffset[i] {
			r.Offset = next[r.Partition]
		}
		next[r.Partition] = r.Offset + 1
		sorted = append(sorted, r)
	}
	h.records = sorted
	return h
}

// args holds one directive's arguments and fails the test on unused ones.
type args struct {
	t     *testing.T
	where string
	kv    map[string]string
	pos   []string
	used  map[string]bool
}

func parseArgs(t *testing.T, where, s string) *args {
	a := &args{t: t, where: where, kv: map[string]string{}, used: map[string]bool{}}
	for _, tok := range strings.Fields(s) {
		if k, v, ok := strings.Cut(tok, "="); ok {
			a.kv[k] = v
		} else {
			a.pos = append(a.pos, tok)
		}
	}
	return a
}

func (a *args) has(k string) bool { _, ok := a.kv[k]; return ok }

func (a *args) str(k string) string {
	a.used[k] = true
	return a.kv[k]
}

func (a *args) strOr(k, def string) string {
	if a.has(k) {
		return a.str(k)
	}
	return def
}

func (a *args) int(k string, def int) int {
	if !a.has(k) {
		return def
	}
	n, err := strconv.Atoi(a.str(k))
	require.NoError(a.t, err, "%s: %s", a.where, k)
	return n
}

func (a *args) dur(k string) time.Duration {
	if !a.has(k) {
		return 0
	}
	d, err := time.ParseDuration(a.str(k))
	require.NoError(a.t, err, "%s: %s", a.where, k)
	return d
}

func (a *args) time(k string) time.Time {
	require.True(a.t, a.has(k), "%s: missing %s", a.where, k)
	return base.Add(time.Duration(a.int(k, 0)) * time.Millisecond)
}

func (a *args) ts(k string) uint64 {
	require.True(a.t, a.has(k), "%s: missing %s", a.where, k)
	phys, logical, _ := strings.Cut(a.str(k), ".")
	p, err := strconv.ParseInt(phys, 10, 64)
	require.NoError(a.t, err, a.where)
	var l uint64
	if logical != "" {
		l, err = strconv.ParseUint(logical, 10, 64)
		require.NoError(a.t, err, a.where)
	}
	return ComposeTS(base.UnixMilli()+p, l)
}

func (a *args) flag(name string) bool {
	i := slices.Index(a.pos, name)
	if i < 0 {
		return false
	}
	a.pos = slices.Delete(a.pos, i, i+1)
	return true
}

// key takes the positional table:pk.
func (a *args) key() (string, int64) {
	for i, p := range a.pos {
		if table, pk, ok := strings.Cut(p, ":"); ok {
			n, err := strconv.ParseInt(pk, 10, 64)
			require.NoError(a.t, err, a.where)
			a.pos = slices.Delete(a.pos, i, i+1)
			return table, n
		}
	}
	a.t.Fatalf("%s: missing table:pk", a.where)
	return "", 0
}

// columns takes every argument not read otherwise.
func (a *args) columns() Columns {
	known := []string{"p", "at", "ts", "e", "n", "d", "op", "off"}
	var cols Columns
	for k, v := range a.kv {
		if slices.Contains(known, k) {
			continue
		}
		if cols == nil {
			cols = Columns{}
		}
		cols[k] = v
		a.used[k] = true
	}
	return cols
}

func (a *args) done() {
	for k := range a.kv {
		if !a.used[k] {
			a.t.Fatalf("%s: unknown argument %s", a.where, k)
		}
	}
	if len(a.pos) > 0 {
		a.t.Fatalf("%s: unknown arguments %v", a.where, a.pos)
	}
}

// run feeds the history: each change before the records appended at or
// after its commit time (the order Feed uses), or, when changesLast, every
// record before any change.
func (h history) run(t *testing.T, changesLast bool) *result.Result {
	t.Helper()
	c, err := New(h.cfg)
	require.NoError(t, err)
	ci := 0
	for _, r := range h.records {
		for !changesLast && ci < len(h.changes) && PhysicalMs(h.changes[ci].CommitTs) <= r.AppendTime.UnixMilli() {
			c.AddChange(h.changes[ci])
			ci++
		}
		c.Add(r)
	}
	for ; ci < len(h.changes); ci++ {
		c.AddChange(h.changes[ci])
	}
	return c.Finish()
}

func TestHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "histories", "*.txt"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			h := parseHistory(t, path)
			require.NotEmpty(t, h.expects, "a history must expect something")
			res := h.run(t, false)
			// The feeding order must not change the outcome.
			require.Equal(t, res, h.run(t, true), "records before changes gave another result")
			for _, e := range h.expects {
				checkExpect(t, res, e)
			}
			if t.Failed() {
				b, _ := json.MarshalIndent(struct {
					Invariants []result.Invariant
					Counters   result.Counters
					Verdict    result.Verdict
					Recoveries []result.Recovery
					Stale      []result.StaleEpoch
				}{res.Invariants, res.Counters, res.Verdict, res.Recoveries, res.StaleEpochs}, "", "  ")
				t.Logf("result:\n%s", b)
			}
		})
	}
}

func checkExpect(t *testing.T, res *result.Result, e string) {
	t.Helper()
	fields := strings.Fields(e)
	kv := func(from int) map[string]string {
		m := map[string]string{}
		for _, f := range fields[from:] {
			k, v, _ := strings.Cut(f, "=")
			m[k] = v
		}
		return m
	}
	switch {
	case strings.HasPrefix(fields[0], "verdict="):
		assert.Equal(t, strings.TrimPrefix(fields[0], "verdict="), string(res.Verdict.Outcome), "verdict (violated %v, reasons %v)", res.Verdict.Violated, res.Verdict.Reasons)
	case fields[0] == "example":
		inv, ok := res.Invariant(fields[1])
		require.True(t, ok, e)
		sub := strings.Join(fields[2:], " ")
		assert.True(t, slices.ContainsFunc(inv.Examples, func(x result.Example) bool { return strings.Contains(x.Message, sub) }),
			"no %s example contains %q: %+v", fields[1], sub, inv.Examples)
	case fields[0] == "reason":
		sub := strings.Join(fields[1:], " ")
		assert.True(t, slices.ContainsFunc(res.Verdict.Reasons, func(r string) bool { return strings.Contains(r, sub) }),
			"no reason contains %q: %v", sub, res.Verdict.Reasons)
	case fields[0] == "counter":
		b, err := json.Marshal(res.Counters)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(b, &m))
		for k, v := range kv(1) {
			got, ok := m[k]
			if !ok {
				got = float64(0) // omitempty
			}
			if list, isList := got.([]any); isList {
				// GenCounts, written epoch/node=records.
				var parts []string
				for _, x := range list {
					g := x.(map[string]any)
					parts = append(parts, fmt.Sprintf("%v/%v=%v", g["epoch"], g["node"], g["records"]))
				}
				got = strings.Join(parts, ",")
			}
			assert.Equal(t, v, fmt.Sprint(got), "counter %s", k)
		}
	case fields[0] == "recovery":
		i := slices.IndexFunc(res.Recoveries, func(r result.Recovery) bool { return r.FaultID == fields[1] && r.Anchor == fields[2] })
		require.GreaterOrEqual(t, i, 0, e)
		r := res.Recoveries[i]
		for k, v := range kv(3) {
			switch k {
			case "recovered":
				assert.Equal(t, v, strconv.FormatBool(r.Recovered), e)
			case "duration":
				assert.Equal(t, v, strconv.FormatInt(r.DurationMs, 10), e)
			case "peak":
				assert.Equal(t, v, strconv.FormatInt(r.PeakLagMs, 10), e)
			case "within":
				assert.Equal(t, v, strconv.FormatBool(r.WithinBound), e)
			case "judged":
				assert.Equal(t, v, strconv.FormatBool(r.Judged), e)
			default:
				t.Fatalf("unknown recovery field %s", k)
			}
		}
	case fields[0] == "stale-epoch":
		i := slices.IndexFunc(res.StaleEpochs, func(s result.StaleEpoch) bool { return strconv.FormatUint(s.Epoch, 10) == fields[1] })
		require.GreaterOrEqual(t, i, 0, e)
		s := res.StaleEpochs[i]
		got := map[string]string{
			"rows": fmt.Sprint(s.Rows), "watermarks": fmt.Sprint(s.Watermarks), "window": fmt.Sprint(s.WindowMs),
			"tolerated": fmt.Sprint(s.Tolerated), "by": fmt.Sprint(s.SupersededBy),
		}
		for k, v := range kv(2) {
			assert.Equal(t, v, got[k], "%s %s", e, k)
		}
	default:
		name, status, ok := strings.Cut(fields[0], "=")
		require.True(t, ok, "bad expectation %q", e)
		inv, found := res.Invariant(name)
		require.True(t, found, "no invariant %q", name)
		assert.Equal(t, status, string(inv.Status), "%s: %s", name, inv.Summary)
		if v, ok := kv(1)["violations"]; ok {
			assert.Equal(t, v, strconv.FormatInt(inv.Violations, 10), "%s violations", name)
		}
	}
}
