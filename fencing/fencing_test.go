package fencing

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParsePolicy(t *testing.T) {
	for _, p := range []Policy{Epoch, Off} {
		got, err := ParsePolicy(p.String())
		require.NoError(t, err)
		assert.Equal(t, p, got)
	}
	assert.Equal(t, "epoch", Epoch.String())
	assert.Equal(t, "off", Off.String())
	assert.Equal(t, "Policy(7)", Policy(7).String())

	for _, bad := range []string{"", "Epoch", "on", "none"} {
		_, err := ParsePolicy(bad)
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), "fencing: unknown policy")
	}
}

func TestVerdictString(t *testing.T) {
	want := map[Verdict]string{
		Accept:           "Accept",
		TakeOver:         "TakeOver",
		Duplicate:        "Duplicate",
		AckWithoutActing: "AckWithoutActing",
		Blocked:          "Blocked",
		RejectStale:      "RejectStale",
		RejectNewer:      "RejectNewer",
		RejectSender:     "RejectSender",
		RejectCompat:     "RejectCompat",
		RejectTombstone:  "RejectTombstone",
		RejectUnknown:    "RejectUnknown",
	}
	require.Len(t, want, int(RejectUnknown)+1, "every verdict has a name")
	for v, s := range want {
		assert.Equal(t, s, v.String())
	}
	assert.Equal(t, "Verdict(-1)", Verdict(-1).String())
	assert.Equal(t, "Verdict(99)", Verdict(99).String())
}

func TestVerdictActs(t *testing.T) {
	for verdict := Accept; verdict <= RejectUnknown; verdict++ {
		assert.Equal(t, verdict == Accept || verdict == TakeOver, verdict.Acts(), verdict.String())
	}
}

func TestDecisionString(t *testing.T) {
	d := ManagerBootstrap(Epoch, Owner{Present: true, Node: "n1", Epoch: 5}, Claim{From: "n2", Epoch: 3})
	assert.Equal(t,
		"manager-bootstrap RejectStale: older epoch (from=n2 epoch=3 local=5 owner=n1 policy=epoch)",
		d.String())
	assert.False(t, d.Acts())
}

func TestPolicyFences(t *testing.T) {
	if !Epoch.Fences() || Off.Fences() {
		t.Fatalf("Fences: epoch %v, off %v; want true, false", Epoch.Fences(), Off.Fences())
	}
}
