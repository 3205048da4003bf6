package grpctransport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/chaosrun/chaosrun/heartbeatpb"
	"github.com/chaosrun/chaosrun/system/mtls"
	"github.com/chaosrun/chaosrun/system/transport"
)

// nodeHeader is the stream metadata key that names the connecting node.
const nodeHeader = "chaosrun-node"

// Resolver returns the listen address of a node, or false if the node is
// not a known member of the cluster.
type Resolver func(id string) (addr string, ok bool)

// Config configures a Transport.
type Config struct {
	// ID is this node's identity; it is stamped on every sent envelope.
	ID string
	// Listener accepts the peers' streams. The transport owns and closes it.
	Listener net.Listener
	// Resolve maps a peer to its address and decides membership: streams
	// from nodes it does not know are refused, and sends to them fail with
	// transport.ErrUnknownPeer.
	Resolve Resolver
	// QueueSize bounds the envelopes queued per peer and for receipt
	// (default 1024).
	QueueSize int
	// RedialInterval is the pause between reconnection attempts to a peer
	// (default 200 ms).
	RedialInterval time.Duration
	// Identity, when set, makes every stream mutual TLS with the run CA:
	// a peer must present a member certificate, a stream is accepted only
	// if the node it names belongs to that certificate's member, and every
	// envelope on it must be from that node. Nil means plaintext (tests).
	Identity *mtls.Identity
	// Logger receives connection events; nil discards them.
	Logger *slog.Logger
}

// Transport is the gRPC implementation of transport.Transport: one
// bidirectional PeerService stream per peer, opened by the sender.
type Transport struct {
	heartbeatpb.UnimplementedPeerServiceServer

	cfg    Config
	log    *slog.Logger
	server *grpc.Server
	recv   chan *heartbeatpb.Envelope

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // server handlers and peer senders

	mu     sync.Mutex
	closed bool
	peers  map[string]*peer
}

var _ transport.Transport = (*Transport)(nil)

// peer is the sending side towards one node.
type peer struct {
	id    string
	queue chan *heartbeatpb.Envelope
}

// New starts serving on cfg.Listener and returns the transport.
func New(cfg Config) (*Transport, error) {
	if cfg.ID == "" {
		return nil, errors.New("grpctransport: empty node id")
	}
	if cfg.Listener == nil || cfg.Resolve == nil {
		return nil, errors.New("grpctransport: listener and resolver are required")
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 1024
	}
	if cfg.RedialInterval <= 0 {
		cfg.RedialInterval = 200 * time.Millisecond
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &Transport{
		cfg: cfg,
		log: log.With("node", cfg.ID, "component", "transport"),
		server: grpc.NewServer(grpc.Creds(cfg.Identity.ServerCreds()),
			grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true})),
		recv:   make(chan *heartbeatpb.Envelope, cfg.QueueSize),
		ctx:    ctx,
		cancel: cancel,
		peers:  make(map[string]*peer),
	}
	heartbeatpb.RegisterPeerServiceServer(t.server, t)
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		if err := t.server.Serve(cfg.Listener); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.log.Warn("grpc serve stopped", "err", err)
		}
	}()
	return t, nil
}

// ID returns this node's identity.
func (t *Transport) ID() string { return t.cfg.ID }

// Addr returns the address the transport listens on.
func (t *Transport) Addr() string { return t.cfg.Listener.Addr().String() }

// Recv returns the channel of envelopes addressed to this node.
func (t *Transport) Recv() <-chan *heartbeatpb.Envelope { return t.recv }

// Send queues env for env.To. A copy is sent with From set to this node.
func (t *Transport) Send(ctx context.Context, env *heartbeatpb.Envelope) error {
	if env == nil || env.GetTo() == "" {
		return fmt.Errorf("grpctransport: send from %s: %w", t.cfg.ID, transport.ErrInvalidEnvelope)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("grpctransport: send %s -> %s: %w", t.cfg.ID, env.GetTo(), err)
	}
	out := proto.Clone(env).(*heartbeatpb.Envelope)
	out.From = t.cfg.ID

	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return fmt.Errorf("grpctransport: send %s -> %s: %w", t.cfg.ID, out.To, transport.ErrClosed)
	}
	var q chan *heartbeatpb.Envelope
	if out.To == t.cfg.ID {
		q = t.recv
	} else {
		if _, ok := t.cfg.Resolve(out.To); !ok {
			t.mu.Unlock()
			return fmt.Errorf("grpctransport: send %s -> %s: %w", t.cfg.ID, out.To, transport.ErrUnknownPeer)
		}
		p := t.peers[out.To]
		if p == nil {
			p = &peer{id: out.To, queue: make(chan *heartbeatpb.Envelope, t.cfg.QueueSize)}
			t.peers[out.To] = p
			t.wg.Add(1)
			go t.runPeer(p)
		}
		q = p.queue
	}
	// NB: hold no lock while blocking; Close cancels t.ctx to release us, and
	// the recv channel is closed only after every sender has returned.
	t.wg.Add(1)
	t.mu.Unlock()
	defer t.wg.Done()
	select {
	case q <- out:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("grpctransport: send %s -> %s: %w", t.cfg.ID, out.To, ctx.Err())
	case <-t.ctx.Done():
		return fmt.Errorf("grpctransport: send %s -> %s: %w", t.cfg.ID, out.To, transport.ErrClosed)
	}
}

