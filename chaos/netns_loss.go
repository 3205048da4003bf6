package chaos

import (
	"net/netip"
	"strconv"
)

// lossRules returns the rule specs of a loss in the namespace they are
// installed in (the target's): for each peer address and each way, a rule
// without a target that counts every packet (the denominator of the
// observed loss), then a DROP of each packet with probability p (the
// iptables statistic match, which draws per packet). Direction is both
// ways: "-s peer" matches what arrives, "-d peer" what leaves.
func lossRules(tag string, peers []netip.Addr, p float64) []string {
	prob := strconv.FormatFloat(p, 'f', -1, 64)
	c := "-m comment --comment " + tag
	var specs []string
	for _, a := range peers {
		for _, m := range []string{"-s " + a.String() + "/32", "-d " + a.String() + "/32"} {
			specs = append(specs, m+" "+c, m+" -m statistic --mode random --probability "+prob+" "+c+" -j DROP")
		}
	}
	return specs
}
