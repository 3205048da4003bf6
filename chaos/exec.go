package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
)

// ErrCommand wraps every failure of an external command (ip, iptables).
var ErrCommand = errors.New("chaos: command failed")

// run runs name with args (stdin from in, if not nil) and returns stdout. A
// failure wraps ErrCommand with the command line and its stderr.
func run(ctx context.Context, in io.Reader, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = in, &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: %s %s: %w: %s", ErrCommand, name, strings.Join(args, " "), err,
			strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// ip runs `ip args...`.
func ip(ctx context.Context, args ...string) (string, error) { return run(ctx, nil, "ip", args...) }

// linkNames lists the network interfaces in namespace ns ("" = the
// caller's), each without its "@peer" suffix.
func linkNames(ctx context.Context, ns string) ([]string, error) {
	args := []string{"-o", "link", "show"}
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	out, err := ip(ctx, args...)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 2 {
			name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
			names = append(names, name)
		}
	}
	return names, nil
}

// inNetnsCmd runs name args... inside network namespace ns through
// `ip netns exec` (ns "" runs it in the caller's namespace).
func inNetnsCmd(ctx context.Context, ns string, in io.Reader, name string, args ...string) (string, error) {
	if ns == "" {
		return run(ctx, in, name, args...)
	}
	return run(ctx, in, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
}
