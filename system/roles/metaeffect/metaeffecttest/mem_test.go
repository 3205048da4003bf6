package metaeffecttest_test

import (
	"testing"

	"github.com/chaosrun/chaosrun/system/roles"
	"github.com/chaosrun/chaosrun/system/roles/metaeffect"
	"github.com/chaosrun/chaosrun/system/roles/metaeffect/metaeffecttest"
)

func TestMemStore(t *testing.T) {
	metaeffecttest.Run(t, func(t *testing.T) metaeffecttest.Target {
		m := metaeffecttest.NewMemStore()
		return metaeffecttest.Target{
			Create: func(_ *testing.T, info roles.ChangefeedInfo) { m.Create(info) },
			Elect: func(_ *testing.T, node string) (metaeffect.Store, int64) {
				return m, m.Elect(node)
			},
			Bystander: func(*testing.T, string) metaeffect.Store { return m },
		}
	})
}
