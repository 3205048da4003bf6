package proc

// Stat is what this package reads of /proc/<pid>/stat.
type Stat struct {
	Pid   int
	State byte   // R, S, D, T (stopped), t (traced), Z (zombie), ...
	Pgrp  int    // process group
	Start uint64 // start time, clock ticks since boot
}

// Alive reports whether the process runs or is stopped: not a zombie.
func (s Stat) Alive() bool { return s.State != 'Z' }
