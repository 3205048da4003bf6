package systemtest

import (
	"errors"
	"fmt"
)

// Admin commands: move, stop and resume a changefeed through the owner's
// coordinator.

func cmdAdmin(r *Runner, a args) (string, error) {
	e := r.Env
	want := map[string]int{"move": 2, "stop": 1, "resume": 1}[a.d.Cmd]
	pos, err := a.exactly(want)
	if err != nil {
		return "", err
	}
	c := e.owner()
	if c == nil {
		return "", errors.New("no live owner")
	}
	switch a.d.Cmd {
	case "move":
		if _, err := e.known(pos[1]); err != nil {
			return "", err
		}
		err = c.MoveChangefeed(pos[0], pos[1])
	case "stop":
		err = c.StopChangefeed(pos[0])
	case "resume":
		err = c.ResumeChangefeed(pos[0])
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", a.d.Cmd, err)
	}
	owner, _ := e.meta.Owner()
	e.process(e.nodes[owner])
	return "", nil
}
