package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/chaosrun/chaosrun/chaos"
	"github.com/chaosrun/chaosrun/system/cluster"
)

// newCleanCmd is `chaosrun clean [run-dir] [--all]`: undo whatever a
// crashed run left behind, from its fault ledger and by name.
func newCleanCmd() *cobra.Command {
	var all, dryRun, force, asJSON, verbose bool
	cmd := &cobra.Command{
		Use:   "clean [run-dir|sweep-dir] [--all]",
		Short: "Undo what a crashed run left: rules, namespaces, veths, bridge, processes, proxies",
		Long: `clean reads <run-dir>/faults.ledger.jsonl and undoes what the run left behind:
it resumes processes a pause fault stopped, kills the processes the run started
(only if pid AND start time still match, so a reused pid is never killed),
deletes the run's iptables rules and chain, the members' certificates and keys, its network namespaces (and the
veths in them), its hub namespace (and the bridge), and reports the proxies of
the in-process toxiproxy server, which ended with the harness.

Given a directory of many runs (a sweep's, a soak's, a comparison's), it cleans
every run directory under it, and a sweep's shared Kafka (<sweep>/kafka-netns).

--all needs no ledger: it removes every namespace and link named with a chaosrun
run id (cr-<run>-*, crb-<run>, crv-<run>-*), killing the processes inside those
namespaces, and every root-namespace iptables rule tagged "chaosrun:". Nothing
without a run id is ever touched. clean is idempotent and prints what it did.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && !all {
				return &exitError{code: exitHarnessError, err: errors.New("clean: give a run directory or --all")}
			}
			level := slog.LevelWarn
			if verbose {
				level = slog.LevelInfo
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			var dirs []string
			if len(args) == 1 {
				var err error
				if dirs, err = runDirsIn(args[0]); err != nil {
					return &exitError{code: exitHarnessError, err: err}
				}
			}
			rep, err := cleanDirs(cmd, dirs, chaos.CleanOptions{All: all, DryRun: dryRun, Force: force, Logger: log})
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if jerr := enc.Encode(rep); jerr != nil {
					err = errors.Join(err, jerr)
				}
			} else {
				for _, a := range rep.Actions {
					fmt.Fprintln(out, a)
				}
				if len(rep.Actions) == 0 && err == nil {
					fmt.Fprintln(out, "nothing to clean")
				}
			}
			if err != nil {
				return &exitError{code: exitHarnessError, err: err}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&all, "all", false, "also remove everything named or tagged with any chaosrun run id")
	f.BoolVar(&dryRun, "dry-run", false, "print what would be cleaned and change nothing")
	f.BoolVar(&force, "force", false, "clean even if the run's harness process is still alive")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.BoolVarP(&verbose, "verbose", "v", false, "log each action to stderr")
	return cmd
}

// runDirsIn returns dir when it is a run directory (it holds a fault
// ledger), else every run directory under it; none is an error.
func runDirsIn(dir string) ([]string, error) {
	if _, err := chaos.ParseCleanTarget(dir); err == nil {
		return []string{dir}, nil
	}
	var dirs []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name() == chaos.LedgerFile {
			dirs = append(dirs, filepath.Dir(path))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("clean: %w", err)
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("clean: %s is not a run directory and holds none (no %s under it)", dir, chaos.LedgerFile)
	}
	return dirs, nil
}

// cleanDirs cleans each run directory (and, with opts.All, everything named
// with a run id), one report for all.
func cleanDirs(cmd *cobra.Command, dirs []string, opts chaos.CleanOptions) (chaos.CleanReport, error) {
	var (
		rep  chaos.CleanReport
		errs []error
	)
	if len(dirs) == 0 {
		dirs = []string{""} // --all alone
	}
	for i, dir := range dirs {
		o := opts
		o.RunDir = dir
		o.All = opts.All && i == len(dirs)-1 // once, after the ledgers
		r, err := chaos.Clean(cmd.Context(), o)
		if err == nil && dir != "" {
			err = removeCerts(dir, opts.DryRun, &r)
		}
		rep.Actions = append(rep.Actions, r.Actions...)
		if err != nil && len(dirs) > 1 {
			err = fmt.Errorf("%s: %w", dir, err)
		}
		errs = append(errs, err)
	}
	return rep, errors.Join(errs...)
}

// removeCerts removes the member certificates and keys of the crashed run
// in runDir, which the cluster removes itself when it stops.
func removeCerts(runDir string, dryRun bool, rep *chaos.CleanReport) error {
	dir := cluster.CertDir(runDir)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	action := chaos.ActionWould
	if !dryRun {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("clean: remove certificates: %w", err)
		}
		action = chaos.ActionRemoved
	}
	rep.Actions = append(rep.Actions, chaos.CleanAction{Kind: "certificates", Name: dir, Action: action})
	return nil
}
