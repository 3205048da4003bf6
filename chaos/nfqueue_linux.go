//go:build linux

package chaos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chaosrun/chaosrun/internal/wait"
)

// Handler tuning.
const (
	// nfqMaxLen is how many packets the kernel may hold in one queue; more
	// are dropped (and counted in queue_dropped).
	nfqMaxLen = 65536
	// nfqRcvBuf is the socket's receive buffer. Every queued packet is one
	// small message (metadata only), but the kernel charges each its whole
	// skb; when the buffer is full messages are lost (ENOBUFS), though not
	// their packets, which stay queued: every verdict here is a batch
	// verdict up to a later id (the next due packet, or the release), which
	// releases them too.
	nfqRcvBuf = 8 << 20
	// nfqDrainTimeout bounds the wait, after the heal released everything,
	// for the kernel queue to empty.
	nfqDrainTimeout = 2 * time.Second
)

// nfQueue is a userspace NFQUEUE handler: one netlink socket bound to one
// queue in one network namespace (queues are per namespace). It withholds
// verdicts: in hold mode (delay 0) until release, in delay mode until each
// packet has waited delay. Every verdict is a batch verdict for a prefix of
// the queue, so packets leave in the order they arrived whoever issues it
// (the reader after release, the delayer, release itself); verdicts are
// sent under mu, so they never overtake each other. Closing the socket
// unbinds the queue: the kernel drops whatever is still queued, and, the
// rules having no --queue-bypass, every packet that reaches them
// afterwards, so a dead handler fails closed.
type nfQueue struct {
	ns    string
	num   uint16
	delay time.Duration
	log   *slog.Logger
	f     *os.File
	rc    syscall.RawConn

	mu          sync.Mutex
	seq         uint32
	passthrough bool // released: accept on arrival
	fifo        []delayedPacket
	st          queueStats

	wake      chan struct{} // cap 1: the delayer has a new packet
	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

type delayedPacket struct {
	id  uint32
	due time.Time
}

// openNFQueue binds queue num in namespace ns and starts handling it:
// holding every packet (delay 0) or releasing each after delay.
func openNFQueue(ns string, num uint16, delay time.Duration, log *slog.Logger) (queueHandler, error) {
	fd := -1
	err := doInNetns(ns, func() error {
		s, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_NETFILTER)
		if err != nil {
			return fmt.Errorf("socket: %w", err)
		}
		if err := unix.Bind(s, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			_ = unix.Close(s)
			return fmt.Errorf("bind: %w", err)
		}
		fd = s
		return nil
	})
	if err != nil {
		if fd >= 0 {
			_ = unix.Close(fd) // NB: setns back failed after the socket was made
		}
		return nil, fmt.Errorf("chaos: nfqueue %d in %s: %w", num, ns, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, nfqRcvBuf); err != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, nfqRcvBuf)
	}
	// A non-blocking fd makes the file pollable: Close then unblocks a read.
	f := os.NewFile(uintptr(fd), fmt.Sprintf("nfqueue-%s-%d", ns, num))
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("chaos: nfqueue %d in %s: %w", num, ns, err)
	}
	q := &nfQueue{ns: ns, num: num, delay: delay, log: log, f: f, rc: rc,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), st: queueStats{Num: num}}
	for _, step := range []struct {
		what string
		msg  func(seq uint32) []byte
	}{
		{"bind", func(seq uint32) []byte { return configCmd(seq, num, nfqnlCfgCmdBind) }},
		{"copy mode", func(seq uint32) []byte { return configParams(seq, num, 0, nfqnlCopyMeta) }},
		{"max length", func(seq uint32) []byte { return configMaxLen(seq, num, nfqMaxLen) }},
	} {
		if err := q.request(step.msg); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("chaos: nfqueue %d in %s: %s: %w", num, ns, step.what, err)
		}
	}
	q.wg.Add(1)
	go q.read()
	if delay > 0 {
		q.wg.Add(1)
		go q.delayer()
	}
	return q, nil
}

