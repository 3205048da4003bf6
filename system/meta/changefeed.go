package meta

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chaosrun/chaosrun/evidence"
	"github.com/chaosrun/chaosrun/fencing"
	"github.com/chaosrun/chaosrun/internal/wait"
)

// Retry budgets for the compare-and-swap loops. Every failed round means
// another writer succeeded, so with k concurrent writers a caller loses at
// most k-1 rounds.
const (
	maxCASAttempts = 32
	casBackoff     = 10 * time.Millisecond
)

// ChangefeedInfo is the changefeed's definition and its maintainer epoch.
// Fields unknown to this version are preserved by BumpEpoch.
type ChangefeedInfo struct {
	ID        string    `json:"id"`
	Topic     string    `json:"topic"`
	Tables    []string  `json:"tables"`
	StartTs   uint64    `json:"start_ts"`
	Epoch     uint64    `json:"epoch"`
	State     string    `json:"state,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// ChangefeedStatus is the persisted progress of a changefeed.
type ChangefeedStatus struct {
	CheckpointTs uint64    `json:"checkpoint_ts"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// CreateChangefeed writes the info key and an initial status (checkpoint =
// StartTs) in one transaction. A non-zero info.Epoch is recorded in the
// epoch history with an empty node. ErrChangefeedExists if it exists.
func (s *Store) CreateChangefeed(ctx context.Context, info ChangefeedInfo) error {
	if err := validName("changefeed", info.ID); err != nil {
		return err
	}
	now := time.Now().UTC()
	if info.CreatedAt.IsZero() {
		info.CreatedAt = now
	}
	ib, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("meta: encode changefeed %s: %w", info.ID, err)
	}
	sb, _ := json.Marshal(ChangefeedStatus{CheckpointTs: info.StartTs, UpdatedAt: now})
	ops := []clientv3.Op{
		clientv3.OpPut(s.infoKey(info.ID), string(ib)),
		clientv3.OpPut(s.statusKey(info.ID), string(sb)),
	}
	if info.Epoch != 0 {
		rb, _ := json.Marshal(evidence.Epoch{Changefeed: info.ID, Epoch: info.Epoch, GrantedAt: now})
		ops = append(ops, clientv3.OpPut(s.epochKey(info.ID, info.Epoch), string(rb)))
	}
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(s.infoKey(info.ID)), "=", 0)).
		Then(ops...).Commit()
	if err != nil {
		return fmt.Errorf("meta: create changefeed %s: %w", info.ID, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("%w: %s", ErrChangefeedExists, info.ID)
	}
	s.log.Info("created changefeed", "changefeed", info.ID, "epoch", info.Epoch, "start_ts", info.StartTs)
	return nil
}

// Changefeed reads a changefeed's info and the info key's ModRevision.
func (s *Store) Changefeed(ctx context.Context, cf string) (ChangefeedInfo, int64, error) {
	resp, err := s.cli.Get(ctx, s.infoKey(cf))
	if err != nil {
		return ChangefeedInfo{}, 0, fmt.Errorf("meta: read changefeed %s: %w", cf, err)
	}
	if len(resp.Kvs) == 0 {
		return ChangefeedInfo{}, 0, fmt.Errorf("%w: %s", ErrChangefeedNotFound, cf)
	}
	var info ChangefeedInfo
	if err := json.Unmarshal(resp.Kvs[0].Value, &info); err != nil {
		return ChangefeedInfo{}, 0, fmt.Errorf("meta: decode changefeed %s: %w", cf, err)
	}
	return info, resp.Kvs[0].ModRevision, nil
}

// Changefeeds lists every changefeed's info, sorted by id.
func (s *Store) Changefeeds(ctx context.Context) ([]ChangefeedInfo, error) {
	resp, err := s.cli.Get(ctx, s.prefix+"changefeed/info/", clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("meta: list changefeeds: %w", err)
	}
	out := make([]ChangefeedInfo, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var info ChangefeedInfo
		if err := json.Unmarshal(kv.Value, &info); err != nil {
			return nil, fmt.Errorf("meta: decode changefeed %s: %w", kv.Key, err)
		}
		out = append(out, info)
	}
	return out, nil
}

