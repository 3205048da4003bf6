// Command chaosrun runs chaos scenarios against a multi-process CDC control
// plane that writes to a real Apache Kafka sink, and reports how fast the
// sink lag recovers and whether stale generations stopped acting.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes shared by every subcommand.
const (
	exitPass         = 0
	exitFail         = 1
	exitHarnessError = 2
	exitInconclusive = 3
)

// exitError carries a specific exit code out of a subcommand.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// subcommands lists the constructors of every subcommand, registered
// explicitly here (one line each) rather than in init functions.
var subcommands = []func() *cobra.Command{
	newKafkaCmd,
	newMetaCmd,
	newUpstreamCmd,
	newListCmd,
	newCleanCmd,
	newNodeCmd,
	newUpCmd,
	newRunCmd,
	newCompareCmd,
	newSweepCmd,
	newCheckCmd,
	newReportCmd,
	newDumpCmd,
	newSoakCmd,
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "chaosrun",
		Short: "Chaos tests for CDC control planes that write to Kafka",
		Long: `chaosrun runs a real multi-process CDC cluster that replicates a live workload
into Apache Kafka, partitions the owner node away and heals it, and measures
at the sink how fast lag recovers and whether stale generations stopped acting.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	for _, mk := range subcommands {
		root.AddCommand(mk())
	}
	return root
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	endProfile := startCPUProfile(os.Getenv(cpuProfileEnv))
	err := newRootCmd().ExecuteContext(ctx)
	endProfile()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaosrun:", err)
	}
	os.Exit(exitCode(err))
}

// cpuProfileEnv names a directory where every chaosrun process of a run
// (harness, nodes, upstream, meta) writes its CPU profile, <pid>.pprof, when
// it exits: the way to see where a multi-process pipeline spends its time.
const cpuProfileEnv = "CHAOSRUN_CPUPROFILE_DIR"

// startCPUProfile starts profiling into dir ("" does nothing) and returns
// the function that ends it. A profile that cannot start is reported, not
// fatal.
func startCPUProfile(dir string) func() {
	if dir == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%d.pprof", os.Getpid())))
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaosrun: cpu profile:", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}

// exitCode is the exit status of a command that returned err: exitPass for
// nil, the code an exitError carries, and exitHarnessError for any other
// error.
func exitCode(err error) int {
	if err == nil {
		return exitPass
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitHarnessError
}
