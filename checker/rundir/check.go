package rundir

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/chaosrun/chaosrun/checker"
	"github.com/chaosrun/chaosrun/reports/result"
)

// Info is what the runner knows about a run beyond its files; every field
// is optional.
type Info struct {
	// Run names the scenario, seed and fencing mode for the Result.
	Run checker.RunInfo
	// Changefeed selects the changefeed to check; "" means the only one the
	// epoch history names (records of other changefeeds are then counted as
	// foreign).
	Changefeed string
	// SinkDir holds the changefeed's sink files (SinkRecordsFile and the
	// tailer's others); "" means the run directory.
	SinkDir string
	// Partitions is the topic's partition count; 0 means the count the
	// tailer recorded in SinkOffsetsFile, else the partitions seen.
	Partitions int
	// StartTs is the changefeed's start ts: earlier changes are not expected
	// in the topic.
	StartTs uint64
	// Start and End bound the observed window; zero means the first and last
	// append time in the dump.
	Start, End time.Time
	// Step is the lag sampling interval; 0 means 100 ms.
	Step time.Duration
	// Bank enables the balance-sum check of the bank workload.
	Bank *checker.BankConfig
	// NoWatermarkPromise is checker.Config.NoWatermarkPromise: the
	// target's watermarks are progress signals, not promises.
	NoWatermarkPromise bool
	// ExactlyOnce is checker.Config.ExactlyOnce: duplicates are violations.
	ExactlyOnce bool
	// RowProgress is checker.Config.RowProgress: rows are progress marks.
	RowProgress bool
	// EnvErrors are environment failures the runner saw; any makes the run
	// inconclusive.
	EnvErrors []string
	// Phases are the runner's named stretches, copied into the Result.
	Phases []result.Phase
}

// CheckRunDir runs the checker over the run directory dir: the tailer's
// dump of the topic (required), the upstream change log, the epoch history,
// the decision logs and the fault timeline (each optional: a missing one
// skips what needs it). It streams the dump and the change log, so memory
// follows the number of keys, not records.
//
// Besides the checker's own reasons, the run is inconclusive when the dump
// is not known to be complete: the tailer never drained the topic (no
// SinkOffsetsFile), the dump holds fewer records than the topic did or ends
// in a torn record, or some records did not decode.
//
// Errors wrap ErrNotRunDir (dir or the dump missing), ErrInput (a file does
// not parse) or checker.ErrConfig.
func CheckRunDir(dir string, slos checker.SLOs, info Info) (*result.Result, error) {
	in, err := openInputs(dir, cmp.Or(info.SinkDir, dir))
	if err != nil {
		return nil, err
	}
	defer in.close()
	c, err := checker.New(in.config(slos, info))
	if err != nil {
		return nil, err
	}
	torn, err := feed(c, in.changes, in.records, in.writerIndex())
	if err != nil {
		return nil, fmt.Errorf("%w: %s or %s: %w", ErrInput, SinkRecordsFile, ChangeLogPath, err)
	}
	res := c.Finish()
	res.Timings.Phases = info.Phases
	if torn {
		// NB: known only once the dump is read, so not among the Config's
		// environment errors.
		addEnvError(res, fmt.Sprintf("%s ends in a torn record: the tailer was killed while writing", SinkRecordsFile))
	}
	in.judgeDumpComplete(res)
	in.addWriters(res)
	return res, nil
}

// inputs are a run directory's files, opened or read for one check.
type inputs struct {
	records     io.Reader // the dump
	changes     io.Reader // the change log's complete lines; nil without one
	grants      []checker.EpochGrant
	faults      []checker.FaultEvent
	decisions   []checker.DecisionEntry
	offsets     SinkOffsets
	haveOffsets bool
	writers     SinkWriters
	haveWriters bool
	malformed   []Malformed
	files       []*os.File
}

// openInputs opens the dump (in sinkDir) and the change log and reads the
// small files.
func openInputs(dir, sinkDir string) (*inputs, error) {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w: %s does not exist", ErrNotRunDir, dir)
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrNotRunDir, err)
	case !st.IsDir():
		return nil, fmt.Errorf("%w: %s is not a directory", ErrNotRunDir, dir)
	}
	in := &inputs{}
	if err := in.openDump(sinkDir); err != nil {
		in.close()
		return nil, err
	}
	if err := in.readSmallFiles(dir, sinkDir); err != nil {
		in.close()
		return nil, err
	}
	if err := in.openChangeLog(dir); err != nil {
		in.close()
		return nil, err
	}
	return in, nil
}

