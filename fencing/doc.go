// Package fencing holds the receiver rules that stop stale generations of a
// changefeed's maintainer from acting.
//
// Every function is pure: it takes the local view (current epoch, recorded
// owner node, tombstone) and the incoming claim (sender, epoch) and returns a
// Decision. Callers log the decision and act on its Verdict; this package
// does no I/O, reads no clock, starts no goroutine and never logs.
//
// A Policy selects between the fix (Epoch) and the behaviour before it
// (Off). Nothing outside this package may branch on the policy: the
// fencing-off negative control differs from the fencing-on run only in the
// decisions returned here.
package fencing
