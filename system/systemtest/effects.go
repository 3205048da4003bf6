package systemtest

import (
	"context"
	"errors"

	"github.com/chaosrun/chaosrun/system/roles"
	"github.com/chaosrun/chaosrun/system/roles/metaeffect"
)

// apply carries out one effect of node n: meta-store effects through
// metaeffect, as a real node does, the rest on the env's model of the
// dispatchers and the sink.
func (e *Env) apply(n *node, eff roles.Effect) {
	if e.applyMeta(n, eff) {
		return
	}
	switch f := eff.(type) {
	case roles.StepDown:
		e.out.add("%s coordinator steps down: %s", n.id, f.Reason)
	case roles.OpenManager:
		e.out.add("%s %s", n.id, f)
		if n.dispatch[f.Changefeed] == nil {
			n.dispatch[f.Changefeed] = map[string]int64{}
		}
	case roles.CloseManager:
		e.out.add("%s %s", n.id, f)
		delete(n.dispatch, f.Changefeed)
	case roles.CreateDispatcher:
		e.out.add("%s %s", n.id, f)
		if n.dispatch[f.Changefeed] == nil {
			n.dispatch[f.Changefeed] = map[string]int64{}
		}
		n.dispatch[f.Changefeed][f.DispatcherID] = f.Span.GetTableId()
	case roles.RemoveDispatcher:
		e.out.add("%s %s", n.id, f)
		delete(n.dispatch[f.Changefeed], f.DispatcherID)
	case roles.WriteWatermark:
		e.writeWatermark(n, f)
	default:
		e.out.add("%s unknown effect %s", n.id, eff)
	}
}

// applyMeta applies a meta-store effect of node n and reports whether eff
// was one. A node that cannot reach the meta store says so, except for the
// routine checkpoint writes.
func (e *Env) applyMeta(n *node, eff roles.Effect) bool {
	deliver, ok := metaeffect.Apply(context.Background(), nodeStore{e: e, n: n}, eff)
	if !ok {
		return false
	}
	if _, routine := eff.(roles.PersistCheckpoint); n.isolated && !routine {
		e.out.add("%s meta unreachable: %s", n.id, eff)
	}
	if c := n.roles.Coordinator; c != nil {
		// NB: a failed load (printed above) is dropped: the coordinator
		// waits for the next election, as a node that resigns does.
		_ = deliver(c)
	}
	return true
}

func (e *Env) writeWatermark(n *node, f roles.WriteWatermark) {
	s := e.sink[f.Changefeed]
	if s == nil {
		s = &sinkState{}
		e.sink[f.Changefeed] = s
	}
	if epoch := e.metaEpoch(f.Changefeed); f.Epoch < epoch {
		s.stale++
		e.out.add("%s %s  !! stale watermark (epoch %d < %d)", n.id, f, f.Epoch, epoch)
	}
	s.watermark, s.epoch, s.node = max(s.watermark, f.Ts), f.Epoch, n.id
}

// errUnreachable is the meta store's answer to an isolated node.
var errUnreachable = errors.New("systemtest: meta store unreachable")

// nodeStore is the env's meta store as node n reaches it: not at all while
// n is isolated. It prints every epoch it grants.
type nodeStore struct {
	e *Env
	n *node
}

var _ metaeffect.Store = nodeStore{}

func (s nodeStore) Changefeeds(ctx context.Context) ([]roles.ChangefeedInfo, error) {
	if s.n.isolated {
		return nil, errUnreachable
	}
	return s.e.meta.Changefeeds(ctx)
}

func (s nodeStore) BumpEpoch(ctx context.Context, cf string, candidate uint64) (uint64, error) {
	if s.n.isolated {
		return 0, errUnreachable
	}
	prev := s.e.metaEpoch(cf)
	epoch, err := s.e.meta.BumpEpoch(ctx, cf, candidate)
	if err == nil {
		s.e.out.add("%s meta %s epoch %d -> %d", s.n.id, cf, prev, epoch)
	}
	return epoch, err
}

func (s nodeStore) SaveCheckpoint(ctx context.Context, cf string, ts uint64, ownerRev int64, guarded bool) error {
	if s.n.isolated {
		return errUnreachable
	}
	return s.e.meta.SaveCheckpoint(ctx, cf, ts, ownerRev, guarded)
}

func (s nodeStore) OwnerRevision(ctx context.Context) (int64, error) {
	if s.n.isolated {
		return 0, errUnreachable
	}
	return s.e.meta.OwnerRevision(ctx)
}
