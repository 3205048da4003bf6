package checker

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The histories in testdata/histories are transcripts in a compact text form,
// one directive per line (# starts a comment). Times (at=, inject=, ...) are
// milliseconds after base; a commit ts is written as its physical
// milliseconds after base, optionally with .logical (ts=100.3).
//
//	config partitions=2 L=1s W=2s bound=10s zombie=0s end=5000 [nochangelog] [nopromise] [exactlyonce] [rowprogress] [bank=accounts.balance initial=100]
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
	expects []expectation
}

// parseHistory reads a history transcript. A malformed line is an error
// naming the file and line.
func parseHistory(path string) (history, error) {
	f, err := os.Open(path)
	if err != nil {
		return history{}, err
	}
	defer f.Close()
	p := historyParser{
		h:              history{cfg: Config{Run: RunInfo{Scenario: filepath.Base(path), Seed: 1, FencingMode: "epoch"}}},
		explicitOffset: map[int]bool{},
	}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		if err := p.parseLine(strings.TrimSpace(sc.Text())); err != nil {
			return history{}, fmt.Errorf("%s:%d: %w", filepath.Base(path), line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return history{}, err
	}
	p.h.records = inFeedOrder(p.h.records, p.explicitOffset)
	return p.h, nil
}

// historyParser builds a history one directive at a time.
type historyParser struct {
	h history
	// explicitOffset marks the records whose offset the transcript gives.
	explicitOffset map[int]bool
}

func (p *historyParser) parseLine(text string) error {
	if text == "" || strings.HasPrefix(text, "#") {
		return nil
	}
	verb, rest, _ := strings.Cut(text, " ")
	switch verb {
	case "expect":
		e, err := parseExpectation(rest)
		p.h.expects = append(p.h.expects, e)
		return err
	case "env":
		p.h.cfg.EnvErrors = append(p.h.cfg.EnvErrors, rest)
		return nil
	}
	a := parseArgs(rest)
	switch verb {
	case "config":
		p.config(a)
	case "grant":
		p.h.cfg.Grants = append(p.h.cfg.Grants, EpochGrant{Epoch: uint64(a.int("epoch", 0)), GrantedAt: a.time("at"), Node: a.str("node")})
	case "fault":
		p.fault(a)
	case "decision":
		p.h.cfg.Decisions = append(p.h.cfg.Decisions, DecisionEntry{Time: a.time("at"), Node: a.str("node"), Role: a.str("role"),
			MsgType: a.str("msg"), MsgEpoch: uint64(a.int("msg_epoch", 0)), LocalEpoch: uint64(a.int("local_epoch", 0)),
			Sender: a.str("sender"), Verdict: a.str("verdict"), Acted: a.flag("acted")})
	case "change":
		table, pk := a.key()
		p.h.changes = append(p.h.changes, Change{CommitTs: a.ts("ts"), Table: table, PK: pk, Op: a.strOr("op", "put"), Columns: a.columns()})
	case "row":
		p.row(a)
	case "wm":
		p.addRecord(a, Record{Partition: int32(a.int("p", 0)), AppendTime: a.time("at"), Kind: KindWatermark,
			WatermarkTs: a.ts("ts"), Epoch: uint64(a.int("e", 0)), Node: a.str("n"), Seen: uint64(a.int("seen", 0))})
	case "wms":
		p.watermarks(a)
	default:
		return fmt.Errorf("unknown directive %q", verb)
	}
	return a.done()
}

func (p *historyParser) config(a *args) {
	cfg := &p.h.cfg
	cfg.Partitions = a.int("partitions", 0)
	cfg.SLOs = SLOs{L: a.dur("L"), W: a.dur("W"), RecoveryBound: a.dur("bound"), AllowedZombie: a.dur("zombie")}
	if a.has("end") {
		cfg.End = a.time("end")
	}
	if a.has("start") {
		cfg.Start = a.time("start")
	}
	cfg.NoChangeLog = a.flag("nochangelog")
	cfg.NoWatermarkPromise = a.flag("nopromise")
	cfg.ExactlyOnce = a.flag("exactlyonce")
	cfg.RowProgress = a.flag("rowprogress")
	if a.has("bank") {
		table, col, _ := strings.Cut(a.str("bank"), ".")
		cfg.Bank = &BankConfig{Table: table, Column: col, Initial: int64(a.int("initial", 0))}
	}
}

func (p *historyParser) fault(a *args) {
	fe := FaultEvent{ID: a.str("id"), Kind: a.str("kind"), TargetRole: a.str("role"), TargetProcess: a.str("proc"),
		Inject: a.time("inject"), Effective: !a.flag("ineffective")}
	if a.has("heal") {
		fe.Heal = a.time("heal")
	}
	p.h.cfg.Faults = append(p.h.cfg.Faults, fe)
}

func (p *historyParser) row(a *args) {
	table, pk := a.key()
	// seen, de and ds are the writer's generation facts (Record.Seen,
	// DispatcherEpoch, DispatcherSeen); read before the columns.
	seen, de, ds := uint64(a.int("seen", 0)), uint64(a.int("de", 0)), uint64(a.int("ds", 0))
	r := Record{Partition: int32(a.int("p", 0)), AppendTime: a.time("at"), Kind: KindRow, Table: table, PK: pk,
		Op: a.strOr("op", "put"), CommitTs: a.ts("ts"), Epoch: uint64(a.int("e", 0)),
		Node: a.str("n"), Dispatcher: a.strOr("d", "d-"+a.str("n")), Seen: seen, DispatcherEpoch: de, DispatcherSeen: ds}
	r.Columns = a.columns()
	p.addRecord(a, r)
}

// addRecord appends r with the offset off= gives, if any.
func (p *historyParser) addRecord(a *args, r Record) {
	if a.has("off") {
		r.Offset = int64(a.int("off", 0))
		p.explicitOffset[len(p.h.records)] = true
	}
	p.h.records = append(p.h.records, r)
}

// watermarks appends a watermark on each listed partition every so often.
func (p *historyParser) watermarks(a *args) {
	var parts []int32
	for _, s := range strings.Split(a.str("p"), ",") {
		n, err := strconv.Atoi(s)
		if err != nil {
			a.fail("p: %w", err)
			return
		}
		parts = append(parts, int32(n))
	}
	every := a.int("every", 100)
	if every <= 0 {
		a.fail("every=%d: want a positive interval", every)
		return
	}
	for at := a.int("from", 0); at <= a.int("to", 0); at += every {
		for _, part := range parts {
			p.h.records = append(p.h.records, Record{Partition: part, AppendTime: base.Add(time.Duration(at) * time.Millisecond),
				Kind: KindWatermark, WatermarkTs: ComposeTS(base.UnixMilli()+int64(at-a.int("lag", 0)), 0),
				Epoch: uint64(a.int("e", 0)), Node: a.str("n")})
		}
	}
}

// inFeedOrder sorts records by append time (file order breaks ties) and
// numbers them per partition from the last explicit offset.
func inFeedOrder(records []Record, explicitOffset map[int]bool) []Record {
	idx := make([]int, len(records))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(i, j int) int { return records[i].AppendTime.Compare(records[j].AppendTime) })
	sorted := make([]Record, 0, len(records))
	next := map[int32]int64{}
	for _, i := range idx {
		r := records[i]
		if !explicitOffset[i] {
			r.Offset = next[r.Partition]
		}
		next[r.Partition] = r.Offset + 1
		sorted = append(sorted, r)
	}
	return sorted
}

