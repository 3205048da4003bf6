package metaeffect

import (
	"context"
	"errors"

	"github.com/chaosrun/chaosrun/system/roles"
)

// Deliver hands an effect's outcome to the coordinator that asked for it.
// It returns the error of a failed load, which the driver must act on.
type Deliver func(*roles.Coordinator) error

// Apply carries out e against s if e is a meta-store effect; ok is false,
// and nothing is done, for any other effect.
func Apply(ctx context.Context, s Store, e roles.Effect) (deliver Deliver, ok bool) {
	switch e := e.(type) {
	case roles.LoadChangefeeds:
		infos, err := s.Changefeeds(ctx)
		return func(c *roles.Coordinator) error {
			if err != nil {
				return err
			}
			c.ChangefeedsLoaded(infos)
			return nil
		}, true
	case roles.PersistEpoch:
		r := PersistEpoch(ctx, s, e)
		return func(c *roles.Coordinator) error {
			c.EpochPersisted(e.Changefeed, r)
			return nil
		}, true
	case roles.PersistCheckpoint:
		r := PersistCheckpoint(ctx, s, e)
		return func(c *roles.Coordinator) error {
			c.CheckpointPersisted(e.Changefeed, r)
			return nil
		}, true
	}
	return nil, false
}

// PersistEpoch bumps the epoch as e asks and reports the outcome: granted,
// lost to other writers (with the epoch they persisted), or unknown.
func PersistEpoch(ctx context.Context, s Store, e roles.PersistEpoch) roles.EpochResult {
	epoch, err := s.BumpEpoch(ctx, e.Changefeed, e.Next)
	switch {
	case err == nil:
		return roles.EpochResult{OK: true, Epoch: epoch}
	case errors.Is(err, ErrConflict):
		return roles.EpochResult{Epoch: epoch}
	default:
		return roles.EpochResult{Unreachable: true}
	}
}

// PersistCheckpoint writes the checkpoint as e asks and reports the
// outcome. A write that fails is followed by a read of the owner revision,
// which tells the coordinator whether it was deposed; if that read fails
// too, nothing is known.
func PersistCheckpoint(ctx context.Context, s Store, e roles.PersistCheckpoint) roles.CheckpointResult {
	r := roles.CheckpointResult{Checkpoint: e.Checkpoint, CurrentRevision: e.OwnerRevision}
	if err := s.SaveCheckpoint(ctx, e.Changefeed, e.Checkpoint, e.OwnerRevision, e.Guarded); err == nil {
		r.OK = true
		return r
	}
	rev, err := s.OwnerRevision(ctx)
	switch {
	case err == nil:
		r.CurrentRevision = rev
	case errors.Is(err, ErrNoOwner):
		r.CurrentRevision = 0
	default:
		r.Unreachable = true
	}
	return r
}