// RemoveChangefeed deletes a changefeed's info and status. Its epoch history
// stays (it is append-only). ErrChangefeedNotFound if absent.
func (s *Store) RemoveChangefeed(ctx context.Context, cf string) error {
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(s.infoKey(cf)), ">", 0)).
		Then(clientv3.OpDelete(s.infoKey(cf)), clientv3.OpDelete(s.statusKey(cf))).Commit()
	if err != nil {
		return fmt.Errorf("meta: remove changefeed %s: %w", cf, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("%w: %s", ErrChangefeedNotFound, cf)
	}
	return nil
}

// BumpEpoch persists a new maintainer epoch for cf before an ownership
// change and returns it: fencing.NextEpoch(candidate, persisted), so always
// strictly above the persisted epoch. It is a compare-and-swap on the info
// key's ModRevision that appends the evidence.Epoch (granted by node) in the
// same transaction; on a lost race it re-reads and retries, then gives up
// with ErrEpochConflict. Concurrent callers therefore get distinct,
// increasing epochs, each with exactly one history record.
func (s *Store) BumpEpoch(ctx context.Context, cf string, candidate uint64, node string) (uint64, error) {
	key := s.infoKey(cf)
	for attempt := 0; attempt < maxCASAttempts; attempt++ {
		resp, err := s.cli.Get(ctx, key)
		if err != nil {
			return 0, fmt.Errorf("meta: bump epoch of %s: read info: %w", cf, err)
		}
		if len(resp.Kvs) == 0 {
			return 0, fmt.Errorf("%w: %s", ErrChangefeedNotFound, cf)
		}
		kv := resp.Kvs[0]
		var raw map[string]json.RawMessage
		var cur struct {
			Epoch uint64 `json:"epoch"`
		}
		if err := json.Unmarshal(kv.Value, &raw); err != nil {
			return 0, fmt.Errorf("meta: bump epoch of %s: decode info: %w", cf, err)
		}
		if err := json.Unmarshal(kv.Value, &cur); err != nil {
			return 0, fmt.Errorf("meta: bump epoch of %s: decode epoch: %w", cf, err)
		}
		next, ok := fencing.NextEpoch(candidate, cur.Epoch)
		if !ok {
			return 0, fmt.Errorf("%w: %s at %d", ErrEpochOverflow, cf, cur.Epoch)
		}
		raw["epoch"] = json.RawMessage(fmt.Sprint(next))
		ib, err := json.Marshal(raw)
		if err != nil {
			return 0, fmt.Errorf("meta: bump epoch of %s: encode info: %w", cf, err)
		}
		rb, _ := json.Marshal(evidence.Epoch{Changefeed: cf, Epoch: next, GrantedAt: time.Now().UTC(), Node: node})
		hkey := s.epochKey(cf, next)
		tresp, err := s.cli.Txn(ctx).
			If(
				clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision),
				// Append-only: a history record is never overwritten.
				clientv3.Compare(clientv3.CreateRevision(hkey), "=", 0),
			).
			Then(clientv3.OpPut(key, string(ib)), clientv3.OpPut(hkey, string(rb))).
			Commit()
		if err != nil {
			return 0, fmt.Errorf("meta: bump epoch of %s: txn: %w", cf, err)
		}
		if tresp.Succeeded {
			s.log.Info("bumped epoch", "changefeed", cf, "node", node, "epoch", next, "prev_epoch", cur.Epoch, "revision", tresp.Header.Revision)
			return next, nil
		}
		if err := wait.Sleep(ctx, jitter(casBackoff)); err != nil {
			return 0, fmt.Errorf("meta: bump epoch of %s: %w", cf, err)
		}
	}
	return 0, fmt.Errorf("%w: %s after %d attempts", ErrEpochConflict, cf, maxCASAttempts)
}

func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d)
}

// EpochHistory returns the epoch records of cf in epoch order, or of every
// changefeed (ordered by changefeed, then epoch) when cf is empty.
func (s *Store) EpochHistory(ctx context.Context, cf string) ([]evidence.Epoch, error) {
	pfx := s.prefix + "changefeed/epoch/"
	if cf != "" {
		pfx = s.epochPrefix(cf)
	}
	resp, err := s.cli.Get(ctx, pfx, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, fmt.Errorf("meta: read epoch history %q: %w", cf, err)
	}
	out := make([]evidence.Epoch, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var r evidence.Epoch
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return nil, fmt.Errorf("meta: decode epoch record %s: %w", kv.Key, err)
		}
		r.Revision = kv.CreateRevision
		out = append(out, r)
	}
	return out, nil
}

