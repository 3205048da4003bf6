package upstream

import "errors"

// Sentinel errors. The client maps gRPC status codes back to them, so
// errors.Is works on both sides of the wire.
var (
	// ErrInvalid means a malformed request (empty transaction, unknown op,
	// a row written twice in one transaction, an empty span...).
	ErrInvalid = errors.New("upstream: invalid request")
	// ErrUnknownTable means the table does not exist.
	ErrUnknownTable = errors.New("upstream: unknown table")
	// ErrDuplicateKey means an insert hit an existing row.
	ErrDuplicateKey = errors.New("upstream: duplicate key")
	// ErrRowNotFound means an update or delete hit a missing row.
	ErrRowNotFound = errors.New("upstream: row not found")
	// ErrConflict means a write's ExpectCommitTs did not match: another
	// transaction changed the row since it was read. Retry.
	ErrConflict = errors.New("upstream: write conflict")
	// ErrClosed means the DB is closed.
	ErrClosed = errors.New("upstream: closed")
	// ErrLogFailed means the change log could not be written or synced: the
	// outcome of the affected commits is unknown and the DB accepts no more
	// writes.
	ErrLogFailed = errors.New("upstream: change log failed")
)