// args holds one directive's arguments. The first malformed one is kept
// as the error done reports; unused ones are errors too.
type args struct {
	kv   map[string]string
	pos  []string
	used map[string]bool
	err  error
}

func parseArgs(s string) *args {
	a := &args{kv: map[string]string{}, used: map[string]bool{}}
	for _, tok := range strings.Fields(s) {
		if k, v, ok := strings.Cut(tok, "="); ok {
			a.kv[k] = v
		} else {
			a.pos = append(a.pos, tok)
		}
	}
	return a
}

// fail records the first error.
func (a *args) fail(format string, v ...any) {
	if a.err == nil {
		a.err = fmt.Errorf(format, v...)
	}
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
	if err != nil {
		a.fail("%s: %w", k, err)
	}
	return n
}

func (a *args) dur(k string) time.Duration {
	if !a.has(k) {
		return 0
	}
	d, err := time.ParseDuration(a.str(k))
	if err != nil {
		a.fail("%s: %w", k, err)
	}
	return d
}

func (a *args) time(k string) time.Time {
	if !a.has(k) {
		a.fail("missing %s", k)
	}
	return base.Add(time.Duration(a.int(k, 0)) * time.Millisecond)
}

func (a *args) ts(k string) uint64 {
	if !a.has(k) {
		a.fail("missing %s", k)
		return 0
	}
	phys, logical, _ := strings.Cut(a.str(k), ".")
	p, err := strconv.ParseInt(phys, 10, 64)
	if err != nil {
		a.fail("%s: %w", k, err)
	}
	var l uint64
	if logical != "" {
		if l, err = strconv.ParseUint(logical, 10, 64); err != nil {
			a.fail("%s: %w", k, err)
		}
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
			if err != nil {
				a.fail("%s: %w", p, err)
			}
			a.pos = slices.Delete(a.pos, i, i+1)
			return table, n
		}
	}
	a.fail("missing table:pk")
	return "", 0
}

