package proc

import (
	"fmt"

	"github.com/prometheus/procfs"
)

// ReadStat reads /proc/<pid>/stat. It returns an error wrapping
// os.ErrNotExist when the process is gone.
func ReadStat(pid int) (Stat, error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return Stat{}, fmt.Errorf("proc: %w", err)
	}
	return stat(p)
}

func stat(p procfs.Proc) (Stat, error) {
	ps, err := p.Stat()
	if err != nil {
		return Stat{}, fmt.Errorf("proc: %w", err)
	}
	s := Stat{Pid: ps.PID, Pgrp: ps.PGRP, Start: ps.Starttime}
	if ps.State != "" {
		s.State = ps.State[0]
	}
	return s, nil
}

// GroupMembers returns the live (non-zombie) members of process group
// pgid, scanning /proc.
func GroupMembers(pgid int) ([]Stat, error) {
	all, err := procfs.AllProcs()
	if err != nil {
		return nil, fmt.Errorf("proc: %w", err)
	}
	var out []Stat
	for _, p := range all {
		s, err := stat(p)
		if err != nil || s.Pgrp != pgid || !s.Alive() {
			continue
		}
		out = append(out, s)
	}
	return out, nil
}
