package meta

import (
	"errors"
	"fmt"
)

// Sentinel errors. Compare with errors.Is; returned errors wrap them with
// the identifiers involved (changefeed, node, revision).
var (
	// ErrNotOwner means the caller holds no owner key (it never won, or
	// resigned) and tried an owner-only write.
	ErrNotOwner = errors.New("meta: not the owner")
	// ErrDeposed means the caller once won the election but its owner key no
	// longer exists at the revision it won with: another owner took over.
	// errors.Is(ErrDeposed, ErrNotOwner) holds.
	ErrDeposed = fmt.Errorf("%w: owner key revision changed (deposed)", ErrNotOwner)
	// ErrNoOwner means no owner key exists.
	ErrNoOwner = errors.New("meta: no owner elected")
	// ErrEpochConflict means an epoch bump lost its compare-and-swap on the
	// changefeed info key more times than the retry budget allows.
	ErrEpochConflict = errors.New("meta: epoch bump conflict")
	// ErrEpochOverflow means the persisted epoch cannot be advanced.
	ErrEpochOverflow = errors.New("meta: epoch overflow")
	// ErrChangefeedNotFound means the changefeed info key does not exist.
	ErrChangefeedNotFound = errors.New("meta: changefeed not found")
	// ErrChangefeedExists means CreateChangefeed found an existing info key.
	ErrChangefeedExists = errors.New("meta: changefeed already exists")
	// ErrCheckpointConflict means a checkpoint write lost its
	// compare-and-swap on the status key more times than the retry budget
	// allows.
	ErrCheckpointConflict = errors.New("meta: checkpoint write conflict")
	// ErrSessionExpired means the session's lease is gone (expired, revoked
	// or closed); the holder must stop acting and open a new session.
	ErrSessionExpired = errors.New("meta: session expired")
	// ErrInvalid means an argument was rejected before reaching etcd.
	ErrInvalid = errors.New("meta: invalid argument")
)
