package meta

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRetryCASGivesUpAfterTheBudget(t *testing.T) {
	rounds := 0
	_, err := retryCAS(context.Background(), "op", func() (int, error) {
		rounds++
		return 0, errLostRace
	})
	require.ErrorIs(t, err, errLostRace)
	assert.Equal(t, maxCASAttempts, rounds)
}

func TestRetryCASRetriesOnlyLostRaces(t *testing.T) {
	rounds := 0
	v, err := retryCAS(context.Background(), "op", func() (int, error) {
		rounds++
		if rounds < 3 {
			return 0, errLostRace
		}
		return 7, nil
	})
	require.NoError(t, err)
	assert.Equal(t, 7, v)
	assert.Equal(t, 3, rounds)

	boom := errors.New("boom")
	for _, lost := range []int{0, maxCASAttempts - 1} {
		rounds = 0
		_, err = retryCAS(context.Background(), "op", func() (int, error) {
			rounds++
			if rounds <= lost {
				return 0, errLostRace
			}
			return 0, boom
		})
		assert.Same(t, boom, err, "after %d lost rounds the round's own error comes back unwrapped", lost)
		assert.Equal(t, lost+1, rounds)
	}
}

func TestRetryCASStopsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := errors.New("stop")
	rounds := 0
	_, err := retryCAS(ctx, "op", func() (int, error) {
		rounds++
		cancel(stop)
		return 0, errLostRace
	})
	require.ErrorIs(t, err, stop)
	assert.EqualError(t, err, "meta: op: stop")
	assert.Equal(t, 1, rounds)
}
