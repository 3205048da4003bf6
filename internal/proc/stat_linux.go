package proc

import (
	"fmt"
	"os"
	"strconv"
)

// ReadStat parses /proc/<pid>/stat. It returns an error wrapping
// os.ErrNotExist when the process is gone.
func ReadStat(pid int) (Stat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, fmt.Errorf("proc: %w", err)
	}
	return parseStat(pid, b)
}

// GroupMembers returns the live (non-zombie) members of process group
// pgid, scanning /proc.
func GroupMembers(pgid int) ([]Stat, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("proc: %w", err)
	}
	var out []Stat
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		s, err := ReadStat(pid)
		if err != nil || s.Pgrp != pgid || !s.Alive() {
			continue
		}
		out = append(out, s)
	}
	return out, nil
}
