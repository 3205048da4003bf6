package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/chaosrun/chaosrun/system/meta"
	"github.com/chaosrun/chaosrun/system/roles"
	"github.com/chaosrun/chaosrun/system/roles/metaeffect"
)

// metaStore is the etcd meta store as the coordinator's effects see it,
// acting for node with the owner key it holds ("" when it holds none).
type metaStore struct {
	store    *meta.Store
	node     string
	ownerKey string
}

var _ metaeffect.Store = metaStore{}

// Changefeeds implements metaeffect.Store: the changefeed infos with their
// table names mapped to ids, and the checkpoint from the status (never
// below the start ts).
func (s metaStore) Changefeeds(ctx context.Context) ([]roles.ChangefeedInfo, error) {
	cfs, err := s.store.Changefeeds(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]roles.ChangefeedInfo, 0, len(cfs))
	for _, cf := range cfs {
		st, err := s.store.Status(ctx, cf.ID)
		if err != nil {
			return nil, err
		}
		tables := make([]int64, 0, len(cf.Tables))
		for _, t := range cf.Tables {
			id, err := TableID(t)
			if err != nil {
				return nil, fmt.Errorf("node: changefeed %s: %w", cf.ID, err)
			}
			tables = append(tables, id)
		}
		out = append(out, roles.ChangefeedInfo{ID: cf.ID, Epoch: cf.Epoch, Checkpoint: max(st.CheckpointTs, cf.StartTs), Tables: tables})
	}
	return out, nil
}

// BumpEpoch implements metaeffect.Store.
func (s metaStore) BumpEpoch(ctx context.Context, cf string, candidate uint64) (uint64, error) {
	epoch, err := s.store.BumpEpoch(ctx, cf, candidate, s.node)
	if !errors.Is(err, meta.ErrEpochConflict) {
		return epoch, err
	}
	info, _, rerr := s.store.Changefeed(ctx, cf)
	if rerr != nil {
		return 0, fmt.Errorf("%w: %w", metaeffect.ErrConflict, err)
	}
	return info.Epoch, fmt.Errorf("%w: %w", metaeffect.ErrConflict, err)
}

// SaveCheckpoint implements metaeffect.Store.
func (s metaStore) SaveCheckpoint(ctx context.Context, cf string, ts uint64, ownerRev int64, guarded bool) error {
	err := s.store.SaveCheckpoint(ctx, cf, ts, s.ownerKey, ownerRev, guarded)
	if errors.Is(err, meta.ErrNotOwner) {
		return fmt.Errorf("%w: %w", metaeffect.ErrNotOwner, err)
	}
	return err
}

// OwnerRevision implements metaeffect.Store.
func (s metaStore) OwnerRevision(ctx context.Context) (int64, error) {
	o, err := s.store.Owner(ctx)
	if errors.Is(err, meta.ErrNoOwner) {
		return 0, fmt.Errorf("%w: %w", metaeffect.ErrNoOwner, err)
	}
	return o.Rev, err
}
