package rundir

import (
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
// SinkOffsetsFile), the dump holds fewer records than the topic did, or some
// records did not decode.
//
// Errors wrap ErrNotRunDir (dir or the dump missing), ErrInput (a file does
// not parse) or checker.ErrConfig.
func CheckRunDir(dir string, slos checker.SLOs, info Info) (*result.Result, error) {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w: %s does not exist", ErrNotRunDir, dir)
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrNotRunDir, err)
	case !st.IsDir():
		return nil, fmt.Errorf("%w: %s is not a directory", ErrNotRunDir, dir)
	}
	recf, err := os.Open(filepath.Join(dir, SinkRecordsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s has no %s (the Kafka tailer never ran there)", ErrNotRunDir, dir, SinkRecordsFile)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	defer recf.Close()
	records, tornRecords, err := completeLines(recf)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInput, SinkRecordsFile, err)
	}

	grants, _, err := LoadGrants(dir)
	if err != nil {
		return nil, err
	}
	faults, _, err := LoadFaults(dir)
	if err != nil {
		return nil, err
	}
	sortFaults(faults)
	decisions, err := LoadDecisions(dir)
	if err != nil {
		return nil, err
	}
	offsets, haveOffsets, err := LoadOffsets(dir)
	if err != nil {
		return nil, err
	}
	malformed, err := LoadMalformed(dir)
	if err != nil {
		return nil, err
	}

	var changes io.Reader
	logf, err := os.Open(filepath.Join(dir, ChangeLogPath))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	default:
		defer logf.Close()
		if changes, _, err = completeLines(logf); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInput, ChangeLogPath, err)
		}
	}

	cfg := checker.Config{
		Run:         info.Run,
		Changefeed:  info.Changefeed,
		SLOs:        slos,
		Partitions:  info.Partitions,
		Grants:      grants,
		Decisions:   decisions,
		Faults:      faults,
		Start:       info.Start,
		End:         info.End,
		Step:        info.Step,
		NoChangeLog: changes == nil,
		StartTs:     info.StartTs,
		Bank:        info.Bank,
		EnvErrors:   slices.Clone(info.EnvErrors),
	}
	if cfg.Changefeed == "" {
		cfg.Changefeed = onlyChangefeed(grants)
	}
	if cfg.Partitions == 0 && haveOffsets {
		cfg.Partitions = len(offsets.Partitions)
	}
	if !haveOffsets {
		cfg.EnvErrors = append(cfg.EnvErrors, fmt.Sprintf("the Kafka tailer never drained the topic (no %s): the record dump may be incomplete", SinkOffsetsFile))
	}
	if tornRecords {
		cfg.EnvErrors = append(cfg.EnvErrors, fmt.Sprintf("%s ends in a torn line: the tailer was killed while writing", SinkRecordsFile))
	}
	if n := len(malformed); n > 0 {
		m := malformed[0]
		cfg.EnvErrors = append(cfg.EnvErrors, fmt.Sprintf("%d records in the topic are not valid cdc records, first partition %d offset %d: %s",
			n, m.Partition, m.Offset, m.Error))
	}

	c, err := checker.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := feed(c, changes, records); err != nil {
		return nil, fmt.Errorf("%w: %s or %s: %w", ErrInput, SinkRecordsFile, ChangeLogPath, err)
	}
	res := c.Finish()
	res.Timings.Phases = info.Phases

	if haveOffsets {
		// NB: after Finish, so that the records actually read are compared.
		got := res.Counters.Records + res.Counters.Foreign + int64(len(malformed))
		if want := offsets.Total(); got < want {
			res.Verdict = checker.Decide(res.Invariants, append(res.Verdict.Reasons,
				fmt.Sprintf("environment: the record dump holds %d of the %d records the topic %s had when it was drained", got, want, offsets.Topic)))
		}
	}
	return res, nil
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
