package checker

import (
	"errors"
	"fmt"
	"time"
)

// ErrConfig is wrapped by every configuration error New reports.
var ErrConfig = errors.New("checker: invalid config")

const (
	// maxStep is the coarsest lag sampling the checker accepts.
	maxStep = 100 * time.Millisecond
	// maxPartition bounds partition ids; Kafka's are small and dense.
	maxPartition = 1 << 16
)

// Checker is the streaming accumulator. Feed it the upstream change log
// with AddChange and the consumed records with Add, then call Finish once.
//
// Obligations of the caller:
//   - Add records of one partition in offset order (partitions may
//     interleave freely);
//   - AddChange changes in commit_ts order;
//   - for memory proportional to keys rather than records, add each change
//     no later than the records that carry it (Feed does this from two
//     files). Records whose change has not been added yet are buffered
//     until it is (or until Finish), so any interleaving gives the same
//     counts and verdict.
//
// Each invariant has an accumulator of its own: lagRecovery,
// staleGenerations, completeness, orderCheck, honesty and bankBalances
// (which adds to honesty's verdict). Add checks once what they share (the
// record's changefeed, partition, offset and key) and feeds each the facts
// it needs; Finish asks each for its verdict. The order check sees a row
// first: the latency, the balances and, without a change log, honesty need
// to know whether the row is its key's newest. Completeness hands each row
// it matches to honesty.
//
// A Checker is not safe for concurrent use.
type Checker struct {
	cfg    Config
	stepMs int64

	names      names
	keys       keyIndex
	partitions []partitionInput // indexed by partition id
	// input collects inconsistencies in the recorded input.
	input violations

	records, rows, watermarks, foreign int64
	anyRecord                          bool
	firstMs, lastMs                    int64

	lag          lagRecovery
	latency      latency
	stale        staleGenerations
	order        orderCheck
	completeness completeness
	honesty      honesty
	bank         *bankBalances // nil without Config.Bank
	activity     activity

	finished bool
}

// partitionInput is what the checker knows of a partition's input.
type partitionInput struct {
	seen       bool
	hasOffset  bool
	lastOffset int64
}

// New validates cfg and returns an empty Checker.
func New(cfg Config) (*Checker, error) {
	if err := validate(&cfg); err != nil {
		return nil, err
	}
	c := &Checker{
		cfg:      cfg,
		stepMs:   cfg.Step.Milliseconds(),
		input:    violations{limit: cfg.MaxExamples},
		lag:      newLagRecovery(cfg.MaxExamples),
		activity: newActivity(),
	}
	c.keys = newKeyIndex(&c.names.tables)
	c.stale = newStaleGenerations(&c.cfg, &c.names.nodes)
	c.order = newOrderCheck(&c.keys, cfg.MaxExamples)
	c.honesty = newHonesty(&c.keys, &c.names.nodes, cfg.MaxExamples, cfg.NoWatermarkPromise)
	c.completeness = newCompleteness(&c.keys, &c.names.nodes, cfg.MaxExamples, &c.honesty, cfg.ExactlyOnce)
	for p := range cfg.Partitions {
		c.partition(int32(p))
	}
	if b := cfg.Bank; b != nil {
		c.bank = newBankBalances(*b, &c.keys)
	}
	return c, nil
}

// validate checks cfg and fills in its defaults.
func validate(cfg *Config) error {
	if cfg.Step == 0 {
		cfg.Step = maxStep
	}
	if cfg.Step < time.Millisecond || cfg.Step > maxStep {
		return fmt.Errorf("%w: step %v outside [1ms, %v]", ErrConfig, cfg.Step, maxStep)
	}
	s := cfg.SLOs
	if s.L < 0 || s.W < 0 || s.RecoveryBound < 0 || s.AllowedZombie < 0 {
		return fmt.Errorf("%w: negative SLO in %+v", ErrConfig, s)
	}
	if cfg.Partitions < 0 || cfg.Partitions > maxPartition {
		return fmt.Errorf("%w: %d partitions", ErrConfig, cfg.Partitions)
	}
	if b := cfg.Bank; b != nil && (b.Table == "" || b.Column == "") {
		return fmt.Errorf("%w: bank check needs a table and a column", ErrConfig)
	}
	for _, f := range cfg.Faults {
		if !f.Heal.IsZero() && f.Heal.Before(f.Inject) {
			return fmt.Errorf("%w: fault %q healed before it was injected", ErrConfig, f.ID)
		}
	}
	if cfg.MaxExamples <= 0 {
		cfg.MaxExamples = 10
	}
	return nil
}

