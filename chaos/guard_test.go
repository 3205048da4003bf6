package chaos

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeBackend fails each call with a seeded probability and checks that
// the Guard never double-injects and always recovers with a live context.
type fakeBackend struct {
	t       *testing.T
	rng     *rand.Rand
	failP   float64
	calls   int
	lastOp  Op
	lastErr error
	active  bool
	log     []call // every backend call and its outcome
}

var errFake = errors.New("fake backend failure")

func (b *fakeBackend) fail(op Op) error {
	b.calls++
	b.lastOp = op
	b.lastErr = nil
	out := ok
	if b.rng.Float64() < b.failP {
		b.lastErr = errFake
		out = failed
	}
	b.log = append(b.log, call{op: op, out: out})
	return b.lastErr
}

func (b *fakeBackend) Name() string { return "fake" }

func (b *fakeBackend) Prepare(context.Context) error { return b.fail(OpPrepare) }

func (b *fakeBackend) Inject(_ context.Context, f *Fault) error {
	if b.active {
		b.t.Errorf("inject %s while a fault is active", f.ID)
	}
	err := b.fail(OpInject)
	b.active = true // even a failed inject may be partly applied
	return err
}

func (b *fakeBackend) Observe(context.Context, *Fault, Phase) (Observation, error) {
	err := b.fail(OpVerify)
	return Observation{Start: time.Now(), End: time.Now(), OK: b.rng.IntN(2) == 0}, err
}

func (b *fakeBackend) Heal(ctx context.Context, _ *Fault) (*Process, error) {
	if ctx.Err() != nil {
		b.t.Errorf("heal called with a dead context: %v", ctx.Err())
	}
	err := b.fail(OpHeal)
	if err == nil {
		b.active = false
	}
	return nil, err
}

func (b *fakeBackend) Cleanup(ctx context.Context) error {
	if ctx.Err() != nil {
		b.t.Errorf("cleanup called with a dead context: %v", ctx.Err())
	}
	return b.fail(OpCleanup)
}

// flakyResolver fails to resolve with a seeded probability.
type flakyResolver struct {
	rng   *rand.Rand
	failP float64
	inner Resolver
}

func (r *flakyResolver) Resolve(ctx context.Context, role Role) ([]Process, error) {
	if r.rng.Float64() < r.failP {
		return nil, ErrUnresolved
	}
	return r.inner.Resolve(ctx, role)
}

// opClose is the abort path in generated sequences.
const opClose Op = 99

// outcome of one call in a history.
type outcome int

const (
	refused    outcome = iota // ErrIllegal: the guard did not act
	ok                        // the backend succeeded
	failed                    // the backend failed
	unresolved                // inject whose target did not resolve
)

type call struct {
	op  Op
	out outcome
}

// legalOracle says whether op is allowed after history, from the lifecycle
// rules stated in prose rather than from a transition table:
//
//   - nothing is allowed after a successful cleanup;
//   - Prepare only as the first accepted call;
//   - a call "failed" if the backend returned an error (verify errors
//     excepted: observing changes nothing); after a failure, and until a
//     heal succeeds, the guard is broken;
//   - a fault may be in effect from an inject (even a failed one) until the
//     next successful heal; it is outstanding if that inject succeeded and
//     nothing failed since; a heal is pending verification from a
//     successful heal until the next successful verify;
//   - inject needs a successful prepare, no breakage, nothing outstanding
//     or pending;
//   - verify needs something outstanding or pending;
//   - heal needs a fault that may be in effect;
//   - cleanup needs a broken guard or nothing outstanding or pending;
//   - Close is always allowed; in a history it appears as the backend
//     calls it made (heal, verify, cleanup).
func legalOracle(history []call, op Op) bool {
	var acc []call
	for _, c := range history {
		if c.out != refused {
			acc = append(acc, c)
		}
	}
	lastIdx := func(match func(call) bool) int {
		for i := len(acc) - 1; i >= 0; i-- {
			if match(acc[i]) {
				return i
			}
		}
		return -1
	}
	closed := lastIdx(func(c call) bool { return c.op == OpCleanup && c.out == ok }) >= 0
	if op == opClose {
		return true
	}
	if closed {
		return false
	}
	prepared := lastIdx(func(c call) bool { return c.op == OpPrepare && c.out == ok }) >= 0
	lastFail := lastIdx(func(c call) bool { return c.out == failed && c.op != OpVerify })
	lastHeal := lastIdx(func(c call) bool { return c.op == OpHeal && c.out == ok })
	lastInject := lastIdx(func(c call) bool { return c.op == OpInject && c.out == ok })
	lastInjectAny := lastIdx(func(c call) bool { return c.op == OpInject && (c.out == ok || c.out == failed) })
	lastVerify := lastIdx(func(c call) bool { return c.op == OpVerify && c.out == ok })
	broken := lastFail > lastHeal
	mayHaveFault := lastInjectAny > lastHeal
	outstanding := !broken && lastInject > lastHeal
	pending := !broken && lastHeal >= 0 && lastHeal > lastVerify && lastHeal > lastInject
	switch op {
	case OpPrepare:
		return len(acc) == 0
	case OpInject:
		return prepared && !broken && !outstanding && !pending
	case OpVerify:
		return outstanding || pending
	case OpHeal:
		return mayHaveFault
	case OpCleanup:
		return broken || (!outstanding && !pending)
	}
	return false
}