func (in *inputs) openDump(dir string) error {
	f, err := os.Open(filepath.Join(dir, SinkRecordsFile))
	if errors.Is(err, fs.ErrNotExist) {
		if _, jerr := os.Stat(filepath.Join(dir, legacyRecordsFile)); jerr == nil {
			return fmt.Errorf("%w: %s holds %s, the JSON-lines dump that chaosrun wrote before %s; check it with the chaosrun that wrote it",
				ErrNotRunDir, dir, legacyRecordsFile, SinkRecordsFile)
		}
		return fmt.Errorf("%w: %s has no %s (the Kafka tailer never ran there)", ErrNotRunDir, dir, SinkRecordsFile)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInput, err)
	}
	in.files = append(in.files, f)
	in.records = f
	return nil
}

func (in *inputs) readSmallFiles(dir, sinkDir string) error {
	var err error
	if in.grants, _, err = LoadGrants(dir); err != nil {
		return err
	}
	if in.faults, _, err = LoadFaults(dir); err != nil {
		return err
	}
	sortFaults(in.faults)
	if in.decisions, err = LoadDecisions(dir); err != nil {
		return err
	}
	if in.offsets, in.haveOffsets, err = LoadOffsets(sinkDir); err != nil {
		return err
	}
	if in.writers, in.haveWriters, err = LoadWriters(sinkDir); err != nil {
		return err
	}
	in.malformed, err = LoadMalformed(sinkDir)
	return err
}

// openChangeLog opens the upstream change log; a run without one is checked
// without it.
func (in *inputs) openChangeLog(dir string) error {
	f, err := os.Open(filepath.Join(dir, ChangeLogPath))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("%w: %w", ErrInput, err)
	}
	in.files = append(in.files, f)
	if in.changes, _, err = completeLines(f); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInput, ChangeLogPath, err)
	}
	return nil
}

func (in *inputs) close() {
	for _, f := range in.files {
		f.Close()
	}
}

// config is the checker's configuration for these inputs, with what makes
// the dump untrustworthy as environment errors.
func (in *inputs) config(slos checker.SLOs, info Info) checker.Config {
	cfg := checker.Config{
		Run:                info.Run,
		Changefeed:         info.Changefeed,
		SLOs:               slos,
		Partitions:         info.Partitions,
		Grants:             in.grants,
		Decisions:          in.decisions,
		Faults:             in.faults,
		Start:              info.Start,
		End:                info.End,
		Step:               info.Step,
		NoChangeLog:        in.changes == nil,
		StartTs:            info.StartTs,
		Bank:               info.Bank,
		NoWatermarkPromise: info.NoWatermarkPromise,
		ExactlyOnce:        info.ExactlyOnce,
		RowProgress:        info.RowProgress,
		EnvErrors:          slices.Clone(info.EnvErrors),
	}
	if cfg.Changefeed == "" {
		cfg.Changefeed = onlyChangefeed(in.grants)
	}
	if cfg.Partitions == 0 && in.haveOffsets {
		cfg.Partitions = len(in.offsets.Partitions)
	}
	if !in.haveOffsets {
		cfg.EnvErrors = append(cfg.EnvErrors, fmt.Sprintf("the Kafka tailer never drained the topic (no %s): the record dump may be incomplete", SinkOffsetsFile))
	}
	if n := len(in.malformed); n > 0 {
		m := in.malformed[0]
		cfg.EnvErrors = append(cfg.EnvErrors, fmt.Sprintf("%d records in the topic are not valid cdc records, first partition %d offset %d: %s",
			n, m.Partition, m.Offset, m.Error))
	}
	return cfg
}

