package roles

import (
	"fmt"

	"github.com/chaosrun/chaosrun/heartbeatpb"
)

// Effect is something the driver must do for a role. Effects whose outcome
// the role needs (meta-store reads and writes) come back as inputs.
type Effect interface {
	fmt.Stringer
	isEffect()
}

// LoadChangefeeds asks the driver to read every changefeed from the meta
// store and call Coordinator.ChangefeedsLoaded.
type LoadChangefeeds struct{}

// PersistEpoch asks the driver to persist a new epoch for the changefeed,
// Next or, if the persisted epoch moved past Expected meanwhile, the one
// above it (fencing.NextEpoch), and call Coordinator.EpochPersisted.
type PersistEpoch struct {
	Changefeed     string
	Expected, Next uint64
}

// PersistCheckpoint asks the driver to write the changefeed's checkpoint and
// call Coordinator.CheckpointPersisted. When Guarded, the write must be a
// transaction comparing the owner key's revision with OwnerRevision
// (fencing.GuardCheckpointWrite decides).
type PersistCheckpoint struct {
	Changefeed    string
	Checkpoint    uint64
	OwnerRevision int64
	Guarded       bool
}

// StepDown tells the driver the coordinator stopped acting as owner.
type StepDown struct{ Reason string }

// OpenManager tells the driver a dispatcher manager (and its sink producer)
// now exists on the node, or that an existing one was taken over by a new
// owner: what it writes from now on belongs to Epoch.
type OpenManager struct {
	Changefeed string
	Owner      string
	Epoch      uint64
}

// CloseManager tells the driver to close the changefeed's dispatcher
// manager on the node and its sink producer.
type CloseManager struct{ Changefeed string }

// CreateDispatcher asks the driver to start a span dispatcher that pulls the
// upstream from StartTs and writes rows under Epoch; its progress comes back
// through Orchestrator.DispatcherProgress.
type CreateDispatcher struct {
	Changefeed   string
	DispatcherID string
	Span         *heartbeatpb.TableSpan
	StartTs      uint64
	Epoch        uint64
}

// RemoveDispatcher asks the driver to stop a span dispatcher.
type RemoveDispatcher struct {
	Changefeed   string
	DispatcherID string
}

// WriteWatermark asks the driver to broadcast a watermark record to every
// partition of the changefeed's topic.
type WriteWatermark struct {
	Changefeed string
	Ts         uint64
	Epoch      uint64
}

func (LoadChangefeeds) isEffect()   {}
func (PersistEpoch) isEffect()      {}
func (PersistCheckpoint) isEffect() {}
func (StepDown) isEffect()          {}
func (OpenManager) isEffect()       {}
func (CloseManager) isEffect()      {}
func (CreateDispatcher) isEffect()  {}
func (RemoveDispatcher) isEffect()  {}
func (WriteWatermark) isEffect()    {}

// String implements fmt.Stringer.
func (LoadChangefeeds) String() string { return "load-changefeeds" }

// String implements fmt.Stringer.
func (e PersistEpoch) String() string {
	return fmt.Sprintf("persist-epoch %s %d -> %d", e.Changefeed, e.Expected, e.Next)
}

// String implements fmt.Stringer.
func (e PersistCheckpoint) String() string {
	return fmt.Sprintf("persist-checkpoint %s %d rev=%d guarded=%t", e.Changefeed, e.Checkpoint, e.OwnerRevision, e.Guarded)
}

// String implements fmt.Stringer.
func (e StepDown) String() string { return "step-down: " + e.Reason }

// String implements fmt.Stringer.
func (e OpenManager) String() string {
	return fmt.Sprintf("open-manager %s owner=%s e%d", e.Changefeed, e.Owner, e.Epoch)
}

// String implements fmt.Stringer.
func (e CloseManager) String() string { return "close-manager " + e.Changefeed }

// String implements fmt.Stringer.
func (e CreateDispatcher) String() string {
	return fmt.Sprintf("create-dispatcher %s %s start=%d e%d", e.Changefeed, e.DispatcherID, e.StartTs, e.Epoch)
}

// String implements fmt.Stringer.
func (e RemoveDispatcher) String() string {
	return fmt.Sprintf("remove-dispatcher %s %s", e.Changefeed, e.DispatcherID)
}

// String implements fmt.Stringer.
func (e WriteWatermark) String() string {
	return fmt.Sprintf("write-watermark %s ts=%d e%d", e.Changefeed, e.Ts, e.Epoch)
}

// ChangefeedInfo is a changefeed as the coordinator loads it.
type ChangefeedInfo struct {
	ID         string
	Epoch      uint64  // persisted maintainer epoch
	Checkpoint uint64  // persisted checkpoint
	Tables     []int64 // one span per table
}

// EpochResult is the outcome of a PersistEpoch effect.
type EpochResult struct {
	OK          bool
	Unreachable bool   // the store could not be reached; nothing is known
	Epoch       uint64 // the persisted epoch after the call (Next on success)
}

// CheckpointResult is the outcome of a PersistCheckpoint effect.
type CheckpointResult struct {
	OK              bool
	Unreachable     bool // the store could not be reached; nothing is known
	Checkpoint      uint64
	CurrentRevision int64 // the owner key's revision seen by the store
}
