package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/chaosrun/chaosrun/fencing"
	"github.com/chaosrun/chaosrun/reports/result"
	"github.com/chaosrun/chaosrun/scenario"
)

func newCompareCmd() *cobra.Command {
	var (
		f      runFlags
		matrix bool
	)
	cmd := &cobra.Command{
		Use:   "compare <scenario|file.yaml>",
		Short: "Run the same concrete plan with fencing on and off and compare them side by side",
		Long: `Run one concrete fault plan twice — nodes with --fencing=epoch (the fix) and
with --fencing=off (the behaviour before it) — and, with --matrix, a third time
with fencing on plus self-fence. Each run gets its own directory under the output
directory; compare.md and compare.html put recovery times, zombie windows,
stale accepts, lost and duplicate rows and the lag charts side by side.

Every scenario declares what each arm must show (expect: on pass, off fail by
default; off pass only with a reason). The verdict says whether the runs met that
declaration: the known-bad control plane (fencing off) flagged, the fixed one
passing. If fencing off is not flagged, the comparison says so; it never forces
a failure.

Exit status: 0 declaration met, 1 not met, 3 a run was inconclusive,
2 harness or input error.`,
		Example: `  chaosrun compare owner-isolation
  chaosrun compare owner-isolation --matrix --backend toxiproxy`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f.seedSet = cmd.Flags().Changed("seed")
			p, err := f.plan(cmd, args)
			if err != nil {
				return err
			}
			dir := f.out
			if dir == "" {
				dir = defaultRunDir("compare-" + p.Scenario.Name)
			}
			type arm struct {
				name      string
				policy    fencing.Policy
				selfFence bool
			}
			arms := []arm{{"epoch", fencing.Epoch, false}, {"off", fencing.Off, false}}
			if matrix {
				arms = append(arms, arm{"epoch+self-fence", fencing.Epoch, true})
			}
			out := cmd.OutOrStdout()
			var done []scenario.Arm
			inconclusive := false
			for _, a := range arms {
				opt := f.options(cmd, p, filepath.Join(dir, a.name), a.policy, a.selfFence)
				fmt.Fprintf(out, "== %s: running %s (seed %d) in %s\n", a.name, p.Scenario.Name, p.Seed, opt.Dir)
				res, err := scenario.Run(cmd.Context(), opt)
				if err != nil {
					return &exitError{code: exitHarnessError, err: fmt.Errorf("%s run: %w", a.name, err)}
				}
				fmt.Fprintf(out, "== %s: verdict %s\n", a.name, res.Verdict.Outcome)
				inconclusive = inconclusive || res.Verdict.Outcome == result.Inconclusive
				done = append(done, scenario.Arm{Name: a.name, Dir: opt.Dir, Outcome: res})
			}
			backend := f.backend
			if backend == "" {
				backend = scenario.DefaultBackend()
			}
			expect := p.Scenario.WithDefaults().Expect.ForBackend(backend)
			if err := scenario.WriteComparison(dir, p, expect, done); err != nil {
				return &exitError{code: exitHarnessError, err: err}
			}
			fmt.Fprintf(out, "comparison: %s\n", filepath.Join(dir, "compare.html"))
			switch {
			case inconclusive:
				return &exitError{code: exitInconclusive, err: errors.New("a run was inconclusive")}
			case scenario.Discriminated(expect, done):
				fmt.Fprintf(out, "the harness met the declaration on %s: fencing on %s, fencing off %s\n", backend, expect.On, expect.Off)
				return nil
			default:
				return &exitError{code: exitFail, err: fmt.Errorf("the verdicts did not match the scenario's declaration on %s (fencing on %s, fencing off %s)", backend, expect.On, expect.Off)}
			}
		},
	}
	f.register(cmd, false)
	cmd.Flags().BoolVar(&matrix, "matrix", false, "also run fencing on with self-fence")
	return cmd
}
