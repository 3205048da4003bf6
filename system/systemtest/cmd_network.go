package systemtest

// Network commands: isolate nodes, cut links and heal.

func cmdIsolate(r *Runner, a args) (string, error) {
	e := r.Env
	n, err := a.node(e.node)
	if err != nil {
		return "", err
	}
	e.Net.Isolate(n.id)
	n.isolated = true
	e.announce()
	return "", nil
}

// cmdCut cuts one way (cut) or both ways (partition) between two nodes.
func cmdCut(r *Runner, a args) (string, error) {
	pos, err := a.exactly(2)
	if err != nil {
		return "", err
	}
	for _, id := range pos {
		if _, err := r.Env.known(id); err != nil {
			return "", err
		}
	}
	if a.d.Cmd == "cut" {
		r.Env.Net.Cut(pos[0], pos[1])
	} else {
		r.Env.Net.Partition(pos[0], pos[1])
	}
	return "", nil
}

func cmdHeal(r *Runner, a args) (string, error) {
	if _, err := a.exactly(0); err != nil {
		return "", err
	}
	e := r.Env
	e.Net.Heal()
	for _, id := range e.ids() {
		e.nodes[id].isolated = false
	}
	e.announce()
	return "", nil
}
