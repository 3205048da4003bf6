package chaos

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// dialFunc opens the connection a probe uses.
type dialFunc func(ctx context.Context) (net.Conn, error)

// probeTask is one probe to run: its result skeleton and how to dial.
type probeTask struct {
	res  ProbeResult
	dial dialFunc
}

var probeSeq atomic.Uint64

// probe runs one probe with the given timeout and classifies the outcome:
//
//   - connect: handshake done → Open; refused → Open (packets flowed),
//     unless strict (is the process serving?), then Unclear; timeout or
//     EPERM (a local DROP) → Blocked; anything else → Unclear.
//   - echo: as connect, then a token must come back unchanged; a read
//     timeout → Blocked, a short or different reply or a reset → Unclear.
//   - tls: as connect, then a TLS ClientHello must be answered with the
//     server's certificate; a read timeout → Blocked.
func probe(ctx context.Context, dial dialFunc, kind ProbeKind, timeout time.Duration, strict bool) (Reach, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := dial(ctx)
	if err != nil {
		switch {
		case isTimeout(err) || errors.Is(err, syscall.EPERM):
			return Blocked, err
		case errors.Is(err, syscall.ECONNREFUSED) && kind == ProbeConnect && !strict:
			return Open, nil
		default:
			return Unclear, err
		}
	}
	defer c.Close()
	if kind != ProbeEcho && kind != ProbeTLS {
		return Open, nil
	}
	dl, _ := ctx.Deadline()
	_ = c.SetDeadline(dl)
	if kind == ProbeTLS {
		return probeTLS(ctx, c)
	}
	token := fmt.Appendf(nil, "chaosrun-probe %d %d\n", os.Getpid(), probeSeq.Add(1))
	if _, err := c.Write(token); err != nil {
		if isTimeout(err) {
			return Blocked, err
		}
		return Unclear, err
	}
	got := make([]byte, len(token))
	if _, err := io.ReadFull(c, got); err != nil {
		if isTimeout(err) {
			return Blocked, err
		}
		return Unclear, err
	}
	if !bytes.Equal(got, token) {
		return Unclear, fmt.Errorf("echo mismatch: sent %q got %q", token, got)
	}
	return Open, nil
}

// errAnswered stops a probe's TLS handshake once the server has sent its
// certificate: it answered, which is all a probe asks.
var errAnswered = errors.New("server answered")

// probeTLS starts a TLS handshake and waits for the server's certificate.
// The probe presents none and trusts nothing: it aborts the handshake as
// soon as the certificate arrives.
func probeTLS(ctx context.Context, c net.Conn) (Reach, error) {
	tc := tls.Client(c, &tls.Config{
		MinVersion: tls.VersionTLS12,
		// NB: verification is replaced, not skipped: the callback below
		// ends every handshake, so no probe ever trusts a certificate.
		InsecureSkipVerify:    true,
		VerifyPeerCertificate: func([][]byte, [][]*x509.Certificate) error { return errAnswered },
	})
	err := tc.HandshakeContext(ctx)
	switch {
	case errors.Is(err, errAnswered):
		return Open, nil
	case err == nil:
		return Unclear, errors.New("tls handshake completed without the server's certificate")
	case isTimeout(err):
		return Blocked, err
	default:
		return Unclear, err
	}
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// runProbes runs tasks in parallel and returns their filled results in
// order.
func runProbes(ctx context.Context, tasks []probeTask, timeout time.Duration) []ProbeResult {
	out := make([]ProbeResult, len(tasks))
	var wg sync.WaitGroup
	for i, t := range tasks {
		wg.Go(func() {
			r := t.res
			r.Start = time.Now()
			got, err := probe(ctx, t.dial, r.Kind, timeout, r.Role == ProbeTarget)
			r.Took = time.Since(r.Start)
			r.Got = got
			if err != nil {
				r.Err = err.Error()
			}
			out[i] = r
		})
	}
	wg.Wait()
	return out
}

// judge reports whether every probe got what it wanted, with a one-line
// note on the first few that did not.
func judge(results []ProbeResult) (bool, string) {
	var bad []string
	for _, r := range results {
		if r.Got != r.Want && r.Want != Any {
			bad = append(bad, fmt.Sprintf("%s %s: want %s got %s", r.Role, r.Link, r.Want, r.Got))
		}
	}
	if len(bad) == 0 {
		return true, ""
	}
	if len(bad) > 3 {
		bad = append(bad[:3], fmt.Sprintf("and %d more", len(bad)-3))
	}
	return false, strings.Join(bad, "; ")
}

// linkProbe returns the probe skeleton for link l.
func linkProbe(l Link, role string, want Reach, addr string) ProbeResult {
	return ProbeResult{
		Link: l.String(), From: l.From.Name, To: l.To.Name, Endpoint: l.Endpoint.Name,
		Addr: addr, Kind: l.Endpoint.probeKind(), Role: role, Want: want,
	}
}

// wants returns what cut and control probes should see in phase.
func wants(phase Phase) (cut, control Reach) {
	if phase == PhaseInjected {
		return Blocked, Open
	}
	return Open, Open
}

// targetProbes probes every endpoint of p from its own namespace (or the
// host), expecting want.
func targetProbes(ctx context.Context, p Process, want Reach, timeout time.Duration) []ProbeResult {
	var tasks []probeTask
	for _, e := range p.Endpoints {
		tasks = append(tasks, probeTask{
			res: ProbeResult{Link: p.Name + "/" + e.Name, To: p.Name, Endpoint: e.Name, Addr: e.Addr,
				Kind: e.probeKind(), Role: ProbeTarget, Want: want},
			dial: func(ctx context.Context) (net.Conn, error) { return dialInNetns(ctx, p.Namespace, e.Addr) },
		})
	}
	return runProbes(ctx, tasks, timeout)
}

// delayProbeTimeout bounds a probe across a delay d: a connect is two
// delayed packets and an echo through a proxy two delayed chunks, with
// room for late timers.
func delayProbeTimeout(d, base time.Duration) time.Duration { return 3*d + base }

// delayNoiseFloor is the shortest delay a healed probe's round trip is
// judged against: below it, scheduling noise on a loaded machine could
// make a healed link look delayed.
const delayNoiseFloor = 20 * time.Millisecond

// delayNote returns why the cut probes do not show delay d in phase, or
// "". After inject every probe that got through must have taken at least d
// (a lower bound, which only a delay can meet); after heal, for d of at
// least delayNoiseFloor, less than d.
func delayNote(results []ProbeResult, d time.Duration, phase Phase) string {
	for _, r := range results {
		if r.Role != ProbeCut || r.Got != Open {
			continue
		}
		switch {
		case phase == PhaseInjected && r.Took < d:
			return fmt.Sprintf("%s %s took %v, less than the delay %v", r.Role, r.Link, r.Took, d)
		case phase == PhaseHealed && d >= delayNoiseFloor && r.Took >= d:
			return fmt.Sprintf("%s %s still took %v, at least the delay %v", r.Role, r.Link, r.Took, d)
		}
	}
	return ""
}
