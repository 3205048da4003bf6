package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chaosrun/chaosrun/checker"
	"github.com/chaosrun/chaosrun/checker/rundir"
	"github.com/chaosrun/chaosrun/reports"
	"github.com/chaosrun/chaosrun/reports/result"
)

// Default SLOs of `chaosrun check` when neither a flag nor an earlier
// result.json gives one.
const (
	defaultSLOLag      = 2 * time.Second
	defaultSLOWindow   = 5 * time.Second
	defaultSLORecovery = 30 * time.Second
)

func newCheckCmd() *cobra.Command {
	var o checkOptions
	cmd := &cobra.Command{
		Use:   "check <run-dir>",
		Short: "Re-run the checker on a finished run's data and write result.json and the reports",
		Long: `Re-run the checker on a run directory (docs/run-dir.md): the Kafka records the
tailer dumped (sink-records.pb), the upstream change log, the epoch history,
the nodes' decision logs and the fault timeline. No cluster is needed. It
writes result.json, report.md, report.html and junit.xml into the directory
and prints the verdict.

The scenario, seed, fencing mode, changefeed, observed window and SLOs of an
existing result.json are kept unless a flag overrides them; without one the
SLO defaults below apply.

Exit status: 0 pass, 1 fail, 3 inconclusive, 2 when the directory or its
files cannot be read.`,
		Example: `  chaosrun check runs/20260101-120000-owner-isolation
  chaosrun check --slo-lag 1s --slo-window 3s --slo-recovery 20s runs/latest`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, args[0]) },
	}
	fl := cmd.Flags()
	fl.DurationVar(&o.slos.L, "slo-lag", defaultSLOLag, "L: sink lag at or below it is healthy")
	fl.DurationVar(&o.slos.W, "slo-window", defaultSLOWindow, "W: lag must stay ≤ L this long to count as recovered")
	fl.DurationVar(&o.slos.RecoveryBound, "slo-recovery", defaultSLORecovery, "bound on the recovery time after each heal (0: unbounded)")
	fl.DurationVar(&o.slos.AllowedZombie, "slo-zombie", 0, "how long an uninformed superseded generation may keep writing past the moment it could have learned (0: not judged; harmful acts are always judged)")
	fl.StringVar(&o.changefeed, "changefeed", "", "changefeed to check (default: the only one in epochs.json)")
	fl.Uint64Var(&o.startTs, "start-ts", 0, "changefeed start ts: earlier upstream changes are not expected in the topic")
	fl.StringVar(&o.bank, "bank", "", "check the bank workload's balance sum on <table>.<column>")
	fl.Int64Var(&o.bankInitial, "bank-initial", 0, "each account's balance before its first row (with --bank)")
	return cmd
}

// checkOptions are check's flags.
type checkOptions struct {
	slos        checker.SLOs
	changefeed  string
	startTs     uint64
	bank        string
	bankInitial int64
}

// run checks dir with the flags over what an earlier result.json says,
// writes every changefeed's reports and maps the verdict to the exit status.
func (o *checkOptions) run(cmd *cobra.Command, dir string) error {
	info, prev := previousRun(dir, cmd.ErrOrStderr())
	f := cmd.Flags()
	// A flag wins, then the earlier result, then the flag's default.
	pick := func(name string, flag time.Duration, prevMs int64) time.Duration {
		if prev != nil && !f.Changed(name) {
			return time.Duration(prevMs) * time.Millisecond
		}
		return flag
	}
	var ps result.SLOs
	if prev != nil {
		ps = prev.SLOs
	}
	run := checker.SLOs{
		L:             pick("slo-lag", o.slos.L, ps.LagMs),
		W:             pick("slo-window", o.slos.W, ps.StableMs),
		RecoveryBound: pick("slo-recovery", o.slos.RecoveryBound, ps.RecoveryBoundMs),
		AllowedZombie: pick("slo-zombie", o.slos.AllowedZombie, ps.AllowedZombieMs),
	}
	if f.Changed("changefeed") {
		info.Changefeed = o.changefeed
	}
	info.StartTs = o.startTs
	if o.bank != "" {
		table, column, ok := strings.Cut(o.bank, ".")
		if !ok || table == "" || column == "" {
			return &exitError{code: exitHarnessError, err: fmt.Errorf("--bank wants <table>.<column>, got %q", o.bank)}
		}
		info.Bank = &checker.BankConfig{Table: table, Column: column, Initial: o.bankInitial}
	}
	res, cfs, err := checkRunDir(dir, run, info)
	if err != nil {
		return &exitError{code: exitHarnessError, err: fmt.Errorf("check %s: %w", dir, err)}
	}
	for _, cf := range cfs {
		if err := reports.WriteDir(cf.Dir, cf.Result); err != nil {
			return &exitError{code: exitHarnessError, err: fmt.Errorf("check %s: %w", dir, err)}
		}
	}
	if err := reports.WriteDir(dir, res); err != nil {
		return &exitError{code: exitHarnessError, err: fmt.Errorf("check %s: %w", dir, err)}
	}
	printVerdict(cmd.OutOrStdout(), dir, res)
	return verdictExit(res)
}

