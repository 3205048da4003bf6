package chaos

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"time"
)

// A hold or a delay on the netns backend: NFQUEUE rules in the target's
// namespace send every packet between the target and its peers to a queue
// that a handler in this process serves (nfQueue). The handler withholds
// the verdicts: a hold until heal, a delay for Spec.Delay per packet; then
// it accepts them, in arrival order. The rules carry no --queue-bypass, so
// if the handler is gone (the harness died, the socket closed) the kernel
// drops what reaches them: the fault fails closed, like a cut, until heal
// or `chaosrun clean` removes the rules.
//
// NB: an accepted packet skips the rest of the filter table's hook, so no
// later rule of the run's chain sees it; faults that may overlap on one
// target act on disjoint link sets (the scenario checks it), whose rules
// match other addresses anyway.

// queueHandler serves one NFQUEUE queue (nfQueue on Linux).
type queueHandler interface {
	// release accepts every packet still queued, in arrival order, and from
	// then on every packet on arrival; it returns how many packets the
	// kernel held. Idempotent.
	release() (uint64, error)
	// close, after release, waits for the kernel queue to empty, then
	// unbinds the queue (packets still queued are dropped) and stops the
	// handler. Idempotent; only the first call reports an error.
	close(ctx context.Context) error
	// stats returns the handler's counts so far.
	stats() queueStats
}

// queueStats are a queue handler's counts.
type queueStats struct {
	Num uint16
	// Queued counts the packets read while the fault was in force (held,
	// or delayed).
	Queued uint64
	// Released is how many packets the kernel still held when heal
	// released them.
	Released uint64
	// Passed counts packets accepted on arrival after the release (before
	// the rules were gone).
	Passed uint64
	// Overruns counts ENOBUFS: times the socket lost messages (their
	// packets stayed queued and were released with the next verdict).
	Overruns uint64
	// Errors counts failed verdicts.
	Errors uint64
	// Failed is why the handler's reader stopped before close, if it did.
	Failed string
	// Closed: the queue is unbound.
	Closed bool
}

// counters reports the stats as observation counters.
func (s queueStats) counters(ns string, f *Fault) []Counter {
	what := func(w string) string { return "nfqueue " + strconv.Itoa(int(s.Num)) + " " + w }
	held := "held"
	if f.Kind == KindDelay {
		held = "delayed " + f.Delay.String()
	}
	out := []Counter{{Where: ns, What: what(held), Packets: s.Queued}}
	if s.Released > 0 || s.Passed > 0 {
		out = append(out, Counter{Where: ns, What: what("released at heal"), Packets: s.Released},
			Counter{Where: ns, What: what("passed after release"), Packets: s.Passed})
	}
	if s.Overruns > 0 {
		out = append(out, Counter{Where: ns, What: what("socket overruns (ENOBUFS)"), Packets: s.Overruns})
	}
	if s.Errors > 0 {
		out = append(out, Counter{Where: ns, What: what("verdict errors"), Packets: s.Errors})
	}
	return out
}

// queueRules returns the rule specs that queue every packet between the
// namespace they are installed in (the target's) and each peer address to
// queue num, both ways: INPUT and OUTPUT jump to the run's chain, so
// "-s peer" matches what arrives from the peer and "-d peer" what leaves
// for it.
func queueRules(tag string, peers []netip.Addr, num uint16) []string {
	var specs []string
	c := "-m comment --comment " + tag + " -j NFQUEUE --queue-num " + strconv.Itoa(int(num))
	for _, p := range peers {
		host := p.String() + "/32"
		specs = append(specs, "-s "+host+" "+c, "-d "+host+" "+c)
	}
	return specs
}

// openQueue starts fault f's queue handler in its target's namespace.
func (b *netnsBackend) openQueue(f *Fault, r netnsRules) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.queues[f.ID]; ok {
		return fmt.Errorf("chaos: netns: fault %s already has a queue", f.ID)
	}
	var delay time.Duration
	if f.Kind == KindDelay {
		delay = f.Delay
	}
	q, err := openNFQueue(r.ns, r.queue, delay, b.log)
	if err != nil {
		return err
	}
	b.queues[f.ID] = q
	return nil
}

// queue returns fault id's queue handler, or nil.
func (b *netnsBackend) queue(id string) queueHandler {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.queues[id]
}

// judgeQueue returns why a hold's or a delay's observation fails, or "".
// The probes already got what they wanted and the rule count is right.
func judgeQueue(probes []ProbeResult, f *Fault, st *queueStats, phase Phase) string {
	switch {
	case st == nil:
		return "no queue handler for " + f.ID
	case phase == PhaseInjected && st.Failed != "":
		return "queue handler stopped: " + st.Failed
	case phase == PhaseInjected && st.Closed:
		return "queue handler closed"
	case phase == PhaseInjected && st.Queued == 0:
		return fmt.Sprintf("rules present but queue %d got no packet", st.Num)
	case phase == PhaseHealed && !st.Closed:
		return fmt.Sprintf("queue %d still bound", st.Num)
	case phase == PhaseHealed && f.Kind == KindHold && st.Released < st.Queued:
		// Held packets leave the kernel queue only through a verdict, and
		// none was given before the release: fewer means some were lost.
		return fmt.Sprintf("heal released %d packets of the %d held", st.Released, st.Queued)
	}
	if f.Kind == KindDelay {
		return delayNote(probes, f.Delay, phase)
	}
	return ""
}