// AddChange adds one upstream change. Changes must come in commit_ts order.
// It is ignored when the Config says there is no change log.
func (c *Checker) AddChange(ch Change) {
	if c.cfg.NoChangeLog || ch.CommitTs < c.cfg.StartTs {
		return
	}
	c.completeness.observeChange(&ch, &c.input)
}

// Add adds one consumed record.
func (c *Checker) Add(r Record) {
	if c.finished {
		panic("checker: Add after Finish")
	}
	if c.cfg.Changefeed != "" && r.Changefeed != "" && r.Changefeed != c.cfg.Changefeed {
		c.foreign++
		return
	}
	at := r.AppendTime.UnixMilli()
	if r.Partition < 0 || r.Partition >= maxPartition {
		c.inputError(at, "partition %d out of range", r.Partition)
		return
	}
	c.records++
	if !c.anyRecord || at < c.firstMs {
		c.firstMs = at
	}
	if !c.anyRecord || at > c.lastMs {
		c.lastMs = at
	}
	c.anyRecord = true

	p := c.partition(r.Partition)
	if p.hasOffset && r.Offset <= p.lastOffset {
		c.inputError(at, "partition %d offset %d after %d", r.Partition, r.Offset, p.lastOffset)
	}
	p.hasOffset, p.lastOffset = true, r.Offset

	node := c.names.nodes.id(r.Node)
	stale := c.stale.isStale(r.Epoch, at, &c.input)
	switch r.Kind {
	case KindRow:
		c.addRow(&r, at, node)
	case KindWatermark:
		c.addWatermark(&r, at, node)
	default:
		c.inputError(at, "partition %d offset %d has kind %v", r.Partition, r.Offset, r.Kind)
		return
	}
	c.activity.observe(node, r.Epoch, at, r.Kind, stale)
	c.stale.observe(&r, node, at, stale)
}

func (c *Checker) addWatermark(r *Record, at int64, node uint32) {
	c.watermarks++
	c.lag.observe(r.Partition, at, r.WatermarkTs)
	c.honesty.observeWatermark(r.Partition, r.WatermarkTs, r.Epoch, node, at)
}

func (c *Checker) addRow(r *Record, at int64, node uint32) {
	c.rows++
	k := c.keys.index(r.Table, r.PK)
	switch kp := &c.keys.partitions[k]; {
	case *kp < 0:
		*kp = r.Partition
	case *kp != r.Partition:
		c.inputError(at, "key %s in partitions %d and %d", c.keys.name(k), *kp, r.Partition)
	}
	if c.cfg.RowProgress {
		c.lag.observeProgress(r.Partition, at, r.CommitTs)
	}
	newest := c.order.observe(k, r, at, node, c.names.dispatchers.id(r.Dispatcher))
	c.latency.observe(at, r.CommitTs, newest)
	if c.bank != nil && newest {
		c.bank.observe(k, r, at, &c.input)
	}
	row := pendingRow{ts: r.CommitTs, epoch: r.Epoch, atMs: at, node: node, promise: c.honesty.promiseOf(r.Partition)}
	if c.cfg.NoChangeLog {
		// Without the change log a row is known to be a first copy only when
		// it raises its key's commit_ts.
		if newest {
			c.honesty.firstCopy(k, &row)
		}
		return
	}
	row.hash = rowHash(r.Op, r.Columns)
	c.completeness.observeRow(k, row)
}

// partition returns partition id's input state, marking it seen.
func (c *Checker) partition(id int32) *partitionInput {
	p := grownAt(&c.partitions, id)
	p.seen = true
	return p
}

func (c *Checker) inputError(at int64, format string, args ...any) {
	c.input.add("input", at, format, args...)
}
