package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/chaosrun/chaosrun/system/upstream"
	"github.com/chaosrun/chaosrun/workloads"
)

// WorkloadStore adapts an upstream client to workloads.Store.
type WorkloadStore struct{ Client *upstream.Client }

// definite lists upstream errors that prove a transaction was not applied.
var definite = []error{upstream.ErrInvalid, upstream.ErrUnknownTable, upstream.ErrDuplicateKey,
	upstream.ErrRowNotFound, upstream.ErrConflict, upstream.ErrClosed}

// Commit implements workloads.Store.
func (s WorkloadStore) Commit(ctx context.Context, ws []workloads.Write) (uint64, error) {
	out := make([]upstream.Write, len(ws))
	for i, w := range ws {
		op, err := opOf(w.Op)
		if err != nil {
			return 0, fmt.Errorf("%w: %w", workloads.ErrNotApplied, err)
		}
		cols := make(map[string]upstream.Value, len(w.Columns))
		for k, v := range w.Columns {
			cols[k] = upstream.Str(v)
		}
		out[i] = upstream.Write{Table: w.Table, PK: w.PK, Op: op, Columns: cols}
	}
	ts, err := s.Client.Commit(ctx, out...)
	if err != nil {
		for _, d := range definite {
			if errors.Is(err, d) {
				return 0, fmt.Errorf("%w: %w", workloads.ErrNotApplied, err)
			}
		}
		return 0, err
	}
	return ts, nil
}

func opOf(o workloads.Op) (upstream.Op, error) {
	switch o {
	case workloads.OpInsert:
		return upstream.OpInsert, nil
	case workloads.OpUpdate:
		return upstream.OpUpdate, nil
	case workloads.OpDelete:
		return upstream.OpDelete, nil
	}
	return 0, fmt.Errorf("unknown op %q", o)
}
