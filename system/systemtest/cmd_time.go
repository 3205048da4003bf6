package systemtest

// Time commands: tick the nodes and deliver what is in flight.

// maxTicks bounds one tick or run command.
const maxTicks = 1000

func cmdTick(r *Runner, a args) (string, error) {
	n, err := a.count("", 1, 0, maxTicks)
	if err != nil {
		return "", err
	}
	for range n {
		r.Env.tick()
	}
	return "", nil
}

func cmdRun(r *Runner, a args) (string, error) {
	n, err := a.count("", 1, 0, maxTicks)
	if err != nil {
		return "", err
	}
	for range n {
		r.Env.tick()
		r.Env.stabilize(nil)
	}
	return "", nil
}

func cmdDeliver(r *Runner, a args) (string, error) {
	match, err := a.filter()
	if err != nil {
		return "", err
	}
	r.Env.deliver(match)
	return "", nil
}

func cmdStabilize(r *Runner, a args) (string, error) {
	match, err := a.filter()
	if err != nil {
		return "", err
	}
	r.Env.stabilize(match)
	return "", nil
}
