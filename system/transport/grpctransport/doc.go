// Package grpctransport is the real transport of the control plane: one
// bidirectional gRPC stream (heartbeatpb.PeerService) per peer, opened by
// the sending node and named by a metadata header.
//
// Delivery is best effort, as in TiCDC's message center: an envelope queued
// while a stream is broken may be lost, and senders must resend until they
// see an acknowledgement. Envelopes from one sender arrive in order while
// its stream lives. Streams from nodes the Resolver does not know are
// refused, so a node dropped from the membership cannot keep delivering.
package grpctransport