// runPeer keeps one stream to p open and writes its queue into it. An
// envelope whose write fails is dropped: delivery is best effort and senders
// resend.
func (t *Transport) runPeer(p *peer) {
	defer t.wg.Done()
	for t.ctx.Err() == nil {
		addr, ok := t.cfg.Resolve(p.id)
		if !ok {
			if !t.pause() {
				return
			}
			continue
		}
		err := t.stream(p, addr)
		if t.ctx.Err() != nil {
			return
		}
		t.log.Debug("peer stream broken", "peer", p.id, "addr", addr, "err", err)
		if !t.pause() {
			return
		}
	}
}

func (t *Transport) pause() bool {
	timer := time.NewTimer(t.cfg.RedialInterval)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-t.ctx.Done():
		return false
	}
}

// stream dials addr and forwards p's queue until the stream fails.
func (t *Transport) stream(p *peer, addr string) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(t.cfg.Identity.ClientCreds(mtls.Member(p.id))),
		// A cut peer is noticed within ~4s and redialled promptly after the
		// heal, instead of waiting out TCP's retransmission back-off.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 2 * time.Second, Timeout: 2 * time.Second, PermitWithoutStream: true}),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second}}))
	if err != nil {
		return fmt.Errorf("dial %s at %s: %w", p.id, addr, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(t.ctx, nodeHeader, t.cfg.ID))
	defer cancel()
	st, err := heartbeatpb.NewPeerServiceClient(conn).Stream(ctx)
	if err != nil {
		return fmt.Errorf("open stream to %s: %w", p.id, err)
	}
	// The server never sends; a Recv returning means the stream ended.
	done := make(chan error, 1)
	go func() {
		_, err := st.Recv()
		done <- err
	}()
	defer func() {
		cancel()
		<-done
	}()
	for {
		var env *heartbeatpb.Envelope
		select {
		case env = <-p.queue:
		case err := <-done:
			done <- err
			return fmt.Errorf("stream to %s closed: %w", p.id, err)
		case <-t.ctx.Done():
			return t.ctx.Err()
		}
		if err := st.Send(env); err != nil {
			return fmt.Errorf("send to %s: %w", p.id, err)
		}
	}
}

// Stream is the PeerService handler: it accepts envelopes from one member
// node and queues them for Recv.
func (t *Transport) Stream(st heartbeatpb.PeerService_StreamServer) error {
	from, err := t.admit(st.Context())
	if err != nil {
		return err
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return status.Error(codes.Unavailable, "transport closed")
	}
	t.wg.Add(1)
	t.mu.Unlock()
	defer t.wg.Done()
	for {
		env, err := st.Recv()
		if err != nil {
			return nil
		}
		if env.GetFrom() != from || env.GetTo() != t.cfg.ID {
			t.log.Warn("rejected envelope: sender or receiver is not the stream's", "stream_from", from, "from", env.GetFrom(), "to", env.GetTo())
			continue
		}
		select {
		case t.recv <- env:
		case <-st.Context().Done():
			return nil
		case <-t.ctx.Done():
			return nil
		}
	}
}

// admit returns the node a new stream is from, or the PermissionDenied
// status that refuses it: the node must be a member and, with an identity,
// belong to the member the peer's certificate names.
func (t *Transport) admit(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	from := ""
	if v := md.Get(nodeHeader); len(v) == 1 {
		from = v[0]
	}
	if _, ok := t.cfg.Resolve(from); !ok && from != t.cfg.ID {
		t.log.Warn("refused stream from non-member", "from", from)
		return "", status.Errorf(codes.PermissionDenied, "node %q is not a cluster member", from)
	}
	if t.cfg.Identity == nil {
		return from, nil
	}
	cert, _ := mtls.CallerName(ctx)
	if cert == "" || mtls.Member(from) != cert {
		t.log.Warn("refused stream: sender does not match its certificate", "from", from, "certificate", cert)
		return "", status.Errorf(codes.PermissionDenied, "node %q is not member %q's", from, cert)
	}
	return from, nil
}

// Close stops serving, drops queued envelopes and closes the Recv channel.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.mu.Unlock()
	t.cancel()
	t.server.Stop()
	t.wg.Wait()
	close(t.recv)
	return nil
}