// TestGuardAgainstOracle drives Guards with thousands of seeded random call
// sequences over a backend and a resolver that fail at random, and checks
// every accept/refuse decision against legalOracle.
func TestGuardAgainstOracle(t *testing.T) {
	const sequences, length = 3000, 40
	top, err := NewTopology(Process{Name: "node-1", Role: RoleNode, NodeID: "1"}, Process{Name: "node-2", Role: RoleNode, NodeID: "2"})
	require.NoError(t, err)
	spec := Spec{ID: "f1", Kind: KindCut, Target: "node:1", Links: []string{LinkPeers}}
	ops := []Op{OpPrepare, OpInject, OpVerify, OpVerify, OpHeal, OpCleanup, opClose}
	type pair struct {
		s  State
		op Op
	}
	covered := map[pair]int{}
	for seed := range uint64(sequences) {
		rng := rand.New(rand.NewPCG(seed, 0x5eed))
		be := &fakeBackend{t: t, rng: rng, failP: 0.15}
		g, err := NewGuard(GuardConfig{
			Backend: be, Run: "abc123", Resolver: &flakyResolver{rng: rng, failP: 0.1, inner: &TopologyResolver{Topology: top}},
			VerifyTimeout: time.Nanosecond, PollInterval: time.Nanosecond, Logger: discardLogger(),
		})
		require.NoError(t, err)
		var history []call
		for step := range length {
			// Bias towards plausible sequences so deep states are reached.
			op := ops[rng.IntN(len(ops))]
			if rng.IntN(3) == 0 {
				op = plausible(g.State())
			}
			want := legalOracle(history, op)
			covered[pair{g.State(), op}]++
			// Half the calls get a cancelled context: recovery must not care.
			ctx, cancel := context.WithCancel(context.Background())
			if rng.IntN(2) == 0 {
				cancel()
			}
			before := be.calls
			err := invoke(ctx, g, op, spec)
			cancel()
			got := !errors.Is(err, ErrIllegal)
			if got != want {
				t.Fatalf("seed %d step %d: %s in state %s: guard legal=%v oracle legal=%v (err %v)\nhistory %v",
					seed, step, opName(op), g.State(), got, want, err, history)
			}
			c := call{op: op, out: refused}
			switch {
			case !got:
				require.Equal(t, before, be.calls, "seed %d: refused call reached the backend", seed)
			case op == opClose:
				// Close is the calls it made.
				history = append(history, be.log[len(be.log)-(be.calls-before):]...)
				continue
			case op == OpInject && be.calls == before:
				c.out = unresolved
			case op == OpVerify && err != nil:
				c.out = failed
			case err != nil:
				c.out = failed
			default:
				c.out = ok
			}
			history = append(history, c)
		}
	}
	// Every state met every call, so both answers were checked everywhere.
	for s := Idle; s <= Closed; s++ {
		for _, op := range ops {
			require.Positive(t, covered[pair{s, op}], "never tried %s in state %s", opName(op), s)
		}
	}
}

// plausible returns an op that is usually legal in s.
func plausible(s State) Op {
	switch s {
	case Idle:
		return OpPrepare
	case Ready:
		return OpInject
	case Injected:
		return OpHeal
	case Healed:
		return OpVerify
	}
	return OpCleanup
}

