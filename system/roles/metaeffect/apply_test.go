package metaeffect_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/chaosrun/chaosrun/system/roles"
	"github.com/chaosrun/chaosrun/system/roles/metaeffect"
)

// stub answers every call with the error set for it.
type stub struct {
	epoch                    uint64
	bumpErr, saveErr, ownErr error
	rev                      int64
}

func (s stub) Changefeeds(context.Context) ([]roles.ChangefeedInfo, error) { return nil, nil }
func (s stub) BumpEpoch(context.Context, string, uint64) (uint64, error)   { return s.epoch, s.bumpErr }
func (s stub) SaveCheckpoint(context.Context, string, uint64, int64, bool) error {
	return s.saveErr
}
func (s stub) OwnerRevision(context.Context) (int64, error) { return s.rev, s.ownErr }

var errDown = errors.New("connection refused")

// TestPersistEpochOutcomes covers the answers a store gives that the
// contract suite cannot provoke on demand (a lost race).
func TestPersistEpochOutcomes(t *testing.T) {
	e := roles.PersistEpoch{Changefeed: "cf1", Expected: 3, Next: 4}
	for _, tc := range []struct {
		name  string
		store stub
		want  roles.EpochResult
	}{
		{"granted", stub{epoch: 4}, roles.EpochResult{OK: true, Epoch: 4}},
		{"lost to other writers", stub{epoch: 7, bumpErr: fmt.Errorf("%w: cf1", metaeffect.ErrConflict)}, roles.EpochResult{Epoch: 7}},
		{"unreachable", stub{epoch: 7, bumpErr: errDown}, roles.EpochResult{Unreachable: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, metaeffect.PersistEpoch(t.Context(), tc.store, e))
		})
	}
}

func TestPersistCheckpointOutcomes(t *testing.T) {
	e := roles.PersistCheckpoint{Changefeed: "cf1", Checkpoint: 1500, OwnerRevision: 3, Guarded: true}
	refused := fmt.Errorf("%w: rev 3", metaeffect.ErrNotOwner)
	for _, tc := range []struct {
		name  string
		store stub
		want  roles.CheckpointResult
	}{
		{"written", stub{rev: 9}, roles.CheckpointResult{OK: true, Checkpoint: 1500, CurrentRevision: 3}},
		{"deposed", stub{saveErr: refused, rev: 5}, roles.CheckpointResult{Checkpoint: 1500, CurrentRevision: 5}},
		{"no owner", stub{saveErr: refused, ownErr: metaeffect.ErrNoOwner}, roles.CheckpointResult{Checkpoint: 1500}},
		{"write failed, owner known", stub{saveErr: errDown, rev: 3}, roles.CheckpointResult{Checkpoint: 1500, CurrentRevision: 3}},
		{"unreachable", stub{saveErr: errDown, ownErr: errDown}, roles.CheckpointResult{Checkpoint: 1500, CurrentRevision: 3, Unreachable: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, metaeffect.PersistCheckpoint(t.Context(), tc.store, e))
		})
	}
}
