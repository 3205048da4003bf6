package meta

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// maxCASAttempts bounds the rounds of a compare-and-swap. Every lost round
// means another writer succeeded, so with k concurrent writers a caller
// loses at most k-1 rounds.
const maxCASAttempts = 32

// errLostRace is what a compare-and-swap round returns when another writer
// changed what it compared.
var errLostRace = errors.New("meta: lost a compare-and-swap race")

// retryCAS runs round until it succeeds. A round that returns errLostRace is
// retried after 5-15 ms (random, so colliding writers spread out), up to
// maxCASAttempts rounds in all; then retryCAS returns errLostRace. Any other
// error of a round is returned as is; if ctx ends between rounds, its cause
// is returned wrapped with what (the operation, for the message).
func retryCAS[T any](ctx context.Context, what string, round func() (T, error)) (T, error) {
	roundFailed := false
	v, err := backoff.Retry(ctx, func() (T, error) {
		v, err := round()
		roundFailed = err != nil && !errors.Is(err, errLostRace)
		if roundFailed {
			return v, backoff.Permanent(err)
		}
		return v, err
	},
		backoff.WithBackOff(&backoff.ExponentialBackOff{
			InitialInterval:     10 * time.Millisecond,
			RandomizationFactor: 0.5,
			Multiplier:          1,
			MaxInterval:         10 * time.Millisecond,
		}),
		backoff.WithMaxTries(maxCASAttempts),
	)
	var permanent *backoff.PermanentError
	switch {
	case errors.As(err, &permanent):
		// NB: Retry unwraps a permanent error, except on the last round.
		return v, permanent.Err
	case err != nil && !roundFailed && !errors.Is(err, errLostRace):
		// Retry stopped waiting for the next round.
		return v, fmt.Errorf("meta: %s: %w", what, context.Cause(ctx))
	}
	return v, err
}