// Status reads a changefeed's persisted status.
func (s *Store) Status(ctx context.Context, cf string) (ChangefeedStatus, error) {
	resp, err := s.cli.Get(ctx, s.statusKey(cf))
	if err != nil {
		return ChangefeedStatus{}, fmt.Errorf("meta: read status of %s: %w", cf, err)
	}
	if len(resp.Kvs) == 0 {
		return ChangefeedStatus{}, fmt.Errorf("%w: no status for %s", ErrChangefeedNotFound, cf)
	}
	var st ChangefeedStatus
	if err := json.Unmarshal(resp.Kvs[0].Value, &st); err != nil {
		return ChangefeedStatus{}, fmt.Errorf("meta: decode status of %s: %w", cf, err)
	}
	return st, nil
}

// SaveCheckpoint persists ts as cf's checkpoint if it is ahead of the stored
// one (the checkpoint only moves forward; an older or equal ts is a no-op
// that still checks ownership).
//
// With guard set (callers pass fencing.GuardCheckpointWrite(policy)) the
// write is a transaction that also compares the owner key's CreateRevision
// with ownerRev, so an owner that has been deposed cannot write: it gets
// ErrDeposed, and ErrNotOwner if it holds no owner key at all. Without
// guard the owner arguments are ignored (the pre-fix behaviour).
func (s *Store) SaveCheckpoint(ctx context.Context, cf string, ts uint64, ownerKey string, ownerRev int64, guard bool) error {
	if guard && (ownerKey == "" || ownerRev <= 0) {
		return fmt.Errorf("%w: checkpoint of %s without an owner revision", ErrNotOwner, cf)
	}
	if guard && !s.isOwnerKey(ownerKey) {
		return fmt.Errorf("%w: %q is not an owner election key", ErrInvalid, ownerKey)
	}
	ikey, skey := s.infoKey(cf), s.statusKey(cf)
	for attempt := 0; attempt < maxCASAttempts; attempt++ {
		resp, err := s.cli.Get(ctx, skey)
		if err != nil {
			return fmt.Errorf("meta: checkpoint of %s: read status: %w", cf, err)
		}
		var cur ChangefeedStatus
		var modRev int64
		if len(resp.Kvs) > 0 {
			modRev = resp.Kvs[0].ModRevision
			if err := json.Unmarshal(resp.Kvs[0].Value, &cur); err != nil {
				return fmt.Errorf("meta: checkpoint of %s: decode status: %w", cf, err)
			}
		}
		cmps := []clientv3.Cmp{
			clientv3.Compare(clientv3.CreateRevision(ikey), ">", 0),
			clientv3.Compare(clientv3.ModRevision(skey), "=", modRev),
		}
		elseOps := []clientv3.Op{clientv3.OpGet(ikey, clientv3.WithCountOnly())}
		if guard {
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(ownerKey), "=", ownerRev))
			elseOps = append(elseOps, clientv3.OpGet(ownerKey))
		}
		var then []clientv3.Op
		if ts > cur.CheckpointTs {
			sb, _ := json.Marshal(ChangefeedStatus{CheckpointTs: ts, UpdatedAt: time.Now().UTC()})
			then = append(then, clientv3.OpPut(skey, string(sb)))
		}
		tresp, err := s.cli.Txn(ctx).If(cmps...).Then(then...).Else(elseOps...).Commit()
		if err != nil {
			return fmt.Errorf("meta: checkpoint of %s: txn: %w", cf, err)
		}
		if tresp.Succeeded {
			return nil
		}
		if tresp.Responses[0].GetResponseRange().Count == 0 {
			return fmt.Errorf("%w: %s", ErrChangefeedNotFound, cf)
		}
		if guard {
			kvs := tresp.Responses[1].GetResponseRange().Kvs
			if len(kvs) == 0 || kvs[0].CreateRevision != ownerRev {
				return fmt.Errorf("%w: checkpoint %d of %s refused (owner key %s, held rev %d)", ErrDeposed, ts, cf, ownerKey, ownerRev)
			}
		}
		// The status moved under us; re-read and retry.
		if err := wait.Sleep(ctx, jitter(casBackoff)); err != nil {
			return fmt.Errorf("meta: checkpoint of %s: %w", cf, err)
		}
	}
	return fmt.Errorf("%w: %s after %d attempts", ErrCheckpointConflict, cf, maxCASAttempts)
}

// isOwnerKey reports whether key lies under the owner election prefix.
func (s *Store) isOwnerKey(key string) bool { return strings.HasPrefix(key, s.ownerPrefix()+"/") }
