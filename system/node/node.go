package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/keepalive"

	"github.com/chaosrun/chaosrun/evidence"
	"github.com/chaosrun/chaosrun/fencing"
	"github.com/chaosrun/chaosrun/internal/wait"
	"github.com/chaosrun/chaosrun/sink/kafka"
	"github.com/chaosrun/chaosrun/system/meta"
	"github.com/chaosrun/chaosrun/system/mtls"
	"github.com/chaosrun/chaosrun/system/roles"
	"github.com/chaosrun/chaosrun/system/roles/metaeffect"
	"github.com/chaosrun/chaosrun/system/transport/grpctransport"
	"github.com/chaosrun/chaosrun/system/upstream"
)

// Config configures a node.
type Config struct {
	// ID is the node id; with self-fence a rejoin appends ".<n>".
	ID string
	// Cluster is the meta-store key prefix (default "default").
	Cluster string
	// Dir holds the node's decision log.
	Dir string
	// PeerListen is the gRPC peer address (host:port; port 0 picks one).
	PeerListen string
	// MetricsListen serves /metrics (host:port; "" disables it).
	MetricsListen string
	// MetaEndpoints, UpstreamAddr and KafkaBrokers locate the other parts.
	MetaEndpoints []string
	UpstreamAddr  string
	KafkaBrokers  []string
	// PeerRoutes overrides the address used to reach a peer, keyed by the
	// peer's base node id (the id before any ".<n>" rejoin suffix); the
	// toxiproxy backend routes peer links through proxies this way.
	PeerRoutes map[string]string
	// TLSDir holds the run's member certificates (mtls.Issue); the node
	// presents its member's and speaks mutual TLS to the meta store, the
	// upstream and its peers. Empty means plaintext (tests).
	TLSDir string
	// SessionTTL is the capture lease TTL (default 5 s).
	SessionTTL time.Duration
	// Tick is one logical tick of the roles (default 100 ms).
	Tick time.Duration
	// Policy selects the fencing rules; the node passes it to the roles and
	// never looks at it.
	Policy fencing.Policy
	// SelfFence stops everything local and rejoins under a new id when the
	// etcd session is lost.
	SelfFence bool
	// Sink is how dispatchers write to Kafka (default SinkIdempotent).
	Sink SinkMode
	// StartTimeout bounds the checks that the meta store, the upstream and
	// Kafka are reachable (default 10 s).
	StartTimeout time.Duration
	// Logger receives the node's logs (default slog.Default()).
	Logger *slog.Logger
	// Ready, if set, is called once the node serves, with its addresses.
	Ready func(peerAddr, metricsAddr string)
}