// judgeDumpComplete makes res inconclusive when the dump held fewer records
// than the topic had when the tailer drained it, or, for a read_committed
// dump, when a partition's position had not reached its last stable offset
// or the dump holds fewer records than the tailer wrote. NB: after Finish,
// so that the records actually read are compared.
func (in *inputs) judgeDumpComplete(res *result.Result) {
	if !in.haveOffsets {
		return
	}
	got := res.Counters.Records + res.Counters.Foreign + int64(len(in.malformed)) + in.offsets.Skipped
	if in.offsets.Sparse() {
		// NB: offsets have gaps; the position tells, and the dump must hold
		// what the tailer wrote.
		for _, p := range in.offsets.Partitions {
			if p.High > p.Oldest && p.Next < p.High {
				addEnvError(res, fmt.Sprintf("the tailer read partition %d of %s up to offset %d of the last stable offset %d when it was drained (read_committed)",
					p.Partition, in.offsets.Topic, p.Next, p.High))
			}
		}
		if want := in.offsets.Records + in.offsets.Malformed + in.offsets.Skipped; got < want {
			addEnvError(res, fmt.Sprintf("the record dump holds %d of the %d records the tailer read from the topic %s (read_committed)", got, want, in.offsets.Topic))
		}
		return
	}
	if want := in.offsets.Total(); got < want {
		addEnvError(res, fmt.Sprintf("the record dump holds %d of the %d records the topic %s had when it was drained", got, want, in.offsets.Topic))
	}
}

// addWriters copies the tailer's writer scan into res, and makes res
// inconclusive when the scan is incomplete or its records do not add up to
// what the tailer consumed: Σ visible for a read_committed tailer, Σ
// attempted for one that read uncommitted records too.
func (in *inputs) addWriters(res *result.Result) {
	if !in.haveWriters {
		return
	}
	start := res.Timings.Start
	for _, w := range in.writers.Writers {
		res.SinkWriters = append(res.SinkWriters, result.SinkWriter{
			ProducerID: w.ProducerID, Epoch: w.Epoch, Transactional: w.Transactional,
			Attempted: w.Attempted, Visible: w.Visible, Aborted: w.Aborted, VisibleAfterFenced: w.VisibleAfterFenced,
			FirstAppend: w.FirstAppend, FirstMs: w.FirstAppend.Sub(start).Milliseconds(),
			LastAppend: w.LastAppend, LastMs: w.LastAppend.Sub(start).Milliseconds(),
		})
	}
	attempted, visible, aborted := in.writers.Totals()
	res.Counters.Attempted, res.Counters.Aborted = attempted, aborted
	for _, w := range in.writers.Writers {
		res.Counters.VisibleAfterFenced += w.VisibleAfterFenced
	}
	if in.writers.Error != "" {
		addEnvError(res, fmt.Sprintf("the writer scan of %s is incomplete (%s): its counts cover part of the topic", in.writers.Topic, in.writers.Error))
		return
	}
	if !in.haveOffsets {
		return
	}
	consumed := in.offsets.Records + in.offsets.Malformed + in.offsets.Skipped
	if in.offsets.Sparse() {
		if visible != consumed {
			addEnvError(res, fmt.Sprintf("the writer scan of %s finds %d visible records where the read_committed tailer consumed %d", in.writers.Topic, visible, consumed))
		}
		return
	}
	if attempted != consumed {
		addEnvError(res, fmt.Sprintf("the writer scan of %s finds %d records where the tailer consumed %d", in.writers.Topic, attempted, consumed))
	}
}

// addEnvError adds an environment error found after Finish to res's
// reasons, as the checker reports a Config.EnvErrors entry, and decides the
// verdict again.
func addEnvError(res *result.Result, e string) {
	res.Verdict = checker.Decide(res.Invariants, append(res.Verdict.Reasons, "environment: "+e))
}

// onlyChangefeed returns the changefeed the grants name if they name
// exactly one.
func onlyChangefeed(grants []checker.EpochGrant) string {
	name := ""
	for _, g := range grants {
		switch {
		case g.Changefeed == "" || g.Changefeed == name:
		case name == "":
			name = g.Changefeed
		default:
			return ""
		}
	}
	return name
}

// writerIndex attributes the dump's records to the writers the writer scan
// found, for targets whose records name no writer (nil without a scan).
func (in *inputs) writerIndex() WriterIndex {
	if !in.haveWriters {
		return nil
	}
	return in.writers.Index()
}
