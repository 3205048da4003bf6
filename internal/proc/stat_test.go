package proc

import (
	"errors"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseStat(t *testing.T) {
	// The command name may hold spaces and parentheses.
	line := []byte("4242 (evil) (name) T 1 4242 4242 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 100 0\n")
	s, err := parseStat(4242, line)
	require.NoError(t, err)
	assert.Equal(t, Stat{Pid: 4242, State: 'T', Pgrp: 4242, Start: 987654}, s)
	_, err = parseStat(1, []byte("1 (short) S 0 1"))
	assert.Error(t, err)
	_, err = parseStat(1, []byte("no command field"))
	assert.Error(t, err)
}

func TestReadStatOwn(t *testing.T) {
	own, err := ReadStat(os.Getpid())
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip("no /proc here")
	}
	require.NoError(t, err)
	assert.NotZero(t, own.Start)
	assert.True(t, own.Alive())
}