func (c *Config) defaults() {
	if c.Cluster == "" {
		c.Cluster = "default"
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = 5 * time.Second
	}
	if c.Tick <= 0 {
		c.Tick = 100 * time.Millisecond
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.PeerListen == "" {
		c.PeerListen = "127.0.0.1:0"
	}
	if c.Sink == "" {
		c.Sink = SinkIdempotent
	}
}

// Errors returned by Run before the node starts serving.
var (
	ErrMetaUnreachable     = errors.New("node: meta store unreachable")
	ErrUpstreamUnreachable = errors.New("node: upstream unreachable")
	ErrKafkaUnreachable    = errors.New("node: kafka unreachable")
)

// node is the running state. Every field below "loop-owned" is touched only
// by the loop goroutine.
type node struct {
	cfg   Config
	log   *slog.Logger
	store *meta.Store
	up    *upstream.Client
	dlog  *decisionLog
	met   *metrics
	ln    net.Listener
	tls   *mtls.Identity // nil: plaintext

	membersMu sync.Mutex
	members   map[string]string // node id -> peer address

	events chan func()

	// loop-owned
	id          string
	incarnation int
	roles       *roles.Node
	tr          *grpctransport.Transport
	managers    map[string]*manager // changefeed -> local dispatcher manager
	ownerRev    int64
	ownerKey    string
	sess        *meta.Session
	sessCancel  context.CancelFunc
	ticks       int
	polling     bool
	wg          sync.WaitGroup
}

// Run runs a node until ctx is done.
func Run(ctx context.Context, cfg Config) error {
	cfg.defaults()
	if cfg.ID == "" {
		return errors.New("node: empty node id")
	}
	log := cfg.Logger.With("node", cfg.ID)
	n := &node{cfg: cfg, log: log, id: cfg.ID, members: map[string]string{}, events: make(chan func(), 1024), managers: map[string]*manager{}}

	// Listen first: a port in use is bad input, reported before the node
	// reaches out to anything.
	var mln net.Listener
	var err error
	if n.ln, mln, err = listen(cfg); err != nil {
		return err
	}
	serving := false // from then on the servers own the listeners
	defer func() {
		if !serving {
			n.ln.Close()
			if mln != nil {
				mln.Close()
			}
		}
	}()
	disconnect, err := n.connect(ctx)
	if err != nil {
		return err
	}
	defer disconnect()

	if n.dlog, err = openDecisionLog(filepath.Join(cfg.Dir, evidence.DecisionsFile(cfg.ID))); err != nil {
		return err
	}
	defer n.dlog.Close()
	n.met = newMetrics(cfg.ID)

	serving = true
	metricsAddr := ""
	if mln != nil {
		metricsAddr = mln.Addr().String()
		srv := &http.Server{Handler: promhttp.HandlerFor(n.met.reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(mln)
		defer srv.Close()
	}

	loopCtx, stop := context.WithCancel(ctx)
	defer stop()
	if err := n.join(loopCtx); err != nil {
		n.ln.Close()
		return err
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.watchMembers(loopCtx)
	}()
	if cfg.Ready != nil {
		cfg.Ready(n.ln.Addr().String(), metricsAddr)
	}
	err = n.loop(loopCtx)
	stop()
	n.shutdown()
	n.wg.Wait()
	return err
}

// listen binds the peer listener and, unless cfg.MetricsListen is empty,
// the metrics one; on error nothing stays bound.
func listen(cfg Config) (peers, metrics net.Listener, err error) {
	if peers, err = net.Listen("tcp", cfg.PeerListen); err != nil {
		return nil, nil, fmt.Errorf("node: listen for peers on %s: %w", cfg.PeerListen, err)
	}
	if cfg.MetricsListen != "" {
		if metrics, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			peers.Close()
			return nil, nil, fmt.Errorf("node: listen for metrics on %s: %w", cfg.MetricsListen, err)
		}
	}
	return peers, metrics, nil
}

// connect opens the meta store and the upstream and checks Kafka answers,
// all within cfg.StartTimeout; disconnect closes what it opened.
func (n *node) connect(ctx context.Context) (disconnect func(), err error) {
	cfg := n.cfg
	if n.tls, err = mtls.LoadOptional(cfg.TLSDir, mtls.Member(cfg.ID)); err != nil {
		return nil, fmt.Errorf("node %s: %w", cfg.ID, err)
	}
	sctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	n.store, err = meta.Open(sctx, meta.Config{Endpoints: cfg.MetaEndpoints, Cluster: cfg.Cluster, SessionTTL: cfg.SessionTTL,
		Identity: n.tls, Logger: n.log})
	if err == nil {
		if _, _, err = n.store.Captures(sctx); err != nil {
			n.store.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w at %v: %w", ErrMetaUnreachable, cfg.MetaEndpoints, err)
	}
	// Keepalives and a short redial back-off let a node whose upstream link
	// was cut resume its feeds right after the heal.
	if n.up, err = upstream.Dial(sctx, cfg.UpstreamAddr, grpc.WithTransportCredentials(n.tls.ClientCreds(upstream.Member)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 2 * time.Second, Timeout: 2 * time.Second, PermitWithoutStream: true}),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second}}),
	); err != nil {
		n.store.Close()
		return nil, fmt.Errorf("%w at %s: %w", ErrUpstreamUnreachable, cfg.UpstreamAddr, err)
	}
	disconnect = func() {
		n.up.Close()
		n.store.Close()
	}
	probe, err := kafka.NewProducer(sctx, kafka.ProducerConfig{Brokers: cfg.KafkaBrokers, Logger: n.log})
	if err != nil {
		disconnect()
		return nil, fmt.Errorf("%w at %v: %w", ErrKafkaUnreachable, cfg.KafkaBrokers, err)
	}
	probe.Close()
	return disconnect, nil
}

// join opens a session under the current id, registers the capture, starts
// the transport and the roles, and starts campaigning.
func (n *node) join(ctx context.Context) error {
	sess, err := n.register(ctx, n.id)
	if err != nil {
		return err
	}
	if err := n.start(ctx, sess); err != nil {
		sess.Close(context.Background())
		return err
	}
	return nil
}

// register opens a session and registers the capture id under it. It does
// I/O only and may run off the loop.
func (n *node) register(ctx context.Context, id string) (*meta.Session, error) {
	sctx, cancel := context.WithTimeout(ctx, n.cfg.StartTimeout)
	defer cancel()
	sess, err := n.store.NewSession(sctx)
	if err != nil {
		return nil, fmt.Errorf("node %s: open session: %w", id, err)
	}
	if err := sess.RegisterCapture(sctx, meta.CaptureInfo{ID: id, Addr: n.ln.Addr().String(), StartedAt: time.Now()}); err != nil {
		sess.Close(context.Background())
		return nil, fmt.Errorf("node %s: register capture: %w", id, err)
	}
	return sess, nil
}

