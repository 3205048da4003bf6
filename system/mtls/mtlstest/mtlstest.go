// Package mtlstest issues run certificates for tests.
package mtlstest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/system/mtls"
)

// Issue makes a run CA in a test directory with a certificate for each
// member and loads them. Two calls are two runs: neither trusts the other.
func Issue(t testing.TB, members ...string) map[string]*mtls.Identity {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, mtls.Issue(dir, members...))
	ids := make(map[string]*mtls.Identity, len(members))
	for _, m := range members {
		id, err := mtls.Load(dir, m)
		require.NoError(t, err)
		ids[m] = id
	}
	return ids
}
