package metaeffecttest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/fencing"
	"github.com/chaosrun/chaosrun/system/roles"
	"github.com/chaosrun/chaosrun/system/roles/metaeffect"
)

// Target is a meta store under test and the means to arrange its state.
type Target struct {
	// Create registers a changefeed with its tables, epoch and checkpoint.
	Create func(t *testing.T, info roles.ChangefeedInfo)
	// Elect makes node the owner, deposing the previous owner, and returns
	// a Store acting for node with the owner key it now holds, and the key's
	// revision.
	Elect func(t *testing.T, node string) (metaeffect.Store, int64)
	// Bystander returns a Store acting for node, which holds no owner key.
	Bystander func(t *testing.T, node string) metaeffect.Store
}

// NewTarget returns a fresh, empty meta store with nobody elected.
type NewTarget func(t *testing.T) Target

// Run runs the contract suite against the stores made by newTarget.
func Run(t *testing.T, newTarget NewTarget) {
	tests := []struct {
		name string
		fn   func(*testing.T, Target)
	}{
		{"LoadSortedByID", testLoad},
		{"BumpEpochAboveThePersisted", testBumpEpoch},
		{"CheckpointOnlyMovesForward", testCheckpointForward},
		{"GuardRefusesADeposedOwner", testGuard},
		{"NoOwner", testNoOwner},
		{"Unreachable", testUnreachable},
		{"ApplyDeliversToTheCoordinator", testApply},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newTarget(t)) })
	}
}

var (
	cf1 = roles.ChangefeedInfo{ID: "cf1", Epoch: 1, Checkpoint: 1000, Tables: []int64{1, 2}}
	cf2 = roles.ChangefeedInfo{ID: "cf2", Epoch: 4, Checkpoint: 2000, Tables: []int64{3}}
)

func changefeed(t *testing.T, s metaeffect.Store, id string) roles.ChangefeedInfo {
	t.Helper()
	infos, err := s.Changefeeds(t.Context())
	require.NoError(t, err)
	for _, info := range infos {
		if info.ID == id {
			return info
		}
	}
	require.Failf(t, "changefeed missing", "no changefeed %s in %v", id, infos)
	return roles.ChangefeedInfo{}
}

func testLoad(t *testing.T, tg Target) {
	s := tg.Bystander(t, "n1")
	infos, err := s.Changefeeds(t.Context())
	require.NoError(t, err)
	assert.Empty(t, infos)
	tg.Create(t, cf2)
	tg.Create(t, cf1)
	infos, err = s.Changefeeds(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []roles.ChangefeedInfo{cf1, cf2}, infos)
}

func testBumpEpoch(t *testing.T, tg Target) {
	tg.Create(t, cf1)
	s := tg.Bystander(t, "n1")
	for _, step := range []struct{ candidate, want uint64 }{
		{2, 2},   // the coordinator's usual candidate: persisted+1
		{2, 3},   // a stale candidate still moves the epoch up
		{10, 10}, // a candidate ahead is taken as is
		{0, 11},
	} {
		got, err := s.BumpEpoch(t.Context(), "cf1", step.candidate)
		require.NoError(t, err)
		assert.Equal(t, step.want, got, "candidate %d", step.candidate)
	}
	assert.Equal(t, uint64(11), changefeed(t, s, "cf1").Epoch)

	_, err := s.BumpEpoch(t.Context(), "missing", 1)
	require.Error(t, err)
	assert.NotErrorIs(t, err, metaeffect.ErrConflict, "a missing changefeed is no lost race")
	r := metaeffect.PersistEpoch(t.Context(), s, roles.PersistEpoch{Changefeed: "cf1", Expected: 11, Next: 12})
	assert.Equal(t, roles.EpochResult{OK: true, Epoch: 12}, r)
}

func testCheckpointForward(t *testing.T, tg Target) {
	tg.Create(t, cf1)
	s := tg.Bystander(t, "n1")
	require.NoError(t, s.SaveCheckpoint(t.Context(), "cf1", 1500, 0, false))
	assert.Equal(t, uint64(1500), changefeed(t, s, "cf1").Checkpoint)
	require.NoError(t, s.SaveCheckpoint(t.Context(), "cf1", 1200, 0, false), "an older checkpoint is no error")
	assert.Equal(t, uint64(1500), changefeed(t, s, "cf1").Checkpoint)
	require.Error(t, s.SaveCheckpoint(t.Context(), "missing", 1500, 0, false))
}

