package meta

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/chaosrun/chaosrun/system/mtls"
)

// ServerConfig configures an embedded etcd server.
type ServerConfig struct {
	// Dir is the data directory; it is created if missing and reused on
	// restart (same member, same data).
	Dir string
	// ListenAddr is the client host:port. Empty means 127.0.0.1:0 (a free
	// port chosen by the kernel); Server.Addr reports the real one.
	ListenAddr string
	// PeerAddr is the raft peer host:port, unused by a one-member cluster but
	// required by etcd. Empty means port 0 on ListenAddr's host.
	PeerAddr string
	// StartTimeout bounds startup including the readiness probe. Default 30 s.
	StartTimeout time.Duration
	// Identity, when set, makes both etcd listeners mutual TLS: clients
	// need a certificate of the run CA. Nil serves plaintext (tests).
	Identity *mtls.Identity
	// Logger receives etcd's warnings and errors and the server's lifecycle
	// lines. Nil discards.
	Logger *slog.Logger
}

// Member is the name the meta store's certificate carries.
const Member = "meta"

// Server is a running embedded etcd server.
type Server struct {
	e       *embed.Etcd
	addr    string
	id      *mtls.Identity
	log     *slog.Logger
	once    sync.Once
	done    chan struct{}
	mu      sync.Mutex
	err     error
	cancel  context.CancelFunc
	closing *atomic.Bool // demotes etcd's shutdown noise
}

// StartServer starts an embedded etcd server and returns once a client Get
// against it has succeeded. ctx bounds startup and the server's lifetime:
// when ctx is cancelled the server shuts down cleanly (as Close does).
func StartServer(ctx context.Context, cfg ServerConfig) (*Server, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("%w: empty data dir", ErrInvalid)
	}
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("%w: listen address %q: %w", ErrInvalid, cfg.ListenAddr, err)
	}
	if cfg.PeerAddr == "" {
		cfg.PeerAddr = net.JoinHostPort(host, "0")
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("meta: data dir %s: %w", cfg.Dir, err)
	}

	ec := embed.NewConfig()
	ec.Name = "meta"
	ec.Dir = cfg.Dir
	scheme := "http"
	if id := cfg.Identity; id != nil {
		scheme = "https"
		cert, key := mtls.CertFiles(id.Dir, id.Name)
		info := transport.TLSInfo{CertFile: cert, KeyFile: key, TrustedCAFile: mtls.CAFile(id.Dir), ClientCertAuth: true,
			// Members are named, not addressed: no SAN must match an IP.
			SkipClientSANVerify: true}
		ec.ClientTLSInfo, ec.PeerTLSInfo = info, info
	}
	curl := url.URL{Scheme: scheme, Host: cfg.ListenAddr}
	purl := url.URL{Scheme: scheme, Host: cfg.PeerAddr}
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{curl}, []url.URL{curl}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{purl}, []url.URL{purl}
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	ec.InitialClusterToken = "chaosrun-meta"
	// NB: the gateway dials the configured client address, which is
	// meaningless with port 0; nothing here speaks HTTP/JSON anyway.
	ec.EnableGRPCGateway = false
	// Clients ping every 2s so a partitioned one notices a dead connection
	// (store.go); etcd's default 5s minimum would answer those pings with
	// GOAWAY and drop healthy connections.
	ec.GRPCKeepAliveMinTime = time.Second
	closing := new(atomic.Bool)
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zapToSlog(cfg.Logger, zapcore.WarnLevel, closing))

	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("meta: start etcd in %s: %w", cfg.Dir, err)
	}
	s := &Server{e: e, addr: e.Clients[0].Addr().String(), id: cfg.Identity, log: cfg.Logger, done: make(chan struct{}), closing: closing}

	startCtx, cancelStart := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancelStart()
	if err := s.waitReady(startCtx); err != nil {
		closing.Store(true)
		e.Close()
		return nil, err
	}

	lifeCtx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	go s.supervise(lifeCtx)
	s.log.Info("meta server ready", "addr", s.addr, "dir", cfg.Dir)
	return s, nil
}

// RunServer starts the server, calls ready once it answers, and blocks until
// ctx is cancelled (clean shutdown, nil error) or etcd fails.
func RunServer(ctx context.Context, cfg ServerConfig, ready func(*Server)) error {
	s, err := StartServer(ctx, cfg)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(s)
	}
	<-s.Done()
	return s.Err()
}

func (s *Server) waitReady(ctx context.Context) error {
	select {
	case <-s.e.Server.ReadyNotify():
	case err := <-s.e.Err():
		return fmt.Errorf("meta: etcd failed while starting: %w", err)
	case <-ctx.Done():
		return fmt.Errorf("meta: etcd not ready: %w", ctx.Err())
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{s.Endpoint()},
		DialTimeout: time.Second,
		Logger:      zap.NewNop(),
		TLS:         clientTLS(s.id),
	})
	if err != nil {
		return fmt.Errorf("meta: readiness client: %w", err)
	}
	defer cli.Close()
	for {
		getCtx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := cli.Get(getCtx, "/chaosrun/ready-probe")
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("meta: readiness probe on %s: %w (last error: %w)", s.addr, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *Server) supervise(ctx context.Context) {
	var err error
	select {
	case <-ctx.Done():
	case err = <-s.e.Err():
		if err != nil {
			err = fmt.Errorf("meta: etcd stopped: %w", err)
			s.log.Error("meta server failed", "err", err)
		}
	}
	s.shutdown(err)
}

func (s *Server) shutdown(err error) {
	s.once.Do(func() {
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		s.closing.Store(true)
		s.e.Close()
		s.log.Info("meta server stopped", "addr", s.addr)
		close(s.done)
	})
}

// Addr is the client host:port the server listens on.
func (s *Server) Addr() string { return s.addr }

// Endpoint is the client URL to give to Open.
func (s *Server) Endpoint() string { return Endpoint(s.addr, s.id != nil) }

// Endpoint is the client URL of a meta store at addr, https when it serves
// mutual TLS.
func Endpoint(addr string, tls bool) string {
	if tls {
		return "https://" + addr
	}
	return "http://" + addr
}

// Done is closed once the server has stopped.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err is why the server stopped: nil after a requested shutdown.
func (s *Server) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close stops the server and waits until it has stopped. Idempotent.
func (s *Server) Close() error {
	s.cancel()
	<-s.done
	if err := s.Err(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
