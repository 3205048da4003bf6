package chaos

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestTimings measures, for both backends, over several cut/heal cycles:
//
//   - inject→effect: from the Inject call to the start of the first probe
//     round that found every cut link blocked (and, netns, drops counted);
//   - heal→connectivity: from the Heal call to the end of the first probe
//     round that found every link open again (fresh connections);
//   - heal→resume: from the Heal call until an echo written on an
//     established connection during the cut comes back (what a gRPC stream
//     that survived the cut sees).
//
// Run with -v to see the table; `-run TestTimings -count=1 -v ./chaos/`.
func TestTimings(t *testing.T) {
	const cycles, hold = 5, 500 * time.Millisecond
	type backend struct {
		name  string
		guard func(t *testing.T) (*Guard, net.Conn)
	}
	backends := []backend{{"toxiproxy", func(t *testing.T) (*Guard, net.Conn) {
		fx := newToxiFixture(t)
		addr, _ := fx.px.Addr("b", "a", "echo")
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		return fx.guard(t), c
	}}}
	if isRoot() {
		backends = append(backends, backend{"netns", func(t *testing.T) (*Guard, net.Conn) {
			fx := newNetnsFixture(t)
			a, _ := fx.top.Process("a")
			c, err := dialInNetns(context.Background(), nsName(fx.run, "b"), a.Endpoints[0].Addr)
			require.NoError(t, err)
			return fx.guard(t), c
		}})
	} else {
		t.Log("netns timings skipped: not root")
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			g, conn := b.guard(t)
			t.Cleanup(func() { _ = conn.Close() })
			require.NoError(t, g.Prepare(ctx))
			var effect, restored, resume []time.Duration
			for i := range cycles {
				require.NoError(t, g.Inject(ctx, Spec{ID: "m" + strconv.Itoa(i), Kind: KindCut, Target: "node:1", Links: []string{LinkPeers}}))
				verifyOK(ctx, t, g)
				msg := fmt.Sprintf("cycle-%d|", i)
				_, err := conn.Write([]byte(msg))
				require.NoError(t, err)
				<-time.After(hold) // NB: holding the fault, not waiting for readiness

				// The echo of msg arrives only after the heal; wait for it
				// alongside the heal's own verification.
				arrived := make(chan error, 1)
				var arrivedAt time.Time
				go func() {
					_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
					got := make([]byte, len(msg))
					_, err := io.ReadFull(conn, got)
					arrivedAt = time.Now()
					if err == nil && string(got) != msg {
						err = fmt.Errorf("got %q want %q", got, msg)
					}
					arrived <- err
				}()
				healAt := time.Now()
				healOK(ctx, t, g)
				require.NoError(t, <-arrived)
				resume = append(resume, arrivedAt.Sub(healAt))
				r := g.Records()[len(g.Records())-1]
				effect = append(effect, r.InjectToEffect())
				restored = append(restored, r.HealToRestored())
			}
			require.NoError(t, g.Cleanup(ctx))
			t.Logf("%-9s %d cycles, hold %v: inject→effect %s | heal→connectivity %s | heal→resume (established conn) %s",
				b.name, cycles, hold, stats(effect), stats(restored), stats(resume))
		})
	}
}

func stats(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	return fmt.Sprintf("min %v med %v max %v", r(s[0]), r(s[len(s)/2]), r(s[len(s)-1]))
}
