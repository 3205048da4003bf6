package chaos

import (
	"context"
	"fmt"
	"log/slog"
	"syscall"
	"time"
)

// killBackend sends SIGKILL to the target's whole process group, after
// checking that the pid still belongs to the process recorded (start time
// from /proc), and on heal restarts it through the runner's RestartFunc.
// Works with either network backend. Proof: the process and its group are
// gone (/proc); after heal, the new process runs and serves its endpoints.
type killBackend struct {
	env Env
	log *slog.Logger
}

func newKillBackend(env Env) (Backend, error) {
	return &killBackend{env: env, log: env.logger().With("backend", BackendKill)}, nil
}

func (b *killBackend) Name() string { return BackendKill }

// identify fills the start time of a target the runner left without one
// (the process at fire time is the one meant) and checks the pid.
func identify(f *Fault, kind Kind) error {
	if f.Kind != kind {
		return fmt.Errorf("%w: %s fault on a %s backend", ErrUnsupported, f.Kind, kind)
	}
	if f.Target.Pid <= 0 {
		return fmt.Errorf("chaos: %s: target %s has no pid", kind, f.Target.Name)
	}
	if f.Target.StartTime == 0 {
		st, err := procStartTime(f.Target.Pid)
		if err != nil {
			return fmt.Errorf("chaos: %s: target %s pid %d: %w", kind, f.Target.Name, f.Target.Pid, err)
		}
		f.Target.StartTime = st
	}
	return nil
}

// Inject records the signal, then kills the group.
func (b *killBackend) Inject(ctx context.Context, f *Fault) error {
	if err := identify(f, KindKill); err != nil {
		return err
	}
	p := f.Target
	if err := b.env.Ledger.Append(Entry{Op: LedgerIntent, Kind: EntrySignal, Backend: BackendKill, Fault: f.ID,
		Name: p.Name, Pid: p.Pid, Pgid: p.Group(), Start: p.StartTime, Signal: "SIGKILL"}); err != nil {
		return err
	}
	pids, err := signalGroup(p.Pid, p.Group(), p.StartTime, syscall.SIGKILL)
	if err != nil {
		return err
	}
	b.log.Info("chaos: kill", "fault", f.ID, "process", p.Name, "pids", pids)
	return nil
}

// Heal restarts the killed process (if a RestartFunc was given and the old
// one is really gone), records the new one in the ledger and, given a
// Topology, points it at the new process.
func (b *killBackend) Heal(ctx context.Context, f *Fault) (*Process, error) {
	old := f.Target
	if _, ok := alive(old.Pid, old.StartTime); ok {
		return nil, nil // never killed (failed inject): nothing to heal
	}
	if b.env.Restart == nil {
		b.log.Warn("chaos: kill: no restart function; the process stays dead", "process", old.Name)
		return nil, nil
	}
	p, err := b.env.Restart(ctx, old)
	if err != nil {
		return nil, fmt.Errorf("chaos: kill: restart %s: %w", old.Name, err)
	}
	p, err = b.env.Ledger.AddProcess(p)
	if err != nil {
		return nil, err
	}
	b.log.Info("chaos: restarted", "fault", f.ID, "process", p.Name, "pid", p.Pid)
	if b.env.Topology != nil {
		if err := b.env.Topology.Update(p); err != nil {
			b.log.Warn("chaos: topology update after restart", "process", p.Name, "err", err)
		}
	}
	return &p, nil
}

// Observe checks /proc and, after heal, probes the new process's endpoints
// from its own namespace.
func (b *killBackend) Observe(ctx context.Context, f *Fault, phase Phase) (Observation, error) {
	p := f.Target
	obs := Observation{Phase: phase, Start: time.Now()}
	_, up := alive(p.Pid, p.StartTime)
	members, err := groupMembers(p.Group(), p.StartTime)
	if err != nil {
		return obs, err
	}
	if phase == PhaseInjected {
		obs.End = time.Now()
		obs.OK = !up && len(members) == 0
		if !obs.OK {
			obs.Note = fmt.Sprintf("pid %d alive=%v, %d group members left", p.Pid, up, len(members))
		}
		return obs, nil
	}
	obs.Probes = targetProbes(ctx, p, Open, b.env.probeTimeout())
	obs.End = time.Now()
	obs.OK, obs.Note = judge(obs.Probes)
	if !up {
		obs.OK, obs.Note = false, fmt.Sprintf("process %s (pid %d) not running after heal", p.Name, p.Pid)
	}
	return obs, nil
}