func invoke(ctx context.Context, g *Guard, op Op, spec Spec) error {
	switch op {
	case OpPrepare:
		return g.Prepare(ctx)
	case OpInject:
		return g.Inject(ctx, spec)
	case OpVerify:
		_, err := g.Verify(ctx)
		return err
	case OpHeal:
		return g.Heal(ctx)
	case OpCleanup:
		return g.Cleanup(ctx)
	case opClose:
		return g.Close(ctx)
	}
	panic("unknown op")
}

func opName(op Op) string {
	if op == opClose {
		return "close"
	}
	return op.String()
}

// TestGuardHappyPathRecord checks the record of a full cycle and the
// refusal of obvious misuse with the sentinel error.
func TestGuardHappyPathRecord(t *testing.T) {
	top, err := NewTopology(
		Process{Name: "node-1", Role: RoleNode, NodeID: "1"},
		Process{Name: "node-2", Role: RoleNode, NodeID: "2"},
		Process{Name: "meta", Role: RoleMeta},
	)
	require.NoError(t, err)
	owner := "1"
	res := &TopologyResolver{Topology: top, Owner: func(context.Context, string) (string, error) { return owner, nil }}
	g, err := NewGuard(GuardConfig{Backend: noopBackend{}, Run: "abc123", Resolver: res, Logger: testLogger(t)})
	require.NoError(t, err)
	ctx := context.Background()

	require.ErrorIs(t, g.Inject(ctx, Spec{ID: "f1", Kind: KindCut, Target: "owner", Links: []string{LinkPeers}}), ErrIllegal)
	require.NoError(t, g.Prepare(ctx))
	require.ErrorIs(t, g.Prepare(ctx), ErrIllegal)
	_, err = g.Verify(ctx)
	require.ErrorIs(t, err, ErrIllegal)

	owner = "2" // resolved at fire time, not at construction
	require.NoError(t, g.Inject(ctx, Spec{ID: "f1", Kind: KindCut, Target: "owner", Links: []string{LinkPeers, "meta"}}))
	require.ErrorIs(t, g.Cleanup(ctx), ErrIllegal)
	obs, err := g.Verify(ctx)
	require.NoError(t, err)
	require.True(t, obs.OK)
	require.NoError(t, g.Heal(ctx))
	require.ErrorIs(t, g.Heal(ctx), ErrIllegal)
	_, err = g.Verify(ctx)
	require.NoError(t, err)
	require.Equal(t, Ready, g.State())
	require.NoError(t, g.Cleanup(ctx))
	require.ErrorIs(t, g.Prepare(ctx), ErrIllegal)
	require.NoError(t, g.Close(ctx))

	recs := g.Records()
	require.Len(t, recs, 1)
	r := recs[0]
	require.Equal(t, Role("owner"), r.Role)
	require.Equal(t, "node-2", r.Target.Name)
	require.ElementsMatch(t, []string{"node-1", "meta"}, []string{r.Peers[0].Name, r.Peers[1].Name})
	require.True(t, r.Effective)
	require.True(t, r.Restored)
	require.GreaterOrEqual(t, r.InjectToEffect(), time.Duration(0))
	require.GreaterOrEqual(t, r.HealToRestored(), time.Duration(0))
}

// TestGuardCloseRecoversAfterCancel: the run's context is cancelled while a
// fault is in effect; Close still heals and cleans up.
func TestGuardCloseRecoversAfterCancel(t *testing.T) {
	top, err := NewTopology(Process{Name: "a", Role: RoleNode, NodeID: "1"}, Process{Name: "b", Role: RoleNode, NodeID: "2"})
	require.NoError(t, err)
	be := &fakeBackend{t: t, rng: rand.New(rand.NewPCG(1, 1))}
	g, err := NewGuard(GuardConfig{Backend: be, Run: "abc123", Resolver: &TopologyResolver{Topology: top}, Logger: testLogger(t),
		VerifyTimeout: 10 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, g.Prepare(ctx))
	require.NoError(t, g.Inject(ctx, Spec{ID: "f1", Kind: KindCut, Target: "node:1", Links: []string{LinkPeers}}))
	cancel()
	require.NoError(t, g.Close(ctx))
	require.False(t, be.active)
	require.Equal(t, Closed, g.State())
	require.NoError(t, g.Close(ctx), "Close is idempotent")
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