func testGuard(t *testing.T, tg Target) {
	tg.Create(t, cf1)
	a, revA := tg.Elect(t, "n1")
	require.NoError(t, a.SaveCheckpoint(t.Context(), "cf1", 1100, revA, true))
	got, err := a.OwnerRevision(t.Context())
	require.NoError(t, err)
	assert.Equal(t, revA, got)

	b, revB := tg.Elect(t, "n2")
	assert.Greater(t, revB, revA, "a new owner key has a newer revision")
	err = a.SaveCheckpoint(t.Context(), "cf1", 1200, revA, true)
	require.ErrorIs(t, err, metaeffect.ErrNotOwner)
	assert.Equal(t, uint64(1100), changefeed(t, b, "cf1").Checkpoint, "a refused write changes nothing")
	r := metaeffect.PersistCheckpoint(t.Context(), a, roles.PersistCheckpoint{Changefeed: "cf1", Checkpoint: 1200, OwnerRevision: revA, Guarded: true})
	assert.Equal(t, roles.CheckpointResult{Checkpoint: 1200, CurrentRevision: revB}, r, "the deposed owner learns the new revision")

	// Unguarded, the deposed owner still writes: the pre-fix behaviour.
	require.NoError(t, a.SaveCheckpoint(t.Context(), "cf1", 1300, revA, false))
	assert.Equal(t, uint64(1300), changefeed(t, b, "cf1").Checkpoint)
	r = metaeffect.PersistCheckpoint(t.Context(), b, roles.PersistCheckpoint{Changefeed: "cf1", Checkpoint: 1400, OwnerRevision: revB, Guarded: true})
	assert.Equal(t, roles.CheckpointResult{OK: true, Checkpoint: 1400, CurrentRevision: revB}, r)
	assert.Equal(t, uint64(1400), changefeed(t, b, "cf1").Checkpoint)
}

func testNoOwner(t *testing.T, tg Target) {
	tg.Create(t, cf1)
	s := tg.Bystander(t, "n1")
	_, err := s.OwnerRevision(t.Context())
	require.ErrorIs(t, err, metaeffect.ErrNoOwner)
	err = s.SaveCheckpoint(t.Context(), "cf1", 1100, 0, true)
	require.ErrorIs(t, err, metaeffect.ErrNotOwner, "a guarded write needs an owner revision")
	r := metaeffect.PersistCheckpoint(t.Context(), s, roles.PersistCheckpoint{Changefeed: "cf1", Checkpoint: 1100, Guarded: true})
	assert.Equal(t, roles.CheckpointResult{Checkpoint: 1100}, r, "nobody owns the cluster: revision 0, and the store did answer")
}

func testUnreachable(t *testing.T, tg Target) {
	tg.Create(t, cf1)
	s, rev := tg.Elect(t, "n1")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.Changefeeds(ctx)
	require.Error(t, err)
	_, err = s.BumpEpoch(ctx, "cf1", 2)
	require.Error(t, err)
	assert.NotErrorIs(t, err, metaeffect.ErrConflict)
	err = s.SaveCheckpoint(ctx, "cf1", 1100, rev, true)
	require.Error(t, err)
	assert.NotErrorIs(t, err, metaeffect.ErrNotOwner)
	_, err = s.OwnerRevision(ctx)
	require.Error(t, err)
	assert.NotErrorIs(t, err, metaeffect.ErrNoOwner)

	assert.Equal(t, roles.EpochResult{Unreachable: true},
		metaeffect.PersistEpoch(ctx, s, roles.PersistEpoch{Changefeed: "cf1", Expected: 1, Next: 2}))
	assert.True(t, metaeffect.PersistCheckpoint(ctx, s, roles.PersistCheckpoint{Changefeed: "cf1", Checkpoint: 1100, OwnerRevision: rev, Guarded: true}).Unreachable)
	deliver, ok := metaeffect.Apply(ctx, s, roles.LoadChangefeeds{})
	require.True(t, ok)
	require.Error(t, deliver(nil), "a failed load is the driver's to handle; the coordinator is not called")

	// Nothing changed meanwhile.
	assert.Equal(t, cf1, changefeed(t, s, "cf1"))
}

// testApply drives a coordinator through its bootstrap with effects applied
// by Apply: it loads the changefeed, then bumps its epoch before scheduling
// it.
func testApply(t *testing.T, tg Target) {
	tg.Create(t, cf1)
	s, rev := tg.Elect(t, "n1")
	c := roles.NewCoordinator("n1", rev, fencing.Epoch, roles.Config{}, nil)
	apply := func(want roles.Effect) {
		t.Helper()
		var effects []roles.Effect
		for _, e := range c.Ready().Effects {
			effects = append(effects, e)
			deliver, ok := metaeffect.Apply(t.Context(), s, e)
			require.True(t, ok, "%s is a meta-store effect", e)
			require.NoError(t, deliver(c))
		}
		require.Equal(t, []roles.Effect{want}, effects)
	}
	_, ok := metaeffect.Apply(t.Context(), s, roles.StepDown{})
	assert.False(t, ok, "not a meta-store effect")

	c.NodesChanged(nil) // nobody to bootstrap: load at once
	apply(roles.LoadChangefeeds{})
	assert.Equal(t, "absent", c.Changefeeds()["cf1"].Phase)
	c.NodesChanged([]string{"n1"})
	c.Ready()
	c.Tick()
	apply(roles.PersistEpoch{Changefeed: "cf1", Expected: 1, Next: 2})
	assert.Equal(t, uint64(2), changefeed(t, s, "cf1").Epoch)
	assert.Equal(t, uint64(2), c.Changefeeds()["cf1"].Epoch)
	assert.Equal(t, "scheduling", c.Changefeeds()["cf1"].Phase)
}
