package fencing

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestOwnerView replays multi-step histories of one dispatcher manager's
// owner view (one changefeed on one node) from testdata/owner_view. Each
// command feeds one message to the rules and applies the decision the way a
// dispatcher manager must; the output is the decision as a log line plus the
// view afterwards. Regenerate the expected output with
//
//	go test ./fencing -run TestOwnerView -rewrite
//
// Commands:
//
//	reset policy=(epoch|off)            fresh node: no manager, no tombstone
//	bootstrap from=<node> epoch=<e>     MaintainerBootstrapRequest
//	admit from=<node> epoch=<e> [msg=…] schedule / heartbeat response / post-bootstrap / checkpoint
//	close from=<node> epoch=<e> [removed]
//	view                                print the view
func TestOwnerView(t *testing.T) {
	datadriven.Walk(t, "testdata/owner_view", func(t *testing.T, path string) {
		v := &ownerView{p: Epoch}
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			return v.handle(t, td)
		})
	})
}

// ownerView is the minimal dispatcher manager the transcripts drive: it
// applies decisions and nothing else.
type ownerView struct {
	p Policy
	o Owner
}

func (v *ownerView) handle(t *testing.T, td *datadriven.TestData) string {
	var out strings.Builder
	claim := func() Claim {
		var c Claim
		td.ScanArgs(t, "from", &c.From)
		td.ScanArgs(t, "epoch", &c.Epoch)
		return c
	}
	switch td.Cmd {
	case "reset":
		var p string
		td.ScanArgs(t, "policy", &p)
		pol, err := ParsePolicy(p)
		if err != nil {
			td.Fatalf(t, "%v", err)
		}
		*v = ownerView{p: pol}
	case "bootstrap":
		c := claim()
		d := ManagerBootstrap(v.p, v.o, c)
		fmt.Fprintln(&out, d)
		if d.Verdict == TakeOver {
			if !v.o.Present {
				fmt.Fprintln(&out, "-> create dispatcher manager")
				// A newly created manager starts a fresh history; the
				// orchestrator forgets the tombstone (as TiCDC does).
				v.o.Closed, v.o.ClosedEpoch = false, 0
			}
			v.o.Present, v.o.Node, v.o.Epoch = true, c.From, c.Epoch
		}
	case "admit":
		c := claim()
		msg := "schedule"
		td.MaybeScanArgs(t, "msg", &msg)
		d := ManagerAdmit(v.p, v.o, c)
		fmt.Fprintln(&out, d)
		if d.Acts() {
			fmt.Fprintf(&out, "-> apply %s from %s\n", msg, c.From)
		} else {
			fmt.Fprintf(&out, "-> drop %s from %s\n", msg, c.From)
		}
	case "close":
		c := claim()
		d := ManagerClose(v.p, v.o, c, td.HasArg("removed"))
		fmt.Fprintln(&out, d)
		switch d.Verdict {
		case Accept:
			fmt.Fprintln(&out, "-> close dispatcher manager, reply success")
			v.o.Present, v.o.Node, v.o.Epoch = false, "", 0
		case AckWithoutActing:
			fmt.Fprintln(&out, "-> reply success without closing")
		}
		if d.Tombstone {
			fmt.Fprintf(&out, "-> record tombstone %d\n", c.Epoch)
			v.o.Closed, v.o.ClosedEpoch = true, c.Epoch
		}
	case "view":
	default:
		td.Fatalf(t, "unknown command %q", td.Cmd)
	}
	fmt.Fprintln(&out, v)
	return out.String()
}

// String prints the view: who the manager heartbeats to, and the tombstone.
func (v *ownerView) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "view[%s]: ", v.p)
	if v.o.Present {
		fmt.Fprintf(&b, "owner=%s epoch=%d (heartbeats go to %s)", v.o.Node, v.o.Epoch, v.o.Node)
	} else {
		b.WriteString("no manager")
	}
	if v.o.Closed {
		fmt.Fprintf(&b, " tombstone=%d", v.o.ClosedEpoch)
	}
	return b.String()
}
