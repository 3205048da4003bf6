package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/chaosrun/chaosrun/reports"
	"github.com/chaosrun/chaosrun/reports/result"
)

func newReportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "report <run-dir>",
		Short: "Re-render report.md, report.html and junit.xml from a run's result.json",
		Long: `Re-render the reports of a run directory from its result.json, the single
source of truth; nothing is recomputed (use "chaosrun check" for that).

Exit status is the stored verdict's: 0 pass, 1 fail, 3 inconclusive; 2 when
result.json is missing or unreadable.`,
		Example: `  chaosrun report runs/20260101-120000-owner-isolation`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if st, err := os.Stat(dir); err != nil || !st.IsDir() {
				return &exitError{code: exitHarnessError, err: fmt.Errorf("report: %s is not a run directory", dir)}
			}
			res, err := reports.RenderDir(dir)
			if errors.Is(err, fs.ErrNotExist) {
				return &exitError{code: exitHarnessError, err: fmt.Errorf("report: %s has no %s: run `chaosrun check %s` first",
					dir, result.FileName, dir)}
			}
			if err != nil {
				return &exitError{code: exitHarnessError, err: fmt.Errorf("report %s: %w", dir, err)}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "verdict: %s\nreports: %s %s %s\n", res.Verdict.Outcome,
				filepath.Join(dir, reports.MarkdownFile), filepath.Join(dir, reports.HTMLFile), filepath.Join(dir, reports.JUnitFile))
			return verdictExit(res)
		},
	}
}
