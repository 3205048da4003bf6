package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chaosrun/chaosrun/fencing"
	"github.com/chaosrun/chaosrun/system/node"
)

func newNodeCmd() *cobra.Command {
	var (
		cfg                    node.Config
		meta, kafkaBrokers     string
		peerRoutes             string
		fencingFlag, selfFence string
		sinkFlag               string
	)
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run one CDC node (capture, coordinator when owner, maintainers, dispatchers) in this process",
		Long: `Run one CDC node. It prints "READY addr=<peer> metrics=<addr>" once it serves.

--fencing=epoch (default) applies the maintainer-epoch fencing rules; --fencing=off
applies the behaviour before the fix (the negative control).
--self-fence=on stops every local maintainer and writer at once when the etcd
session is lost and rejoins under a new node id; off (default) keeps them running.
--sink=txn makes every dispatcher write through a transactional producer of its own
(transactional id <changefeed>/<table>/<startPK>-<endPK>, one transaction per batch up to a
resolved ts) and the watermark writer through <changefeed>/watermark, so the broker fences
a superseded writer; idempotent (default) shares one idempotent producer per changefeed.`,
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := fencing.ParsePolicy(fencingFlag)
			if err != nil {
				return &exitError{code: exitHarnessError, err: err}
			}
			switch selfFence {
			case "on":
				cfg.SelfFence = true
			case "off":
			default:
				return &exitError{code: exitHarnessError, err: fmt.Errorf("--self-fence must be on or off, got %q", selfFence)}
			}
			cfg.Policy = p
			if cfg.Sink, err = node.ParseSinkMode(sinkFlag); err != nil {
				return &exitError{code: exitHarnessError, err: fmt.Errorf("--sink: %w", err)}
			}
			cfg.MetaEndpoints = splitList(meta)
			cfg.KafkaBrokers = splitList(kafkaBrokers)
			cfg.PeerRoutes = map[string]string{}
			for _, r := range splitList(peerRoutes) {
				id, addr, ok := strings.Cut(r, "=")
				if !ok || id == "" || addr == "" {
					return &exitError{code: exitHarnessError, err: fmt.Errorf("--peer-routes: want id=host:port, got %q", r)}
				}
				cfg.PeerRoutes[id] = addr
			}
			if len(cfg.MetaEndpoints) == 0 || cfg.UpstreamAddr == "" || len(cfg.KafkaBrokers) == 0 {
				return &exitError{code: exitHarnessError, err: fmt.Errorf("--meta, --upstream and --kafka are required")}
			}
			cfg.Logger = roleLogger("node")
			cfg.Ready = func(peer, metrics string) {
				fmt.Fprintf(cmd.OutOrStdout(), "READY addr=%s metrics=%s\n", peer, metrics)
			}
			return node.Run(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.ID, "id", "", "node id (required)")
	f.StringVar(&cfg.Dir, "dir", ".", "directory for the decision log")
	f.StringVar(&cfg.Cluster, "cluster", "default", "meta-store key prefix")
	f.StringVar(&cfg.PeerListen, "listen", "127.0.0.1:0", "peer gRPC host:port")
	f.StringVar(&cfg.MetricsListen, "metrics", "127.0.0.1:0", "Prometheus /metrics host:port (empty: off)")
	f.StringVar(&meta, "meta", "", "meta store endpoints, comma separated (e.g. https://127.0.0.1:2379)")
	f.StringVar(&cfg.UpstreamAddr, "upstream", "", "upstream gRPC host:port")
	f.StringVar(&cfg.TLSDir, "tls-dir", "", "directory of the run's member certificates: mutual TLS on every gRPC link (empty: plaintext)")
	f.StringVar(&kafkaBrokers, "kafka", "", "Kafka bootstrap brokers, comma separated")
	f.StringVar(&peerRoutes, "peer-routes", "", "id=host:port,... addresses to reach peers by (default: what they registered)")
	f.DurationVar(&cfg.SessionTTL, "ttl", 5*time.Second, "capture lease TTL (owner failover takes about this long)")
	f.StringVar(&fencingFlag, "fencing", "epoch", "fencing policy: epoch or off")
	f.StringVar(&selfFence, "self-fence", "off", "on or off: stop everything and rejoin as a new node on etcd session loss")
	f.StringVar(&sinkFlag, "sink", string(node.SinkIdempotent), "sink mode: idempotent or txn (a transactional producer per span and one for watermarks)")
	_ = cmd.MarkFlagRequired("id")
	return cmd
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
