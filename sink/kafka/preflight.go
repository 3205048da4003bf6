package kafka

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/moby/moby/client"
)

// preflightTimeout bounds each check of Preflight.
const preflightTimeout = 10 * time.Second

// Preflight checks, starting nothing, that the provider o names can start:
// local finds java and the broker jars, testcontainers reaches a Docker
// engine, external reaches a bootstrap broker. Its error is one line and
// names what fixes it.
func Preflight(ctx context.Context, o Options) error {
	ctx, cancel := context.WithTimeout(ctx, preflightTimeout)
	defer cancel()
	var err error
	switch o.Provider {
	case "", ProviderLocal:
		cfg := o.Local.withDefaults()
		if err = checkLibs(cfg.LibsDir); err == nil {
			_, err = FindJava(cfg.Java)
		}
	case ProviderTestcontainers:
		err = pingDocker(ctx)
	case ProviderExternal:
		var e *External
		if e, err = NewExternal(o.Bootstrap, o.Logger); err == nil {
			_, err = e.Start(ctx)
		}
	default:
		_, err = NewProvider(o)
	}
	if err != nil {
		return fmt.Errorf("kafka provider %s: %w", orLocal(o.Provider), oneLine(err))
	}
	return nil
}

// pingDocker asks the engine the environment names (DOCKER_HOST, else the
// default socket) for a ping.
func pingDocker(ctx context.Context) error {
	cli, err := client.New(client.FromEnv)
	if err == nil {
		defer func() { _ = cli.Close() }()
		_, err = cli.Ping(ctx, client.PingOptions{})
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrDockerUnavailable, err)
	}
	return nil
}

func orLocal(p string) string {
	if p == "" {
		return ProviderLocal
	}
	return p
}

// oneLineError is an error whose message is folded onto one line; it still
// unwraps to the original.
type oneLineError struct{ err error }

func (e oneLineError) Error() string {
	return strings.Join(strings.Fields(strings.ReplaceAll(e.err.Error(), "\n", "; ")), " ")
}
func (e oneLineError) Unwrap() error { return e.err }

func oneLine(err error) error { return oneLineError{err} }
