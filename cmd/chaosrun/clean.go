package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/chaosrun/chaosrun/chaos"
	"github.com/chaosrun/chaosrun/system/cluster"
)

// newCleanCmd is `chaosrun clean [run-dir] [--all]`: undo whatever a
// crashed run left behind, from its fault ledger and by name.
func newCleanCmd() *cobra.Command {
	var all, dryRun, force, asJSON, verbose bool
	cmd := &cobra.Command{
		Use:   "clean [run-dir] [--all]",
		Short: "Undo what a crashed run left: rules, namespaces, veths, bridge, processes, proxies",
		Long: `clean reads <run-dir>/faults.ledger.jsonl and undoes what the run left behind:
it resumes processes a pause fault stopped, kills the processes the run started
(only if pid AND start time still match, so a reused pid is never killed),
deletes the run's iptables rules and chain, the members' certificates and keys, its network namespaces (and the
veths in them), its hub namespace (and the bridge), and reports the proxies of
the in-process toxiproxy server, which ended with the harness.

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
			opts := chaos.CleanOptions{}
			if len(args) == 1 {
				var err error
				if opts, err = chaos.ParseCleanTarget(args[0]); err != nil {
					return &exitError{code: exitHarnessError, err: err}
				}
			}
			opts.All, opts.DryRun, opts.Force = all, dryRun, force
			opts.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			rep, err := chaos.Clean(cmd.Context(), opts)
			if err == nil && opts.RunDir != "" {
				err = removeCerts(opts.RunDir, dryRun, &rep)
			}
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
