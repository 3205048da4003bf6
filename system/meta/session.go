package meta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/chaosrun/chaosrun/internal/wait"
)

// CaptureInfo is what a node registers under its session lease.
type CaptureInfo struct {
	ID        string    `json:"id"`
	Addr      string    `json:"addr"` // the node's peer gRPC address
	StartedAt time.Time `json:"started_at"`
}

// Owner identifies an owner generation: the node, its election key and the
// key's create revision (the owner revision that guards checkpoint writes).
type Owner struct {
	Node string
	Key  string
	Rev  int64
}

// Session is one incarnation of a node in the cluster: an etcd lease kept
// alive in the background, the capture key under it and the node's
// candidacy in the owner election. It is safe for concurrent use.
type Session struct {
	st   *Store
	sess *concurrency.Session
	elec *concurrency.Election

	mu  sync.Mutex
	won *Owner // set while this session holds the owner key
}

// NewSession grants a lease with the store's SessionTTL and keeps it alive
// until Close (or until it is lost; see Done).
func (s *Store) NewSession(ctx context.Context) (*Session, error) {
	ttl := int64(math.Ceil(s.cfg.SessionTTL.Seconds()))
	lease, err := s.cli.Grant(ctx, ttl)
	if err != nil {
		return nil, fmt.Errorf("meta: grant lease (ttl %ds): %w", ttl, err)
	}
	// The keepalive outlives ctx: it runs until Close or until the lease is
	// lost.
	sess, err := concurrency.NewSession(s.cli, concurrency.WithLease(lease.ID), concurrency.WithContext(context.WithoutCancel(ctx)))
	if err != nil {
		return nil, fmt.Errorf("meta: new session on lease %x: %w", lease.ID, err)
	}
	return &Session{st: s, sess: sess, elec: concurrency.NewElection(sess, s.ownerPrefix())}, nil
}

// Lease is the session's lease id.
func (ss *Session) Lease() clientv3.LeaseID { return ss.sess.Lease() }

// Done is closed when the lease is no longer kept alive: it expired, was
// revoked, or the session was closed. The holder must stop acting.
func (ss *Session) Done() <-chan struct{} { return ss.sess.Done() }

// Close resigns (if owner) and revokes the lease, which deletes the capture
// key at once. Bounded by ctx.
func (ss *Session) Close(ctx context.Context) error {
	_ = ss.Resign(ctx)
	done := make(chan error, 1)
	go func() { done <- ss.sess.Close() }()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("meta: close session %x: %w", ss.sess.Lease(), err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("meta: close session %x: %w", ss.sess.Lease(), ctx.Err())
	}
}

// orphan stops keeping the lease alive without revoking it, as a node cut
// off from etcd would: the lease expires after its TTL.
func (ss *Session) orphan() { ss.sess.Orphan() }

// RegisterCapture puts the capture key for info.ID under the session lease.
// Idempotent; re-registering overwrites the info.
func (ss *Session) RegisterCapture(ctx context.Context, info CaptureInfo) error {
	if err := validName("node", info.ID); err != nil {
		return err
	}
	b, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("meta: encode capture %s: %w", info.ID, err)
	}
	if _, err := ss.st.cli.Put(ctx, ss.st.captureKey(info.ID), string(b), clientv3.WithLease(ss.sess.Lease())); err != nil {
		return fmt.Errorf("meta: register capture %s: %w", info.ID, err)
	}
	return nil
}