// start installs a registered session on the loop: a transport and roles
// for a new id, and a campaign.
func (n *node) start(ctx context.Context, sess *meta.Session) error {
	n.sess = sess
	if n.tr == nil || n.tr.ID() != n.id {
		if n.tr != nil {
			n.tr.Close()
			// The old transport closed the shared listener; open it again on
			// the same address so peers keep dialing the same place.
			ln, err := net.Listen("tcp", n.ln.Addr().String())
			if err != nil {
				n.sess = nil
				return fmt.Errorf("node %s: re-listen on %s: %w", n.id, n.ln.Addr(), err)
			}
			n.ln = ln
		}
		tr, err := grpctransport.New(grpctransport.Config{ID: n.id, Listener: n.ln, Resolve: n.resolve, Identity: n.tls, Logger: n.log})
		if err != nil {
			n.sess = nil
			return fmt.Errorf("node %s: start transport: %w", n.id, err)
		}
		n.tr = tr
		n.roles = roles.NewNode(n.id, n.cfg.Policy, roles.Config{}, n.memberIDs())
	}
	sc, scancel := context.WithCancel(ctx)
	n.sessCancel = scancel
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.campaign(sc, sess, n.id)
	}()
	n.log.Info("joined", "node", n.id, "addr", n.ln.Addr().String(), "policy", n.cfg.Policy.String(), "self_fence", n.cfg.SelfFence)
	return nil
}

func (n *node) resolve(id string) (string, bool) {
	n.membersMu.Lock()
	defer n.membersMu.Unlock()
	a, ok := n.members[id]
	if !ok {
		return "", false
	}
	if r, ok := n.cfg.PeerRoutes[mtls.Member(id)]; ok {
		return r, true
	}
	return a, true
}

