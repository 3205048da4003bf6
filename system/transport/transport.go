package transport

import (
	"context"
	"errors"

	"github.com/chaosrun/chaosrun/heartbeatpb"
)

// Sentinel errors; implementations wrap them with the identifiers involved.
var (
	// ErrClosed is returned by Send after the transport was closed.
	ErrClosed = errors.New("transport: closed")
	// ErrUnknownPeer is returned by Send when env.To is not a known, live
	// peer.
	ErrUnknownPeer = errors.New("transport: unknown peer")
	// ErrInvalidEnvelope is returned by Send for a nil envelope or one
	// without a destination.
	ErrInvalidEnvelope = errors.New("transport: invalid envelope")
)

// Transport sends and receives envelopes for one node. Extensions (traffic
// hooks, stats) belong in optional interfaces, not here.
type Transport interface {
	// ID returns the node this transport belongs to. It never changes.
	ID() string
	// Send queues env for delivery to env.To. The transport stamps From with
	// ID() on its own copy and does not retain or modify env. Sending to
	// ID() itself is allowed. Send returns an error wrapping
	// ErrInvalidEnvelope, ErrUnknownPeer, ErrClosed or ctx.Err(); it is safe
	// for concurrent use and not idempotent (each call sends once).
	Send(ctx context.Context, env *heartbeatpb.Envelope) error
	// Recv returns the channel of envelopes addressed to this node. It is the
	// same channel on every call and is closed after Close.
	Recv() <-chan *heartbeatpb.Envelope
	// Close stops the transport and releases its resources. It is idempotent
	// and returns nil on every call after the first.
	Close() error
}
