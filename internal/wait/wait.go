// Package wait holds the one context-aware sleep of the module.
package wait

import (
	"context"
	"time"
)

// Sleep pauses for d or until ctx ends, whichever comes first, and returns
// ctx's error in the second case (nil otherwise). A d <= 0 returns at once.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