// request sends a config message and waits for its ack. Only before the
// reader starts.
func (q *nfQueue) request(msg func(seq uint32) []byte) error {
	q.seq++
	seq := q.seq
	if err := q.send(msg(seq)); err != nil {
		return err
	}
	_ = q.f.SetReadDeadline(time.Now().Add(2 * time.Second))
	defer q.f.SetReadDeadline(time.Time{})
	buf := make([]byte, 8192)
	for {
		n, err := q.recv(buf)
		if err != nil {
			return err
		}
		msgs, err := splitNetlink(buf[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.typ != nlmsgError {
				continue
			}
			errno, of, err := parseNlError(m.payload)
			if err != nil {
				return err
			}
			if of != seq {
				continue
			}
			if errno != 0 {
				return syscall.Errno(-errno)
			}
			return nil
		}
	}
}

func (q *nfQueue) send(msg []byte) error {
	var serr error
	err := q.rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		return serr != unix.EAGAIN
	})
	if err != nil {
		return err
	}
	return serr
}

func (q *nfQueue) recv(buf []byte) (int, error) {
	var (
		n    int
		rerr error
	)
	err := q.rc.Read(func(fd uintptr) bool {
		n, _, rerr = unix.Recvfrom(int(fd), buf, 0)
		return rerr != unix.EAGAIN
	})
	if err != nil {
		return 0, err
	}
	return n, rerr
}

// verdictLocked accepts every packet up to id. Callers hold q.mu.
func (q *nfQueue) verdictLocked(id uint32) error {
	q.seq++
	if err := q.send(verdictMsg(q.seq, q.num, id, nfAccept, true /* batch */)); err != nil {
		q.st.Errors++
		return fmt.Errorf("chaos: nfqueue %d in %s: verdict: %w", q.num, q.ns, err)
	}
	return nil
}

// read handles what the kernel sends until the socket is closed.
func (q *nfQueue) read() {
	defer q.wg.Done()
	buf := make([]byte, 1<<16)
	for {
		n, err := q.recv(buf)
		switch {
		case errors.Is(err, unix.ENOBUFS):
			q.mu.Lock()
			q.st.Overruns++ // NB: the lost messages' packets are still queued; see nfqRcvBuf
			q.mu.Unlock()
			continue
		case err != nil && q.stopping():
			return // closed
		case err != nil:
			q.mu.Lock()
			q.st.Failed = err.Error()
			q.mu.Unlock()
			q.log.Error("chaos: nfqueue: reader stopped; queued packets stay held until close drops them", "netns", q.ns, "queue", q.num, "err", err)
			return
		}
		msgs, err := splitNetlink(buf[:n])
		if err != nil {
			q.log.Warn("chaos: nfqueue: bad message", "netns", q.ns, "queue", q.num, "err", err)
		}
		for _, m := range msgs {
			q.handle(m)
		}
	}
}

func (q *nfQueue) handle(m nlMsg) {
	switch m.typ {
	case nlmsgError:
		if errno, _, err := parseNlError(m.payload); err == nil && errno != 0 {
			// A verdict for packets already gone (ENOENT) is harmless.
			q.mu.Lock()
			q.st.Errors++
			q.mu.Unlock()
		}
	case nfqType(nfqnlMsgPacket):
		p, err := parsePacket(m.payload)
		if err != nil {
			q.log.Warn("chaos: nfqueue: bad packet message", "netns", q.ns, "queue", q.num, "err", err)
			return
		}
		q.mu.Lock()
		defer q.mu.Unlock()
		switch {
		case q.passthrough:
			q.st.Passed++
			_ = q.verdictLocked(p.id)
		case q.delay > 0:
			q.st.Queued++
			q.fifo = append(q.fifo, delayedPacket{id: p.id, due: time.Now().Add(q.delay)})
			select {
			case q.wake <- struct{}{}:
			default:
			}
		default:
			q.st.Queued++ // held until release
		}
	}
}