func (n *node) memberIDs() []string {
	n.membersMu.Lock()
	defer n.membersMu.Unlock()
	ids := make([]string, 0, len(n.members))
	for id := range n.members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// watchMembers keeps the membership table current and tells the roles.
func (n *node) watchMembers(ctx context.Context) {
	for caps := range n.store.WatchCaptures(ctx) {
		m := make(map[string]string, len(caps))
		for _, c := range caps {
			m[c.ID] = c.Addr
		}
		n.membersMu.Lock()
		n.members = m
		n.membersMu.Unlock()
		ids := n.memberIDs()
		n.post(ctx, func() { n.roles.NodesChanged(ids) })
	}
}

// post hands f to the loop.
func (n *node) post(ctx context.Context, f func()) {
	select {
	case n.events <- f:
	case <-ctx.Done():
	}
}

// campaign campaigns for owner with sess until ctx ends or the session is
// lost, and tells the loop when this node wins or loses ownership.
func (n *node) campaign(ctx context.Context, sess *meta.Session, id string) {
	for ctx.Err() == nil {
		owner, err := sess.Campaign(ctx, id)
		if err != nil {
			if errors.Is(err, meta.ErrSessionExpired) || ctx.Err() != nil {
				return
			}
			n.log.Warn("campaign failed; retrying", "err", err)
			if wait.Sleep(ctx, time.Second) != nil {
				return
			}
			continue
		}
		n.post(ctx, func() { n.becomeOwner(owner) })
		// Stay owner until the observed owner is someone else or the session
		// ends.
		lost := ""
		obs := sess.ObserveOwner(ctx)
	watch:
		for {
			select {
			case o, ok := <-obs:
				if !ok {
					return
				}
				if o.Key != owner.Key {
					lost = "another owner was elected: " + o.Node
					break watch
				}
			case <-sess.Done():
				lost = "etcd session lost"
				break watch
			case <-ctx.Done():
				return
			}
		}
		n.post(ctx, func() { n.stepDown(owner, lost) })
		if lost == "etcd session lost" {
			return
		}
	}
}

func (n *node) becomeOwner(o meta.Owner) {
	if o.Node != n.id {
		return // a campaign of a previous incarnation
	}
	n.ownerRev, n.ownerKey = o.Rev, o.Key
	n.roles.BecomeOwner(o.Rev)
	n.met.role.WithLabelValues(roles.RoleCoordinator).Set(1)
	n.log.Info("became owner", "owner_rev", o.Rev)
}

func (n *node) stepDown(o meta.Owner, reason string) {
	if n.ownerRev != o.Rev {
		return
	}
	n.ownerRev, n.ownerKey = 0, ""
	n.roles.StepDown(reason)
	n.met.role.WithLabelValues(roles.RoleCoordinator).Set(0)
	n.log.Info("stepped down", "reason", reason)
}

// loop drives the roles: one input at a time, then its Ready applied.
func (n *node) loop(ctx context.Context) error {
	tick := time.NewTicker(n.cfg.Tick)
	defer tick.Stop()
	for {
		var sessDone <-chan struct{}
		if n.sess != nil {
			sessDone = n.sess.Done()
		}
		select {
		case <-ctx.Done():
			return nil
		case env, ok := <-n.tr.Recv():
			if ok {
				n.roles.Step(env)
			}
		case <-tick.C:
			n.roles.Tick()
			n.ticks++
			if n.ticks%10 == 0 {
				n.pollChangefeeds(ctx)
				n.updateLagMetrics()
			}
		case f := <-n.events:
			f()
		case <-sessDone:
			n.sessionLost(ctx)
		}
		n.apply(ctx, n.roles.Ready())
	}
}

// sessionLost handles the noticed loss of the etcd session. Without
// self-fence the node behaves as a TiCDC node does until its process exits:
// the coordinator has stepped down (its campaign saw the loss), but the
// maintainers and dispatcher managers keep running on every link that still
// works, and the node rejoins in the background under its own id. Only what
// needs the election waits. With self-fence every local maintainer and
// writer stops at once and the node rejoins under a new id, as TiCDC's
// local fence and restart do.
func (n *node) sessionLost(ctx context.Context) {
	n.log.Warn("etcd session lost", "self_fence", n.cfg.SelfFence)
	n.sessCancel()
	n.sess = nil
	if n.cfg.SelfFence {
		if n.ownerRev != 0 {
			n.roles.StepDown("self-fence")
			n.ownerRev, n.ownerKey = 0, ""
			n.met.role.WithLabelValues(roles.RoleCoordinator).Set(0)
		}
		n.closeAllManagers()
		n.incarnation++
		n.id = n.cfg.ID + "." + strconv.Itoa(n.incarnation)
		// Nothing of the old incarnation acts again: fresh roles now, a
		// transport under the new id once the rejoin registers it.
		n.roles = roles.NewNode(n.id, n.cfg.Policy, roles.Config{}, n.memberIDs())
	}
	n.rejoin(ctx)
}

// rejoin opens a new session and registers the capture off the loop,
// retrying until it succeeds or ctx ends; the loop then installs it. The
// loop keeps driving the roles meanwhile.
func (n *node) rejoin(ctx context.Context) {
	id := n.id
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for ctx.Err() == nil {
			sess, err := n.register(ctx, id)
			if err == nil {
				n.post(ctx, func() {
					if ctx.Err() != nil || n.id != id {
						sess.Close(context.Background())
						return
					}
					if err := n.start(ctx, sess); err != nil {
						n.log.Warn("rejoin failed; retrying", "err", err)
						sess.Close(context.Background())
						n.rejoin(ctx)
					}
				})
				return
			}
			n.log.Warn("rejoin failed; retrying", "err", err)
			if wait.Sleep(ctx, 500*time.Millisecond) != nil {
				return
			}
		}
	}()
}

// apply carries out a Ready batch in order.
func (n *node) apply(ctx context.Context, rd roles.Ready) {
	if len(rd.Decisions) > 0 {
		if err := n.dlog.write(time.Now(), rd.Decisions); err != nil {
			n.log.Error("decision log", "err", err)
		}
		for _, d := range rd.Decisions {
			n.met.decisions.WithLabelValues(string(d.Rule), d.Verdict.String()).Inc()
			if !d.Acts() {
				n.log.Info("fenced", "role", d.Role, "changefeed", d.Changefeed, "msg", d.Message, "decision", d.Decision.String())
			}
		}
	}
	for _, d := range rd.Drops {
		n.log.Debug("dropped input", "drop", d.String())
	}
	for _, env := range rd.Messages {
		// Best effort: a peer that is cut off must not stall the loop; the
		// roles resend what matters.
		sctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		if err := n.tr.Send(sctx, env); err != nil {
			n.log.Debug("send failed", "to", env.GetTo(), "topic", env.GetTopic(), "err", err)
		}
		cancel()
	}
	for _, e := range rd.Effects {
		n.effect(ctx, e)
	}
}