// Captures lists the registered (live) captures, sorted by id, and the
// revision the list was read at.
func (s *Store) Captures(ctx context.Context) ([]CaptureInfo, int64, error) {
	resp, err := s.cli.Get(ctx, s.prefix+"capture/", clientv3.WithPrefix())
	if err != nil {
		return nil, 0, fmt.Errorf("meta: list captures: %w", err)
	}
	out := make([]CaptureInfo, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var c CaptureInfo
		if err := json.Unmarshal(kv.Value, &c); err != nil {
			return nil, 0, fmt.Errorf("meta: decode capture %s: %w", kv.Key, err)
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, resp.Header.Revision, nil
}

// WatchCaptures sends the full capture list on every membership change
// (and once at the start) until ctx is done; the channel is then closed.
// Slow receivers see only the latest list.
func (s *Store) WatchCaptures(ctx context.Context) <-chan []CaptureInfo {
	out := make(chan []CaptureInfo, 1)
	go func() {
		defer close(out)
		for ctx.Err() == nil {
			list, rev, err := s.Captures(ctx)
			if err != nil {
				if wait.Sleep(ctx, 200*time.Millisecond) != nil {
					return
				}
				continue
			}
			sendLatest(ctx, out, list)
			wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
			wch := s.cli.Watch(wctx, s.prefix+"capture/", clientv3.WithPrefix(), clientv3.WithRev(rev+1))
			for wr := range wch {
				if wr.Err() != nil {
					break
				}
				list, _, err := s.Captures(ctx)
				if err != nil {
					break
				}
				sendLatest(ctx, out, list)
			}
			cancel()
		}
	}()
	return out
}

// sendLatest replaces any unread value in the one-slot channel with v.
func sendLatest[T any](ctx context.Context, ch chan T, v T) {
	for {
		select {
		case ch <- v:
			return
		case <-ctx.Done():
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}

// Campaign blocks until this session is the owner (or ctx is done, or the
// session is lost) and returns the owner generation it won. The owner
// revision is the create revision of the session's election key.
func (ss *Session) Campaign(ctx context.Context, node string) (Owner, error) {
	if err := validName("node", node); err != nil {
		return Owner{}, err
	}
	// NB: without this, a campaign whose lease expires while it waits could
	// still "win" once every older key is gone.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-ss.sess.Done():
			cancel()
		case <-cctx.Done():
		}
	}()
	if err := ss.elec.Campaign(cctx, node); err != nil {
		if sessionLost(ss.sess) {
			return Owner{}, fmt.Errorf("%w: campaign of %s: %w", ErrSessionExpired, node, err)
		}
		return Owner{}, fmt.Errorf("meta: campaign of %s: %w", node, err)
	}
	o := Owner{Node: node, Key: ss.elec.Key(), Rev: ss.elec.Rev()}
	// Confirm the key still exists at the revision we won with.
	resp, err := ss.st.cli.Get(ctx, o.Key)
	if err != nil {
		return Owner{}, fmt.Errorf("meta: confirm ownership of %s: %w", node, err)
	}
	if len(resp.Kvs) == 0 || resp.Kvs[0].CreateRevision != o.Rev {
		return Owner{}, fmt.Errorf("%w: owner key %s of %s vanished after campaign", ErrSessionExpired, o.Key, node)
	}
	ss.mu.Lock()
	ss.won = &o
	ss.mu.Unlock()
	ss.st.log.Info("won owner election", "node", node, "owner_key", o.Key, "owner_rev", o.Rev)
	return o, nil
}

func sessionLost(s *concurrency.Session) bool {
	select {
	case <-s.Done():
		return true
	default:
		return false
	}
}

// Resign gives up ownership so another session can win. It returns
// ErrNotOwner if this session does not hold the owner key.
func (ss *Session) Resign(ctx context.Context) error {
	ss.mu.Lock()
	won := ss.won
	ss.won = nil
	ss.mu.Unlock()
	if won == nil {
		return ErrNotOwner
	}
	if err := ss.elec.Resign(ctx); err != nil {
		return fmt.Errorf("meta: resign of %s (rev %d): %w", won.Node, won.Rev, err)
	}
	ss.st.log.Info("resigned ownership", "node", won.Node, "owner_rev", won.Rev)
	return nil
}

// Owner returns the current owner generation, or ErrNoOwner.
func (s *Store) Owner(ctx context.Context) (Owner, error) {
	resp, err := s.cli.Get(ctx, s.ownerPrefix()+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return Owner{}, fmt.Errorf("meta: read owner: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return Owner{}, ErrNoOwner
	}
	kv := resp.Kvs[0]
	return Owner{Node: string(kv.Value), Key: string(kv.Key), Rev: kv.CreateRevision}, nil
}

// ObserveOwner sends the owner generation every time it changes (and once
// at the start if there is one) until ctx is done; the channel is then
// closed. Slow receivers see only the latest owner.
func (ss *Session) ObserveOwner(ctx context.Context) <-chan Owner {
	out := make(chan Owner, 1)
	go func() {
		defer close(out)
		for ctx.Err() == nil {
			for resp := range ss.elec.Observe(ctx) {
				if len(resp.Kvs) == 0 {
					continue
				}
				kv := resp.Kvs[0]
				sendLatest(ctx, out, Owner{Node: string(kv.Value), Key: string(kv.Key), Rev: kv.CreateRevision})
			}
			if wait.Sleep(ctx, 100*time.Millisecond) != nil {
				return
			}
		}
	}()
	return out
}
