package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/chaosrun/chaosrun/fencing"
	"github.com/chaosrun/chaosrun/system/cluster"
	"github.com/chaosrun/chaosrun/system/meta"
	"github.com/chaosrun/chaosrun/system/node"
	"github.com/chaosrun/chaosrun/system/upstream"
	"github.com/chaosrun/chaosrun/workloads"
)

// upOptions are the flags of chaosrun up.
type upOptions struct {
	dir, workload, fencingFlag string
	sink                       string
	nodes, tables, brokers     int
	rate                       float64
	ttl                        time.Duration
	selfFence                  bool
}

func newUpCmd() *cobra.Command {
	var o upOptions
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start a CDC cluster writing to Kafka and show its live status until Ctrl-C",
		Long: `Start Kafka (local KRaft brokers), the meta store (etcd), the upstream source and
N CDC nodes, each its own process; create changefeed "cf1" over every table; run
a workload; and print a live status line (owner, epoch, checkpoint lag, rows/s)
until Ctrl-C. Then everything is torn down and the log directory is printed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	o.flags(cmd)
	return cmd
}

func (o *upOptions) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.dir, "out", "", "run directory (default runs/<timestamp>-up)")
	f.IntVar(&o.nodes, "nodes", 3, "number of CDC nodes")
	f.IntVar(&o.tables, "tables", 2, "number of upstream tables")
	f.IntVar(&o.brokers, "brokers", 1, "Kafka brokers (1 or 3)")
	f.StringVar(&o.workload, "workload", "append", "workload: append, bank or hotkey")
	f.Float64Var(&o.rate, "rate", 1000, "workload transactions per second")
	f.DurationVar(&o.ttl, "ttl", 5*time.Second, "capture lease TTL")
	f.StringVar(&o.fencingFlag, "fencing", "epoch", "fencing policy: epoch or off")
	f.StringVar(&o.sink, "sink", "idempotent", "sink mode of the nodes: idempotent, or txn (a transactional producer per table span and one for watermarks)")
	f.BoolVar(&o.selfFence, "self-fence", false, "nodes stop everything and rejoin as new nodes on etcd session loss")
}

// run starts the cluster and its changefeed, drives it until ctx is done and
// tears it down.
func (o *upOptions) run(cmd *cobra.Command) error {
	p, err := fencing.ParsePolicy(o.fencingFlag)
	if err != nil {
		return &exitError{code: exitHarnessError, err: err}
	}
	sink, err := node.ParseSinkMode(o.sink)
	if err != nil {
		return &exitError{code: exitHarnessError, err: err}
	}
	if _, err := workloads.New(o.workload, workloads.Options{}); err != nil {
		return &exitError{code: exitHarnessError, err: err}
	}
	dir, err := makeDir(o.dir, "up")
	if err != nil {
		return &exitError{code: exitHarnessError, err: err}
	}
	out := cmd.OutOrStdout()
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	fmt.Fprintf(out, "starting %d nodes, %d Kafka broker(s), fencing=%s, sink=%s in %s\n", o.nodes, o.brokers, p, sink, dir)
	ctx := cmd.Context()
	sctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	spec := cluster.Spec{Dir: dir, Nodes: o.nodes, Tables: o.tables, SessionTTL: o.ttl, Policy: p, SelfFence: o.selfFence, Sink: sink, Logger: log}
	spec.Kafka.Local.Brokers = o.brokers
	c, err := cluster.Start(sctx, spec)
	if err != nil {
		return &exitError{code: exitHarnessError, err: err}
	}
	defer func() {
		fmt.Fprintln(out, "\nstopping the cluster...")
		if err := c.Close(); err != nil {
			fmt.Fprintln(cmd.ErrOrStderr(), "teardown:", err)
		}
		fmt.Fprintf(out, "stopped; logs are in %s\n", filepath.Join(dir, "logs"))
	}()
	if err := c.CreateChangefeed(sctx, "cf1", upstream.TableNames(o.tables), 0); err != nil {
		return &exitError{code: exitHarnessError, err: err}
	}
	fmt.Fprintf(out, "kafka %v, meta %s, upstream %s; changefeed cf1 -> topic cf1\n", c.Brokers, c.MetaEndpoint(), c.UpstreamAddr())
	fmt.Fprintf(out, "meta and upstream speak mutual TLS: present %s/%s.pem and .key, trust %s/ca.pem (removed at stop)\n",
		c.TLSDir(), cluster.Harness, c.TLSDir())
	return o.drive(ctx, out, c, dir)
}

// drive runs the workload on c, its history kept in dir, and prints the
// cluster's status until ctx is done; then it stops the workload.
func (o *upOptions) drive(ctx context.Context, out io.Writer, c *cluster.Cluster, dir string) error {
	w, _ := workloads.New(o.workload, workloads.Options{Tables: o.tables})
	hist, err := workloads.CreateHistory(filepath.Join(dir, "history.jsonl"))
	if err != nil {
		return &exitError{code: exitHarnessError, err: err}
	}
	defer hist.Close()
	var stats workloads.Stats
	wctx, wcancel := context.WithCancel(ctx)
	werr := make(chan error, 1)
	go func() {
		werr <- workloads.Run(wctx, w, cluster.WorkloadStore{Client: c.Up}, workloads.Config{Rate: o.rate, Workers: 8, History: hist, Stats: &stats})
	}()
	defer func() { wcancel(); <-werr }()
	statusLoop(ctx, out, c.Store, &stats)
	return nil
}

// statusLoop prints the cluster status every second until ctx is done: one
// updating line on a terminal, timestamped lines otherwise.
func statusLoop(ctx context.Context, out io.Writer, store *meta.Store, stats *workloads.Stats) {
	tty := false
	if f, ok := out.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastRows int64
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			_, _, _, _, rows := stats.Snapshot()
			rps := float64(rows-lastRows) / now.Sub(last).Seconds()
			lastRows, last = rows, now
			line := clusterStatus(ctx, store) + fmt.Sprintf(" rows/s=%.0f", rps)
			if tty {
				fmt.Fprintf(out, "\r\033[K%s", line)
			} else {
				fmt.Fprintf(out, "%s %s\n", now.Format(time.TimeOnly), line)
			}
		}
	}
}

func clusterStatus(ctx context.Context, store *meta.Store) string {
	qctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	owner := "?"
	if o, err := store.Owner(qctx); err == nil {
		owner = o.Node
	} else if errors.Is(err, meta.ErrNoOwner) {
		owner = "none"
	}
	s := "owner=" + owner
	cfs, err := store.Changefeeds(qctx)
	if err != nil {
		return s + " meta=unreachable"
	}
	for _, cf := range cfs {
		st, err := store.Status(qctx, cf.ID)
		lag := "?"
		if err == nil && st.CheckpointTs != 0 {
			lag = time.Since(upstream.PhysicalTime(st.CheckpointTs)).Round(100 * time.Millisecond).String()
		}
		s += fmt.Sprintf(" %s[epoch=%d lag=%s]", cf.ID, cf.Epoch, lag)
	}
	return s
}
