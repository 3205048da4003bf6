// Package transporttest is the contract suite every transport.Transport
// must pass (in the spirit of testing/fstest and hashicorp/raft's transport
// tests).
//
// Caller obligations: newPair must return two fresh, connected transports
// that know each other and nothing else, with a lossless link between them;
// Run closes them. Run checks for leaked goroutines with goleak, so newPair
// must not leave goroutines behind once both transports are closed.
package transporttest
