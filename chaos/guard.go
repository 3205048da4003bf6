package chaos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/chaosrun/chaosrun/internal/wait"
)

// State is a Guard's lifecycle state.
type State int

// Guard states; see Guard for the diagram.
const (
	Idle State = iota
	Ready
	Injected
	Healed
	Broken
	Failed
	Closed
)

// String returns the state's lower-case name.
func (s State) String() string {
	switch s {
	case Idle:
		return "idle"
	case Ready:
		return "ready"
	case Injected:
		return "injected"
	case Healed:
		return "healed"
	case Broken:
		return "broken"
	case Failed:
		return "failed"
	case Closed:
		return "closed"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Op is a lifecycle call.
type Op int

// Lifecycle calls.
const (
	OpPrepare Op = iota
	OpInject
	OpVerify
	OpHeal
	OpCleanup
)

// String returns the call's lower-case name.
func (o Op) String() string {
	switch o {
	case OpPrepare:
		return "prepare"
	case OpInject:
		return "inject"
	case OpVerify:
		return "verify"
	case OpHeal:
		return "heal"
	case OpCleanup:
		return "cleanup"
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// ErrIllegal is returned, wrapped with the op and state, for a call the
// lifecycle does not allow. The backend is not called.
var ErrIllegal = errors.New("chaos: illegal lifecycle call")

// next is the transition table: the state after a successful op. A missing
// entry is an illegal call. Errors are handled in one place (Guard.step):
// a failing Prepare, Inject, Heal or Cleanup goes to Broken if a fault may
// be in effect (one was injected and not healed) and to Failed otherwise; a
// failing Verify changes nothing; an Inject whose target does not resolve
// changes nothing.
var next = map[State]map[Op]State{
	Idle:     {OpPrepare: Ready, OpCleanup: Closed},
	Ready:    {OpInject: Injected, OpCleanup: Closed},
	Injected: {OpVerify: Injected, OpHeal: Healed},
	Healed:   {OpVerify: Ready},
	Broken:   {OpHeal: Healed, OpCleanup: Closed},
	Failed:   {OpCleanup: Closed},
	Closed:   {},
}

// GuardConfig configures a Guard.
type GuardConfig struct {
	// Backend is the guarded backend. Required.
	Backend Backend
	// Resolver resolves role targets at fire time. Required for Inject.
	Resolver Resolver
	// Run is the run id. Required.
	Run string
	// Ledger receives a fault intent before every inject. May be nil in
	// unit tests only.
	Ledger *Ledger
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// VerifyTimeout bounds Verify's polling (default 5s).
	VerifyTimeout time.Duration
	// RecoveryTimeout bounds Heal, Cleanup and Close, which run under
	// context.WithoutCancel so they finish when the run is cancelled
	// (default 30s).
	RecoveryTimeout time.Duration
	// PollInterval is the pause between Verify rounds (default 20ms).
	PollInterval time.Duration
	// Now defaults to time.Now.
	Now func() time.Time
}

// Guard wraps a Backend and refuses calls out of order, following
// roachprod's failure-injection Failer. It keeps the FaultRecord of each
// fault. Lifecycle:
//
//	         Prepare             Inject              Heal
//	 Idle -------------> Ready -------------> Injected -----------> Healed
//	  |                  ^   |                  |  ^                  |
//	  |                  |   |                  +--+                  |
//	  |                  |   |                 Verify                 |
//	  |                  |   |           (observe, repeatable)        |
//	  |                  +---|------------ Verify --------------------+
//	  | Cleanup              | Cleanup        (heal proved or not)
//	  v                      v
//	Closed <-----------------+------------ Broken ------ Heal -----> Healed
//	  ^                 Cleanup              ^
//	  |                                      | error in Inject or Heal, or in
//	  |                                      | Cleanup from Broken (a fault
//	  |                                      | may be in effect)
//	  +------- Cleanup ------ Failed <------ error in Prepare or Cleanup, or
//	                                         an Inject the backend refused
//	                                         (no fault in effect)
//
// Heal and Cleanup run under context.WithoutCancel(ctx) plus
// RecoveryTimeout, so a cancelled run still recovers. Close is the abort
// path: from any state it heals what may be injected and cleans up; it is
// always allowed and idempotent. A Guard is safe for concurrent use; calls
// are serialised.
type Guard struct {
	cfg GuardConfig
	log *slog.Logger

	mu    sync.Mutex
	state State
	fault *Fault
	// inEffect: a fault was injected (maybe partly) and not healed since.
	inEffect bool
	cur      *FaultRecord
	done     []FaultRecord
}

// NewGuard returns a Guard in state Idle.
func NewGuard(cfg GuardConfig) (*Guard, error) {
	if cfg.Backend == nil {
		return nil, errors.New("chaos: guard: nil backend")
	}
	if err := ValidateRunID(cfg.Run); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.VerifyTimeout <= 0 {
		cfg.VerifyTimeout = 5 * time.Second
	}
	if cfg.RecoveryTimeout <= 0 {
		cfg.RecoveryTimeout = 30 * time.Second
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 20 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Guard{cfg: cfg, log: cfg.Logger.With("run", cfg.Run, "backend", cfg.Backend.Name())}, nil
}

// State returns the current state.
func (g *Guard) State() State {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.state
}

// Records returns the records of every fault so far, the one in progress
// last.
func (g *Guard) Records() []FaultRecord {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := append([]FaultRecord(nil), g.done...)
	if g.cur != nil {
		out = append(out, g.cur.clone())
	}
	return out
}

// check returns ErrIllegal unless op is allowed now. Callers hold g.mu.
func (g *Guard) check(op Op) error {
	if _, ok := next[g.state][op]; !ok {
		return fmt.Errorf("%w: %s in state %s", ErrIllegal, op, g.state)
	}
	return nil
}

// step applies the outcome of a backend call. Callers hold g.mu.
func (g *Guard) step(op Op, err error) {
	if err != nil && g.cur != nil {
		g.cur.Errors = append(g.cur.Errors, fmt.Sprintf("%s: %v", op, err))
	}
	switch {
	case err == nil:
		g.state = next[g.state][op]
	case op == OpVerify:
		// observing changes nothing
	case g.inEffect:
		g.state = Broken // a fault may be (partly) in effect
	default:
		g.state = Failed
	}
}

func (g *Guard) recoveryCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), g.cfg.RecoveryTimeout)
}

// Prepare readies the backend. Legal in Idle.
func (g *Guard) Prepare(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.check(OpPrepare); err != nil {
		return err
	}
	var err error
	if p, ok := g.cfg.Backend.(Preparer); ok {
		err = p.Prepare(ctx)
	}
	g.step(OpPrepare, err)
	if err != nil {
		return fmt.Errorf("chaos: %s: prepare: %w", g.cfg.Backend.Name(), err)
	}
	return nil
}

// Inject resolves spec's roles now, records the intent in the ledger and
// injects. Legal in Ready. If the target does not resolve, nothing is
// injected and the state stays Ready; a kind the backend refuses
// (ErrUnsupported) leaves the guard Failed; any other backend error leaves
// it Broken (the fault may be partly applied: Heal or Close).
func (g *Guard) Inject(ctx context.Context, spec Spec) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.check(OpInject); err != nil {
		return err
	}
	if err := spec.Validate(); err != nil {
		return err
	}
	if g.cfg.Resolver == nil {
		return fmt.Errorf("%w: fault %s: no resolver", ErrUnresolved, spec.ID)
	}
	f, err := resolveFault(ctx, g.cfg.Resolver, g.cfg.Run, spec)
	if err != nil {
		return err
	}
	detail := f.describe()
	e := Entry{
		Op: LedgerIntent, Kind: EntryFault, Backend: g.cfg.Backend.Name(), Fault: f.ID,
		Target: string(spec.Target), Name: f.Target.Name, Pid: f.Target.Pid, Start: f.Target.StartTime,
		Netns: f.Target.Namespace, Detail: detail,
	}
	for _, p := range f.Peers {
		e.Peers = append(e.Peers, p.Name)
	}
	if err := g.cfg.Ledger.Append(e); err != nil {
		return err // nothing acted yet: stay Ready
	}
	if g.cur != nil {
		g.done = append(g.done, g.cur.clone())
	}
	g.fault = f
	g.cur = newRecord(g.cfg.Backend.Name(), f, g.cfg.Now())
	g.log.Info("chaos: inject", "fault", f.ID, "what", detail, "role", spec.Target, "process", f.Target.Name,
		"pid", f.Target.Pid, "peers", e.Peers)
	g.inEffect = true
	err = g.cfg.Backend.Inject(ctx, f)
	if errors.Is(err, ErrUnsupported) {
		g.inEffect = false // refused without acting (see Backend.Inject)
	}
	g.step(OpInject, err)
	if err != nil {
		return fmt.Errorf("chaos: %s: inject %s: %w", g.cfg.Backend.Name(), f.ID, err)
	}
	return nil
}

// Verify polls the backend (rounds every PollInterval, up to VerifyTimeout)
// until the current phase's expectation holds, and records the deciding
// round. Legal in Injected (proves the fault; repeatable) and Healed
// (proves the heal, then the guard is Ready whatever the outcome: the
// record says whether it was restored). An ineffective fault is not an
// error: check the returned Observation or the record. An error means no
// round could observe; the state is then unchanged.
func (g *Guard) Verify(ctx context.Context) (Observation, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.check(OpVerify); err != nil {
		return Observation{}, err
	}
	obs, err := g.verifyLocked(ctx)
	g.step(OpVerify, err)
	return obs, err
}

func (g *Guard) verifyLocked(ctx context.Context) (Observation, error) {
	phase := PhaseInjected
	if g.state == Healed {
		phase = PhaseHealed
	}
	if g.fault == nil { // NB: unreachable through the table; nothing to observe
		return Observation{Phase: phase, OK: true, Note: "no fault"}, nil
	}
	deadline := g.cfg.Now().Add(g.cfg.VerifyTimeout)
	var (
		obs     Observation
		lastErr error
		rounds  int
		okRound bool
	)
	for {
		rounds++
		o, err := g.cfg.Backend.Observe(ctx, g.fault, phase)
		if err != nil {
			lastErr = err
		} else {
			obs, lastErr = o, nil
			if o.OK {
				okRound = true
				break
			}
		}
		if ctx.Err() != nil || !g.cfg.Now().Before(deadline) {
			break
		}
		if wait.Sleep(ctx, g.cfg.PollInterval) != nil {
			break
		}
	}
	if obs.Start.IsZero() && lastErr != nil {
		return obs, fmt.Errorf("chaos: %s: verify %s (%s): %w", g.cfg.Backend.Name(), g.fault.ID, phase, lastErr)
	}
	r := g.cur
	proof := obs
	if phase == PhaseInjected {
		r.InjectRounds += rounds
		r.InjectProof = &proof
		switch {
		case okRound && !r.Effective:
			r.Effective, r.EffectAt = true, obs.at()
		case !okRound && r.Effective:
			r.Lapses++
		}
	} else {
		r.HealRounds += rounds
		r.HealProof = &proof
		if okRound {
			r.Restored, r.RestoredAt = true, obs.at()
		}
	}
	g.log.Info("chaos: verify", "fault", g.fault.ID, "phase", phase, "ok", obs.OK, "rounds", rounds, "note", obs.Note)
	if phase == PhaseHealed {
		g.done = append(g.done, r.clone())
		g.cur, g.fault = nil, nil
	}
	return obs, nil
}

// Heal undoes the current fault under a recovery context. Legal in Injected
// and Broken (after a failed inject it removes whatever part was applied).
func (g *Guard) Heal(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.check(OpHeal); err != nil {
		return err
	}
	rctx, cancel := g.recoveryCtx(ctx)
	defer cancel()
	err := g.healLocked(rctx)
	g.step(OpHeal, err)
	return err
}

func (g *Guard) healLocked(ctx context.Context) error {
	if g.fault == nil {
		return nil
	}
	g.cur.HealAt = g.cfg.Now()
	repl, err := g.cfg.Backend.Heal(ctx, g.fault)
	if err != nil {
		return fmt.Errorf("chaos: %s: heal %s: %w", g.cfg.Backend.Name(), g.fault.ID, err)
	}
	g.inEffect = false
	if repl != nil {
		ref := repl.Ref()
		g.cur.Restarted = &ref
		g.fault.Target = *repl
	}
	g.log.Info("chaos: heal", "fault", g.fault.ID, "process", g.fault.Target.Name)
	return g.cfg.Ledger.Append(Entry{Op: LedgerUndone, Kind: EntryFault, Backend: g.cfg.Backend.Name(), Fault: g.fault.ID, Name: g.fault.Target.Name})
}

// Cleanup releases the backend under a recovery context. Legal in Idle,
// Ready, Broken and Failed.
func (g *Guard) Cleanup(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.check(OpCleanup); err != nil {
		return err
	}
	rctx, cancel := g.recoveryCtx(ctx)
	defer cancel()
	err := g.cleanupBackend(rctx)
	g.step(OpCleanup, err)
	if err != nil {
		return fmt.Errorf("chaos: %s: cleanup: %w", g.cfg.Backend.Name(), err)
	}
	g.finishLocked()
	return nil
}

// cleanupBackend runs the backend's Cleanup, if it has one.
func (g *Guard) cleanupBackend(ctx context.Context) error {
	if p, ok := g.cfg.Backend.(Preparer); ok {
		return p.Cleanup(ctx)
	}
	return nil
}

func (g *Guard) finishLocked() {
	if g.cur != nil {
		g.done = append(g.done, g.cur.clone())
		g.cur, g.fault = nil, nil
	}
}

// Close is the abort path, for defer and signal handlers: from any state it
// heals a fault that may be in effect, verifies the heal (best effort) and
// cleans up, all under a recovery context. Idempotent; a failed Close
// leaves the guard Broken and may be retried.
func (g *Guard) Close(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state == Closed {
		return nil
	}
	rctx, cancel := g.recoveryCtx(ctx)
	defer cancel()
	var errs []error
	if g.state == Injected || g.state == Broken {
		err := g.healLocked(rctx)
		g.step(OpHeal, err)
		errs = append(errs, err)
	}
	if g.state == Healed {
		_, err := g.verifyLocked(rctx)
		if err == nil {
			g.state = Ready
		}
		errs = append(errs, err)
	}
	err := g.cleanupBackend(rctx)
	if err != nil {
		g.step(OpCleanup, err)
		errs = append(errs, fmt.Errorf("chaos: %s: cleanup: %w", g.cfg.Backend.Name(), err))
	} else {
		g.finishLocked()
		g.state = Closed
	}
	return errors.Join(errs...)
}
