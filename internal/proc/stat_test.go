package proc

import (
	"errors"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadStatOwn(t *testing.T) {
	own, err := ReadStat(os.Getpid())
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip("no /proc here")
	}
	require.NoError(t, err)
	assert.NotZero(t, own.Start)
	assert.True(t, own.Alive())
}