// previousRun reads what an earlier result.json of dir says about the run;
// an unreadable one is reported on w and ignored.
func previousRun(dir string, w io.Writer) (rundir.Info, *result.Result) {
	var info rundir.Info
	prev, err := result.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return info, nil
	}
	if err != nil {
		fmt.Fprintf(w, "chaosrun: ignoring the earlier %s: %v\n", result.FileName, err)
		return info, nil
	}
	info.Run = checker.RunInfo{Scenario: prev.Scenario, Seed: prev.Seed, FencingMode: prev.FencingMode}
	info.Changefeed = prev.Changefeed
	info.NoWatermarkPromise, info.ExactlyOnce, info.RowProgress = prev.Judging.NoWatermarkPromise, prev.Judging.ExactlyOnce, prev.Judging.RowProgress
	info.Start, info.End = prev.Timings.Start, prev.Timings.End
	info.Phases = prev.Timings.Phases
	return info, prev
}

// printVerdict writes the verdict and one line per invariant.
func printVerdict(w io.Writer, dir string, r *result.Result) {
	fmt.Fprintf(w, "verdict: %s", r.Verdict.Outcome)
	if len(r.Verdict.Violated) > 0 {
		fmt.Fprintf(w, " (violated: %s)", strings.Join(r.Verdict.Violated, ", "))
	}
	fmt.Fprintln(w)
	for _, reason := range r.Verdict.Reasons {
		fmt.Fprintf(w, "  reason: %s\n", reason)
	}
	for _, inv := range r.Invariants {
		fmt.Fprintf(w, "  %-18s %-8s %s\n", inv.Name, inv.Status, inv.Summary)
	}
	for _, cf := range r.Changefeeds {
		fmt.Fprintf(w, "  changefeed %s: %s, %d records, max lag %s (%s)\n", cf.Changefeed, cf.Verdict.Outcome, cf.Records,
			time.Duration(cf.MaxLagMs)*time.Millisecond, filepath.Join(dir, cf.Dir, reports.HTMLFile))
	}
	fmt.Fprintf(w, "records %d, final lag %s, max lag %s\n", r.Counters.Records, msText(r.Lag.FinalLagMs, r.Lag.FinalDefined), msText(r.Lag.MaxLagMs, r.Lag.FirstDefinedMs >= 0))
	fmt.Fprintf(w, "reports: %s\n", strings.Join([]string{
		filepath.Join(dir, result.FileName), filepath.Join(dir, reports.MarkdownFile),
		filepath.Join(dir, reports.HTMLFile), filepath.Join(dir, reports.JUnitFile),
	}, " "))
}

func msText(ms int64, ok bool) string {
	if !ok {
		return "undefined"
	}
	return (time.Duration(ms) * time.Millisecond).String()
}

// verdictExit maps a verdict to the exit status shared by check and report.
func verdictExit(r *result.Result) error {
	switch r.Verdict.Outcome {
	case result.Pass:
		return nil
	case result.Fail:
		return &exitError{code: exitFail, err: fmt.Errorf("verdict fail: %s violated", strings.Join(r.Verdict.Violated, ", "))}
	case result.Inconclusive:
		return &exitError{code: exitInconclusive, err: fmt.Errorf("verdict inconclusive: %s", strings.Join(r.Verdict.Reasons, "; "))}
	default:
		return &exitError{code: exitHarnessError, err: fmt.Errorf("unknown verdict %q", r.Verdict.Outcome)}
	}
}

// checkGCPercent trades memory for CPU while a run directory is checked:
// decoding millions of records is allocation-heavy, and the collector
// running half as often costs about 25 MB more at 1M records and saves
// about a tenth of the CPU. $GOGC, when set, wins.
const checkGCPercent = 200

// checkRunDir runs rundir.CheckRun with checkGCPercent.
func checkRunDir(dir string, slos checker.SLOs, info rundir.Info) (*result.Result, []rundir.Changefeed, error) {
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(checkGCPercent))
	}
	return rundir.CheckRun(dir, slos, info)
}
