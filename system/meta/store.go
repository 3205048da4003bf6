package meta

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/chaosrun/chaosrun/system/mtls"
)

// DefaultSessionTTL is the capture lease TTL when Config.SessionTTL is zero.
const DefaultSessionTTL = 5 * time.Second

// Config configures a Store.
type Config struct {
	// Endpoints are etcd client URLs (Server.Endpoint).
	Endpoints []string
	// Cluster names the key prefix /chaosrun/<cluster>. Default "default".
	Cluster string
	// SessionTTL is the lease TTL of sessions made by NewSession (rounded up
	// to whole seconds; etcd may raise very small values). Default 5 s.
	SessionTTL time.Duration
	// DialTimeout bounds the first connection. Default 5 s.
	DialTimeout time.Duration
	// Identity, when set, is presented to a meta store serving mutual TLS
	// (https endpoints). Nil connects in plaintext.
	Identity *mtls.Identity
	// Logger gets the store's log lines. Nil discards.
	Logger *slog.Logger
}

// clientTLS is the client TLS configuration of id towards the meta store,
// nil for plaintext.
func clientTLS(id *mtls.Identity) *tls.Config {
	if id == nil {
		return nil
	}
	return id.ClientConfig(Member)
}

// Store is a client of the meta store. It is safe for concurrent use. Reads
// and changefeed writes need no session; captures and the election do.
type Store struct {
	cli    *clientv3.Client
	cfg    Config
	log    *slog.Logger
	prefix string
}

// Open connects to the meta store and checks that it answers before
// returning (a Get bounded by ctx and DialTimeout).
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, fmt.Errorf("%w: no endpoints", ErrInvalid)
	}
	if cfg.Cluster == "" {
		cfg.Cluster = "default"
	}
	if strings.Contains(cfg.Cluster, "/") {
		return nil, fmt.Errorf("%w: cluster name %q contains '/'", ErrInvalid, cfg.Cluster)
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   cfg.Endpoints,
		DialTimeout: cfg.DialTimeout,
		Logger:      zap.NewNop(),
		TLS:         clientTLS(cfg.Identity),
		// Keepalives let a partitioned client notice a dead connection.
		DialKeepAliveTime:    2 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		// Redial quickly once a partition heals instead of backing off for
		// up to two minutes (gRPC's default).
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
		})},
	})
	if err != nil {
		return nil, fmt.Errorf("meta: connect %v: %w", cfg.Endpoints, err)
	}
	s := &Store{cli: cli, cfg: cfg, log: cfg.Logger, prefix: "/chaosrun/" + cfg.Cluster + "/"}
	pingCtx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	if _, err := cli.Get(pingCtx, s.prefix+"ping"); err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("meta: meta store %v unreachable: %w", cfg.Endpoints, err)
	}
	return s, nil
}

// Close closes the client. Sessions made from it stop keeping their leases
// alive; close them first to revoke the leases at once.
func (s *Store) Close() error {
	if err := s.cli.Close(); err != nil {
		return fmt.Errorf("meta: close client: %w", err)
	}
	return nil
}

// Client exposes the underlying etcd client for tests and tools that check
// the store directly. Production code uses the typed methods.
func (s *Store) Client() *clientv3.Client { return s.cli }

// Prefix is the cluster key prefix, ending in '/'.
func (s *Store) Prefix() string { return s.prefix }

func (s *Store) captureKey(node string) string { return s.prefix + "capture/" + node }
func (s *Store) ownerPrefix() string           { return s.prefix + "owner" }
func (s *Store) infoKey(cf string) string      { return s.prefix + "changefeed/info/" + cf }
func (s *Store) statusKey(cf string) string    { return s.prefix + "changefeed/status/" + cf }
func (s *Store) epochPrefix(cf string) string  { return s.prefix + "changefeed/epoch/" + cf + "/" }
func (s *Store) epochKey(cf string, e uint64) string {
	return fmt.Sprintf("%s%020d", s.epochPrefix(cf), e)
}

// validName rejects names that would break the key layout.
func validName(kind, name string) error {
	if name == "" || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("%w: %s name %q", ErrInvalid, kind, name)
	}
	return nil
}
