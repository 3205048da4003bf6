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
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaosrun:", err)
	}
	os.Exit(exitCode(err))
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
