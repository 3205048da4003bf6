package chaos

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/Shopify/toxiproxy/v2/stream"
	"github.com/Shopify/toxiproxy/v2/toxics"
)

// holdToxicType is the toxiproxy type name of holdToxic.
const holdToxicType = "chaosrun_hold"

// holdLimit is how many bytes one stream of one connection may hold before
// the toxic stops reading, which pushes back on the sender through the
// proxy's socket buffers the way a full TCP window does.
const holdLimit = 4 << 20

var registerHold sync.Once

// registerHoldToxic adds holdToxic to toxiproxy's toxic registry (a global
// of that package). Called from NewProxies, not from init.
func registerHoldToxic() {
	registerHold.Do(func() { toxics.Register(holdToxicType, new(holdToxic)) })
}

// holdToxic is a black hole that keeps what it swallows: toxiproxy's
// `timeout` toxic with timeout 0, except that the data is held instead of
// dropped and released, in order, when the toxic is removed.
//
// Why not the stock timeout toxic: it drops the bytes ("on the ground"),
// and because a TCP stream with a hole in it is corrupt, toxiproxy closes
// the connection when the toxic is removed. A heal would then look like a
// connection reset, while after a real partition heals TCP retransmits and
// the same connection carries on. Holding gives the partition's behaviour:
// writes stall (after the buffers fill), nothing arrives, no FIN or RST is
// seen, and after the heal the stream resumes intact. It also lets the
// toxic count what it held: the proxy-side drop counter that proves the
// cut bit, like an iptables rule's packet count.
//
// Why not a disabled proxy: disabling closes every open connection and
// refuses new ones, which is a crash of the peer as seen by the client, not
// a partition.
type holdToxic struct {
	held atomic.Int64 // bytes held, summed over connections; never reset
}

// holdState is one connection stream's held data.
type holdState struct {
	chunks []*stream.StreamChunk
	n      int
	eof    bool
}

// NewState implements toxics.StatefulToxic: one holdState per stream of
// each connection, kept across re-runs of Pipe.
func (t *holdToxic) NewState() interface{} { return new(holdState) }

// Pipe holds every chunk until interrupted.
func (t *holdToxic) Pipe(stub *toxics.ToxicStub) {
	st := stub.State.(*holdState)
	for {
		in := stub.Input
		if st.eof || st.n >= holdLimit {
			in = nil // stop reading: back-pressure, as a full window
		}
		select {
		case <-stub.Interrupt:
			return
		case c := <-in:
			if c == nil { // the source closed; hold the close too
				st.eof = true
				continue
			}
			st.chunks = append(st.chunks, c)
			st.n += len(c.Data)
			t.held.Add(int64(len(c.Data)))
		}
	}
}

// Cleanup implements toxics.CleanupToxic: toxiproxy calls it when the toxic
// is removed, after Pipe returned. It releases what was held, in order,
// then passes on a held close.
func (t *holdToxic) Cleanup(stub *toxics.ToxicStub) {
	st := stub.State.(*holdState)
	for _, c := range st.chunks {
		if err := stub.WriteOutput(c, 5*time.Second); err != nil {
			// NB: the rest cannot be delivered in order; close rather than
			// corrupt the stream.
			stub.Close()
			return
		}
	}
	st.chunks, st.n = nil, 0
	if st.eof {
		stub.Close()
	}
}
