package chaos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"syscall"
	"time"
)

// pauseBackend sends SIGSTOP to the target's whole process group and
// SIGCONT on heal: a process that stops answering without closing a single
// connection (a GC pause, a hung disk). Works with either network backend.
// Proof: every member of the group is in state T in /proc, and echo probes
// to its endpoints time out (connect probes would not: the kernel still
// completes handshakes into the listen backlog of a stopped process).
type pauseBackend struct {
	env Env
	log *slog.Logger
}

func newPauseBackend(env Env) (Backend, error) {
	return &pauseBackend{env: env, log: env.logger().With("backend", BackendPause)}, nil
}

func (b *pauseBackend) Name() string { return BackendPause }

// Inject records the signal, then stops the group.
func (b *pauseBackend) Inject(ctx context.Context, f *Fault) error {
	if err := identify(f, KindPause); err != nil {
		return err
	}
	p := f.Target
	if err := b.env.Ledger.Append(Entry{Op: LedgerIntent, Kind: EntrySignal, Backend: BackendPause, Fault: f.ID,
		Name: p.Name, Pid: p.Pid, Pgid: p.Group(), Start: p.StartTime, Signal: "SIGSTOP"}); err != nil {
		return err
	}
	pids, err := signalGroup(p.Pid, p.Group(), p.StartTime, syscall.SIGSTOP)
	if err != nil {
		return err
	}
	b.log.Info("chaos: pause", "fault", f.ID, "process", p.Name, "pids", pids)
	return nil
}

// Heal continues the group. A process that has gone meanwhile has nothing
// left to heal. Idempotent.
func (b *pauseBackend) Heal(ctx context.Context, f *Fault) (*Process, error) {
	p := f.Target
	if _, err := signalGroup(p.Pid, p.Group(), p.StartTime, syscall.SIGCONT); err != nil {
		if !errors.Is(err, ErrProcessGone) {
			return nil, err
		}
		b.log.Warn("chaos: pause: process gone before SIGCONT", "process", p.Name, "pid", p.Pid)
	}
	return nil, b.env.Ledger.Append(Entry{Op: LedgerUndone, Kind: EntrySignal, Backend: BackendPause, Fault: f.ID,
		Name: p.Name, Pid: p.Pid, Start: p.StartTime, Signal: "SIGSTOP"})
}

// Observe reads the group's states from /proc and probes echo endpoints.
func (b *pauseBackend) Observe(ctx context.Context, f *Fault, phase Phase) (Observation, error) {
	p := f.Target
	obs := Observation{Phase: phase, Start: time.Now()}
	members, err := groupMembers(p.Group(), p.StartTime)
	if err != nil {
		return obs, err
	}
	stopped := 0
	for _, m := range members {
		if m.State == 'T' || m.State == 't' {
			stopped++
		}
	}
	want := Open
	if phase == PhaseInjected {
		want = Blocked
	}
	echo := p
	echo.Endpoints = nil
	for _, e := range p.Endpoints {
		if k := e.probeKind(); k == ProbeEcho || k == ProbeTLS {
			echo.Endpoints = append(echo.Endpoints, e)
		}
	}
	obs.Probes = targetProbes(ctx, echo, want, b.env.probeTimeout())
	obs.End = time.Now()
	obs.OK, obs.Note = judge(obs.Probes)
	switch {
	case len(members) == 0:
		obs.OK, obs.Note = false, fmt.Sprintf("process %s (pid %d) is gone", p.Name, p.Pid)
	case phase == PhaseInjected && stopped != len(members):
		obs.OK, obs.Note = false, fmt.Sprintf("%d of %d group members stopped", stopped, len(members))
	case phase == PhaseHealed && stopped != 0:
		obs.OK, obs.Note = false, fmt.Sprintf("%d of %d group members still stopped", stopped, len(members))
	}
	return obs, nil
}
