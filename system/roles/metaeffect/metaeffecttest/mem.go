package metaeffecttest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/chaosrun/chaosrun/fencing"
	"github.com/chaosrun/chaosrun/system/roles"
	"github.com/chaosrun/chaosrun/system/roles/metaeffect"
)

// MemStore is an in-memory meta store: changefeeds and an owner key whose
// revision grows with every election. Its Store methods act for any node
// (it keeps no epoch history), so one MemStore serves every node. It never
// loses a race, and answers until ctx is done. It is safe for concurrent
// use.
type MemStore struct {
	mu       sync.Mutex
	owner    string
	ownerRev int64
	cfs      map[string]roles.ChangefeedInfo
}

var _ metaeffect.Store = (*MemStore)(nil)

// NewMemStore returns a store holding infos, with nobody elected.
func NewMemStore(infos ...roles.ChangefeedInfo) *MemStore {
	m := &MemStore{cfs: map[string]roles.ChangefeedInfo{}}
	for _, info := range infos {
		m.Create(info)
	}
	return m
}

// Create registers a changefeed, replacing one with the same id.
func (m *MemStore) Create(info roles.ChangefeedInfo) {
	m.mu.Lock()
	defer m.mu.Unlock()
	info.Tables = slices.Clone(info.Tables)
	m.cfs[info.ID] = info
}

// Elect makes node the owner under a new owner key and returns its
// revision.
func (m *MemStore) Elect(node string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ownerRev++
	m.owner = node
	return m.ownerRev
}

// Owner returns the elected node and its owner revision ("" and 0 before
// any election).
func (m *MemStore) Owner() (node string, rev int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.owner, m.ownerRev
}

// Changefeed returns changefeed id as persisted.
func (m *MemStore) Changefeed(id string) (roles.ChangefeedInfo, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	info, ok := m.cfs[id]
	info.Tables = slices.Clone(info.Tables)
	return info, ok
}

// Changefeeds implements metaeffect.Store.
func (m *MemStore) Changefeeds(ctx context.Context) ([]roles.ChangefeedInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]roles.ChangefeedInfo, 0, len(m.cfs))
	for _, info := range m.cfs {
		info.Tables = slices.Clone(info.Tables)
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b roles.ChangefeedInfo) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// BumpEpoch implements metaeffect.Store.
func (m *MemStore) BumpEpoch(ctx context.Context, cf string, candidate uint64) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	info, ok := m.cfs[cf]
	if !ok {
		return 0, fmt.Errorf("metaeffecttest: no changefeed %q", cf)
	}
	next, ok := fencing.NextEpoch(candidate, info.Epoch)
	if !ok {
		return 0, fmt.Errorf("metaeffecttest: epoch of %s overflows", cf)
	}
	info.Epoch = next
	m.cfs[cf] = info
	return next, nil
}

// SaveCheckpoint implements metaeffect.Store.
func (m *MemStore) SaveCheckpoint(ctx context.Context, cf string, ts uint64, ownerRev int64, guarded bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	info, ok := m.cfs[cf]
	if !ok {
		return fmt.Errorf("metaeffecttest: no changefeed %q", cf)
	}
	if guarded && (m.owner == "" || ownerRev != m.ownerRev) {
		return fmt.Errorf("%w: checkpoint of %s at owner revision %d, current %d", metaeffect.ErrNotOwner, cf, ownerRev, m.ownerRev)
	}
	info.Checkpoint = max(info.Checkpoint, ts)
	m.cfs[cf] = info
	return nil
}

// OwnerRevision implements metaeffect.Store.
func (m *MemStore) OwnerRevision(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.owner == "" {
		return 0, metaeffect.ErrNoOwner
	}
	return m.ownerRev, nil
}
