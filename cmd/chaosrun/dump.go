package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/chaosrun/chaosrun/checker"
	"github.com/chaosrun/chaosrun/checker/rundir"
)

func newDumpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "dump <run-dir>",
		Short: "Print the Kafka records a run's tailer dumped, as JSON lines",
		Long: `Print the record dump of a run directory (` + rundir.SinkRecordsFile + `, length-delimited
protobuf) on stdout, one JSON object per record in consumption order, for jq
and friends. The argument may also be the dump file itself.

The fields are checker.Record's: partition, offset, append_time (RFC 3339),
kind ("row" or "watermark"), changefeed, node and epoch on every record; table,
pk, op, commit_ts, columns, dispatcher, seen, dispatcher_epoch and
dispatcher_seen on rows; watermark_ts and seen on watermarks. Fields with a
zero value are left out, except partition, offset, append_time, kind, epoch
and node.

A dump that ends inside a record (the tailer was killed while writing) is
printed up to its last complete record, with a note on stderr.

Exit status: 0 when the dump was printed, 2 when it cannot be read.`,
		Example: `  chaosrun dump runs/latest | jq -c 'select(.kind == "watermark" and .partition == 0)'
  chaosrun dump runs/latest | jq -r 'select(.kind == "row") | [.offset, .epoch, .node, .table, .pk] | @tsv'
  chaosrun dump runs/latest | jq -s 'group_by(.epoch) | map({epoch: .[0].epoch, records: length})'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			if st, err := os.Stat(path); err == nil && st.IsDir() {
				path = filepath.Join(path, rundir.SinkRecordsFile)
			}
			f, err := os.Open(path)
			if err != nil {
				return &exitError{code: exitHarnessError, err: fmt.Errorf("dump: %w", err)}
			}
			defer f.Close()
			w := bufio.NewWriterSize(cmd.OutOrStdout(), 1<<16)
			var line []byte
			err = checker.ReadDump(f, func(r checker.Record) error {
				line = append(checker.AppendRecordJSON(line[:0], &r), '\n')
				_, err := w.Write(line)
				return err
			})
			torn := errors.Is(err, checker.ErrTornDump)
			if torn {
				err = nil
			}
			if ferr := w.Flush(); err == nil {
				err = ferr
			}
			if err != nil {
				return &exitError{code: exitHarnessError, err: fmt.Errorf("dump %s: %w", path, err)}
			}
			if torn {
				fmt.Fprintf(cmd.ErrOrStderr(), "chaosrun: %s ends in a torn record (the tailer was killed while writing); the complete records were printed\n", path)
			}
			return nil
		},
	}
}