func (q *nfQueue) stopping() bool {
	select {
	case <-q.stop:
		return true
	default:
		return false
	}
}

// delayer releases each packet once it has waited q.delay, oldest first.
func (q *nfQueue) delayer() {
	defer q.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		q.mu.Lock()
		now := time.Now()
		k := 0
		for k < len(q.fifo) && !q.fifo[k].due.After(now) {
			k++
		}
		if k > 0 {
			_ = q.verdictLocked(q.fifo[k-1].id)
			q.fifo = q.fifo[k:]
		}
		if len(q.fifo) > 0 {
			t.Reset(time.Until(q.fifo[0].due))
		}
		q.mu.Unlock()
		select {
		case <-q.stop:
			return
		case <-q.wake:
		case <-t.C:
		}
	}
}

// release accepts every packet still queued, in arrival order, and from
// then on every packet on arrival. It returns how many the kernel still
// held (read from /proc, so packets whose message was lost count too).
// Idempotent; after close it does nothing (the kernel dropped what the
// queue held when it was unbound).
func (q *nfQueue) release() (uint64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.passthrough || q.st.Closed {
		return q.st.Released, nil
	}
	q.passthrough, q.fifo = true, nil
	pq, err := readQueueProc(q.ns, q.num)
	if err != nil {
		return 0, err
	}
	q.st.Released = uint64(pq.Waiting)
	if pq.Waiting == 0 {
		return 0, nil
	}
	return q.st.Released, q.verdictLocked(pq.IDSeq)
}

// close, after a release, waits until the kernel queue is empty (the rules
// should be gone by then), accepting stragglers; then it closes the
// socket, which unbinds the queue, and waits for the goroutines.
// Idempotent; only the first call reports an error.
func (q *nfQueue) close(ctx context.Context) error {
	var err error
	q.closeOnce.Do(func() {
		var errs []error
		q.mu.Lock()
		released := q.passthrough
		q.mu.Unlock()
		if released {
			errs = append(errs, q.drain(ctx))
		}
		close(q.stop)
		errs = append(errs, q.f.Close())
		q.wg.Wait()
		q.mu.Lock()
		q.st.Closed = true
		q.mu.Unlock()
		err = errors.Join(errs...)
	})
	return err
}

// drain polls the kernel's count of queued packets until it is zero,
// accepting up to the last queued id each round.
func (q *nfQueue) drain(ctx context.Context) error {
	deadline := time.Now().Add(nfqDrainTimeout)
	for {
		pq, err := readQueueProc(q.ns, q.num)
		if err != nil {
			return err
		}
		if pq.Waiting == 0 {
			return nil
		}
		q.mu.Lock()
		err = q.verdictLocked(pq.IDSeq)
		q.mu.Unlock()
		if err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("chaos: nfqueue %d in %s: %d packets still queued after %v", q.num, q.ns, pq.Waiting, nfqDrainTimeout)
		}
		if err := wait.Sleep(ctx, 5*time.Millisecond); err != nil {
			return err
		}
	}
}

func (q *nfQueue) stats() queueStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.st
}

// readQueueProc reads queue num's line of
// /proc/net/netfilter/nfnetlink_queue as seen from namespace ns.
func readQueueProc(ns string, num uint16) (queueProc, error) {
	var data []byte
	err := doInNetns(ns, func() error {
		var err error
		// NB: thread-self, not self: the namespace is this thread's.
		data, err = os.ReadFile("/proc/thread-self/net/netfilter/nfnetlink_queue")
		return err
	})
	if err != nil {
		return queueProc{}, fmt.Errorf("chaos: nfqueue %d in %s: %w", num, ns, err)
	}
	pq, ok := parseQueueProc(string(data), num)
	if !ok {
		return queueProc{}, fmt.Errorf("chaos: nfqueue %d in %s: queue not bound", num, ns)
	}
	return pq, nil
}
