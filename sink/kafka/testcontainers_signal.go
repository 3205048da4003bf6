package kafka

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// signals closes the started testcontainers providers of the process when
// it receives SIGINT or SIGTERM, then lets the signal take its ordinary
// course: the process dies of it unless something else handles it too (a
// CLI that cancels its context on SIGINT, say, which then sees it twice).
// Containers outlive their creator, unlike the local provider's brokers,
// which die with their parent; this is what stands in for testcontainers'
// reaper where it cannot run.
var signals signalCleanup

type signalCleanup struct {
	mu   sync.Mutex
	live map[*Testcontainers]struct{}
	ch   chan os.Signal // non-nil while some provider is live
}

// add registers p; the first registration starts listening.
func (s *signalCleanup) add(p *Testcontainers) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live == nil {
		s.live = map[*Testcontainers]struct{}{}
	}
	s.live[p] = struct{}{}
	if s.ch == nil {
		s.ch = make(chan os.Signal, 1)
		signal.Notify(s.ch, os.Interrupt, syscall.SIGTERM)
		go s.loop(s.ch)
	}
}

// remove unregisters p; the last one stops listening, which restores the
// signals' previous handling. Removing an unknown provider is a no-op.
func (s *signalCleanup) remove(p *Testcontainers) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.live, p)
	if len(s.live) == 0 && s.ch != nil {
		signal.Stop(s.ch)
		close(s.ch) // ends loop; Stop guarantees no further sends
		s.ch = nil
	}
}

func (s *signalCleanup) loop(ch chan os.Signal) {
	for sig := range ch {
		s.mu.Lock()
		live := make([]*Testcontainers, 0, len(s.live))
		for p := range s.live {
			live = append(live, p)
		}
		s.mu.Unlock()
		var wg sync.WaitGroup
		for _, p := range live {
			p.log.Warn("signal received: removing Kafka containers", "signal", sig.String())
			wg.Go(func() {
				if err := p.Close(); err != nil {
					p.log.Error("removing Kafka containers after a signal", "err", err)
				}
			})
		}
		wg.Wait()
		// Every Close unregistered its provider, so (unless another started
		// meanwhile) the signal is no longer ours: deliver it again.
		if sys, ok := sig.(syscall.Signal); ok {
			_ = syscall.Kill(os.Getpid(), sys)
		}
	}
}
