// Package metaeffecttest is the contract suite every metaeffect.Store must
// pass (Run, in the spirit of testing/fstest), and MemStore, an in-memory
// Store that passes it.
//
// Caller obligations: newTarget must return a fresh, empty meta store with
// nobody elected; Run cancels nothing it did not create, so the target must
// clean up after itself (t.Cleanup).
package metaeffecttest