// columns takes every argument not read otherwise.
func (a *args) columns() Columns {
	known := []string{"p", "at", "ts", "e", "n", "d", "op", "off", "seen", "de", "ds"}
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

// done returns the first error, or names the arguments nothing read.
func (a *args) done() error {
	if a.err != nil {
		return a.err
	}
	for k := range a.kv {
		if !a.used[k] {
			return fmt.Errorf("unknown argument %s", k)
		}
	}
	if len(a.pos) > 0 {
		return fmt.Errorf("unknown arguments %v", a.pos)
	}
	return nil
}

// expectation is one expect line, checked against the result by
// checkExpect.
type expectation struct {
	line   string // as written
	what   string // verdict, example, reason, counter, recovery, stale-epoch or invariant
	name   string // the invariant, fault or epoch it is about
	anchor string // of a recovery: inject or heal
	want   string // the outcome, status or substring
	fields map[string]string
}

// parseExpectation parses the text after "expect".
func parseExpectation(line string) (expectation, error) {
	e := expectation{line: line}
	fs := strings.Fields(line)
	if len(fs) == 0 {
		return e, errors.New("empty expectation")
	}
	var err error
	switch head := fs[0]; {
	case strings.HasPrefix(head, "verdict="):
		e.what, e.want = "verdict", strings.TrimPrefix(head, "verdict=")
	case head == "example" && len(fs) >= 3:
		e.what, e.name, e.want = head, fs[1], strings.Join(fs[2:], " ")
	case head == "reason" && len(fs) >= 2:
		e.what, e.want = head, strings.Join(fs[1:], " ")
	case head == "counter" && len(fs) >= 2:
		e.what = head
		e.fields, err = keyValues(fs[1:])
	case head == "recovery" && len(fs) >= 3:
		e.what, e.name, e.anchor = head, fs[1], fs[2]
		e.fields, err = keyValues(fs[3:], "recovered", "duration", "peak", "within", "judged")
	case head == "stale-epoch" && len(fs) >= 2:
		e.what, e.name = head, fs[1]
		e.fields, err = keyValues(fs[2:], "rows", "watermarks", "window", "tolerated", "by")
	case strings.Contains(head, "="):
		e.what = "invariant"
		e.name, e.want, _ = strings.Cut(head, "=")
		e.fields, err = keyValues(fs[1:], "violations")
	default:
		return e, fmt.Errorf("bad expectation %q", line)
	}
	return e, err
}

// keyValues parses k=v fields; known, when given, lists the keys allowed.
func keyValues(fs []string, known ...string) (map[string]string, error) {
	m := map[string]string{}
	for _, f := range fs {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("%q: want key=value", f)
		}
		if len(known) > 0 && !slices.Contains(known, k) {
			return nil, fmt.Errorf("unknown field %s (want one of %v)", k, known)
		}
		m[k] = v
	}
	return m, nil
}
