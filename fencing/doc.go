// Package fencing holds the receiver rules that stop stale generations of a
// changefeed's maintainer from acting.
//
// Every function is pure: it takes the local view (current epoch, recorded
// owner node, tombstone) and the incoming claim (sender, epoch) and returns a
// Decision. Callers log the decision and act on its Verdict; this package
// does no I/O, reads no clock, starts no goroutine and never logs.
//
// Caller obligations: change state only when Decision.Acts reports true
// (Duplicate re-answers a bootstrap and changes nothing, AckWithoutActing
// answers a close with success and the request's epoch, anything else is
// dropped with the decision logged); record Claim.Epoch as the changefeed's
// close tombstone whenever Decision.Tombstone is set, including when no
// dispatcher manager exists; and never send epoch 0 as a default: a request
// carries its sender's own epoch, a remove the epoch its target reported.
//
// A Policy selects between the fix (Epoch) and the behaviour before it
// (Off). Nothing outside this package may branch on the policy: the
// fencing-off negative control differs from the fencing-on run only in the
// decisions returned here.
package fencing