func (n *node) effect(ctx context.Context, e roles.Effect) {
	switch e := e.(type) {
	case roles.LoadChangefeeds, roles.PersistEpoch, roles.PersistCheckpoint:
		n.metaEffect(ctx, e)
	case roles.StepDown:
		if n.ownerRev != 0 {
			n.log.Info("coordinator stepped down", "reason", e.Reason)
			n.ownerRev, n.ownerKey = 0, ""
			n.met.role.WithLabelValues(roles.RoleCoordinator).Set(0)
			n.resign()
		}
	case roles.OpenManager:
		n.openManager(ctx, e)
	case roles.CloseManager:
		n.closeManager(e.Changefeed)
	case roles.CreateDispatcher:
		if m := n.managers[e.Changefeed]; m != nil {
			m.createDispatcher(ctx, e)
		} else {
			n.log.Warn("create dispatcher without manager", "changefeed", e.Changefeed, "dispatcher", e.DispatcherID)
		}
	case roles.RemoveDispatcher:
		if m := n.managers[e.Changefeed]; m != nil {
			m.removeDispatcher(e.DispatcherID)
		}
	case roles.WriteWatermark:
		if m := n.managers[e.Changefeed]; m != nil {
			m.writeWatermark(ctx, e)
		}
	default:
		n.log.Warn("unknown effect", "effect", fmt.Sprint(e))
	}
}

// metaEffect applies a meta-store effect off the loop, as the node and the
// owner key it holds now, and hands the outcome to the coordinator that
// asked, if it is still this node's.
func (n *node) metaEffect(ctx context.Context, e roles.Effect) {
	coord := n.roles.Coordinator
	store := metaStore{store: n.store, node: n.id, ownerKey: n.ownerKey}
	n.async(ctx, func(ctx context.Context) func() {
		deliver, _ := metaeffect.Apply(ctx, store, e)
		return func() {
			if coord == nil || n.roles.Coordinator != coord {
				return
			}
			if err := deliver(coord); err != nil {
				n.log.Warn("load changefeeds failed; stepping down to retry", "err", err)
				// The coordinator asked once; a new election retries.
				n.resign()
			}
		}
	})
}

// resign gives up the election and campaigns again, so another node (or
// this one, later) becomes owner.
func (n *node) resign() {
	sess := n.sess
	if sess == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := sess.Resign(ctx); err != nil && !errors.Is(err, meta.ErrNotOwner) {
			n.log.Warn("resign failed", "err", err)
		}
	}()
}

// async runs work off the loop with a timeout and posts its continuation.
func (n *node) async(ctx context.Context, work func(context.Context) func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		done := work(wctx)
		cancel()
		n.post(ctx, done)
	}()
}

// pollChangefeeds hands changefeeds created after the coordinator's
// bootstrap to it.
func (n *node) pollChangefeeds(ctx context.Context) {
	coord := n.roles.Coordinator
	if coord == nil || n.polling {
		return
	}
	n.polling = true
	store := metaStore{store: n.store, node: n.id}
	n.async(ctx, func(ctx context.Context) func() {
		infos, err := store.Changefeeds(ctx)
		return func() {
			n.polling = false
			if err != nil || n.roles.Coordinator != coord {
				return
			}
			for _, info := range infos {
				coord.AddChangefeed(info)
			}
		}
	})
}

// TableID maps an upstream table name "tN" to the roles' table id N.
func TableID(name string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimPrefix(name, "t"), 10, 64)
	if err != nil || !strings.HasPrefix(name, "t") || id <= 0 {
		return 0, fmt.Errorf("table %q is not of the form tN", name)
	}
	return id, nil
}

// TableName is the inverse of TableID.
func TableName(id int64) string { return "t" + strconv.FormatInt(id, 10) }

func (n *node) updateLagMetrics() {
	now := time.Now()
	for cf, m := range n.managers {
		if ts := m.lastWatermark(); ts != 0 {
			n.met.checkpointLag.WithLabelValues(cf).Set(now.Sub(upstream.PhysicalTime(ts)).Seconds())
		}
		if ts := m.minCheckpoint(); ts != 0 {
			n.met.resolvedLag.WithLabelValues(cf).Set(now.Sub(upstream.PhysicalTime(ts)).Seconds())
		}
		n.met.epoch.WithLabelValues(cf).Set(float64(m.epoch.Load()))
	}
}

func (n *node) closeAllManagers() {
	for cf := range n.managers {
		n.closeManager(cf)
	}
}

func (n *node) shutdown() {
	n.closeAllManagers()
	if n.sessCancel != nil {
		n.sessCancel()
	}
	if n.sess != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		n.sess.Close(ctx)
		cancel()
	}
	if n.tr != nil {
		n.tr.Close()
	}
}
