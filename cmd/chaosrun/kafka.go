package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chaosrun/chaosrun/sink/kafka"
)

// newKafkaCmd starts a local Kafka cluster and keeps it until interrupted:
// a way to poke at the sink by hand, and what `make run` can fall back to.
func newKafkaCmd() *cobra.Command {
	var (
		brokers int
		dir     string
		libs    string
	)
	cmd := &cobra.Command{
		Use:   "kafka",
		Short: "Start a local Apache Kafka cluster (KRaft) and keep it running until Ctrl-C",
		Long: `Start a local Apache Kafka cluster (KRaft mode, every node a combined broker
and controller JVM) from the jars of ` + "`make kafka-jars`" + `, print its bootstrap list on
stdout as "bootstrap=host:port,...", and keep it running until Ctrl-C or SIGTERM,
which kill every broker. Data and logs stay in --dir.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if brokers != 1 && brokers != 3 {
				return fmt.Errorf("--brokers must be 1 or 3, got %d", brokers)
			}
			if dir == "" {
				dir = filepath.Join("runs", "kafka-"+time.Now().Format("20060102-150405"))
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("cmd", "kafka")
			l, err := kafka.NewLocal(kafka.LocalConfig{Dir: dir, Brokers: brokers, LibsDir: libs, Logger: log})
			if err != nil {
				return err
			}
			defer func() { _ = l.Close() }()
			ctx := cmd.Context()
			addrs, err := l.Start(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "bootstrap=%s\n", strings.Join(addrs, ","))
			log.Info("Kafka running; Ctrl-C stops it", "bootstrap", addrs, "dir", dir)
			<-ctx.Done()
			log.Info("stopping Kafka")
			return l.Close()
		},
	}
	cmd.Flags().IntVar(&brokers, "brokers", 1, "number of brokers: 1 or 3")
	cmd.Flags().StringVar(&dir, "dir", "", "run directory for data and logs (default runs/kafka-<time>)")
	cmd.Flags().StringVar(&libs, "libs", "", "Kafka jar directory (default $"+kafka.EnvLibs+")")
	return cmd
}
