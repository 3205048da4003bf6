package metaeffect

import (
	"context"
	"errors"

	"github.com/chaosrun/chaosrun/system/roles"
)

// Store is the part of the meta store the coordinator's effects touch, as
// seen by one node. Every method may fail because the store cannot be
// reached; such an error wraps none of the sentinels below.
type Store interface {
	// Changefeeds returns every changefeed, sorted by id, with its persisted
	// epoch and checkpoint and its tables.
	Changefeeds(ctx context.Context) ([]roles.ChangefeedInfo, error)
	// BumpEpoch persists fencing.NextEpoch(candidate, persisted) as cf's
	// epoch, recording the node as the grantor, and returns it. When other
	// writers kept winning it gives up with an error wrapping ErrConflict,
	// returned with the epoch they persisted (0 if it could not be read).
	BumpEpoch(ctx context.Context, cf string, candidate uint64) (uint64, error)
	// SaveCheckpoint persists ts as cf's checkpoint if it is ahead of the
	// persisted one; an older ts changes nothing and succeeds. When guarded,
	// it writes only while the owner key the node holds is the current one
	// at revision ownerRev, and fails with an error wrapping ErrNotOwner
	// otherwise. Unguarded, ownerRev is ignored (the pre-fix behaviour).
	SaveCheckpoint(ctx context.Context, cf string, ts uint64, ownerRev int64, guarded bool) error
	// OwnerRevision returns the revision of the current owner key, or an
	// error wrapping ErrNoOwner when nobody is elected.
	OwnerRevision(ctx context.Context) (int64, error)
}

// Errors a Store wraps so that Apply can tell its answers apart.
var (
	// ErrConflict means an epoch bump lost its compare-and-swap more often
	// than the store retries.
	ErrConflict = errors.New("metaeffect: epoch bump conflict")
	// ErrNotOwner means a guarded checkpoint write was refused: the writer's
	// owner revision is not the current one.
	ErrNotOwner = errors.New("metaeffect: not the owner")
	// ErrNoOwner means nobody is elected.
	ErrNoOwner = errors.New("metaeffect: no owner")
)
