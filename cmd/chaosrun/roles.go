package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/chaosrun/chaosrun/system/meta"
	"github.com/chaosrun/chaosrun/system/mtls"
	"github.com/chaosrun/chaosrun/system/upstream"
)

// The hidden role subcommands start one process of the system under test
// each. They print exactly one readiness line on stdout,
//
//	READY addr=<host:port>
//
// log JSON to stderr, and shut down cleanly on SIGTERM/SIGINT (exit 0).

// roleLogger is the JSON logger of a role process.
func roleLogger(role string) *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("role", role)
}

func printReady(cmd *cobra.Command, addr string) {
	fmt.Fprintf(cmd.OutOrStdout(), "READY addr=%s\n", addr)
}

const tlsDirUsage = "directory of the run's member certificates: serve mutual TLS (empty: plaintext)"

func newMetaCmd() *cobra.Command {
	var dir, listen, tlsDir string
	cmd := &cobra.Command{
		Use:    "meta",
		Short:  "Run the meta store (embedded etcd) in this process",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, err := mtls.LoadOptional(tlsDir, meta.Member)
			if err != nil {
				return err
			}
			cfg := meta.ServerConfig{Dir: dir, ListenAddr: listen, Identity: id, Logger: roleLogger("meta")}
			return meta.RunServer(cmd.Context(), cfg, func(s *meta.Server) { printReady(cmd, s.Addr()) })
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "data directory (required)")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:0", "client host:port (port 0: a free port)")
	cmd.Flags().StringVar(&tlsDir, "tls-dir", "", tlsDirUsage)
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

func newUpstreamCmd() *cobra.Command {
	var dir, listen, tlsDir string
	var tables int
	cmd := &cobra.Command{
		Use:    "upstream",
		Short:  "Run the upstream source service in this process",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tables < 0 {
				return fmt.Errorf("--tables must be >= 0, got %d", tables)
			}
			id, err := mtls.LoadOptional(tlsDir, upstream.Member)
			if err != nil {
				return err
			}
			cfg := upstream.ServeConfig{
				DB:     upstream.Config{Dir: dir, Tables: upstream.TableNames(tables), Logger: roleLogger("upstream")},
				Listen: listen, Identity: id,
			}
			return upstream.Serve(cmd.Context(), cfg, func(addr string) { printReady(cmd, addr) })
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "data directory: change log and TSO mark (required)")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:0", "gRPC host:port (port 0: a free port)")
	cmd.Flags().IntVar(&tables, "tables", 1, "number of tables to create (t1 ... tN)")
	cmd.Flags().StringVar(&tlsDir, "tls-dir", "", tlsDirUsage)
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}
