//go:build !linux

package chaos

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// openNFQueue needs Linux (NFQUEUE is a netfilter target).
func openNFQueue(ns string, num uint16, _ time.Duration, _ *slog.Logger) (queueHandler, error) {
	return nil, fmt.Errorf("chaos: nfqueue %d in %s: %w", num, ns, errors.ErrUnsupported)
}
