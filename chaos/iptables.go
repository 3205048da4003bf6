package chaos

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// chainName is the iptables chain a run owns in each of its namespaces.
func chainName(run string) string { return "CR-" + run }

// jumpFault is the fault id in the tag of the INPUT/OUTPUT jumps to the
// run's chain.
const jumpFault = "jump"

// cutRules returns the rule specs (the part after "-A <chain>") that drop
// a cut between the namespace they are installed in (the target's) and
// each peer address. The run's chain is jumped to from both INPUT and
// OUTPUT, so "-s peer" matches what arrives from the peer and "-d peer"
// what leaves for it.
//
// Why these rules: DROP, never REJECT, so a cut looks like an outage (no
// RST, no ICMP: connects and retransmits time out) rather than a refusal.
// Both directions are dropped even for a one-way cut, because one-way is
// per connection (see Direction): the conntrack direction match keeps the
// connections the other side opened intact and drops both streams of the
// ones being cut. Dropping what leaves the target matters as much as what
// arrives: with INPUT alone, data the target sends on an established
// connection (a stale owner's writes) would still be delivered.
func cutRules(tag string, peers []netip.Addr, d Direction) []string {
	var specs []string
	for _, p := range peers {
		host := p.String() + "/32"
		c := "-m comment --comment " + tag + " -j DROP"
		switch d {
		case Inbound:
			// Connections the peer opened to us: its packets, our replies.
			specs = append(specs,
				"-s "+host+" -m conntrack --ctdir ORIGINAL "+c,
				"-d "+host+" -m conntrack --ctdir REPLY "+c)
		case Outbound:
			// Connections we opened to the peer: our packets, its replies.
			specs = append(specs,
				"-d "+host+" -m conntrack --ctdir ORIGINAL "+c,
				"-s "+host+" -m conntrack --ctdir REPLY "+c)
		default:
			specs = append(specs, "-s "+host+" "+c, "-d "+host+" "+c)
		}
	}
	return specs
}

// renderRules is the one template for injecting and healing: an
// iptables-restore transaction (applied atomically) that runs op ("-A" to
// inject, "-D" to heal) on every spec in chain.
func renderRules(op, chain string, specs []string) string {
	var b strings.Builder
	b.WriteString("*filter\n")
	for _, s := range specs {
		fmt.Fprintf(&b, "%s %s %s\n", op, chain, s)
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// chainSetup creates the run's chain and the tagged jumps to it from INPUT
// and OUTPUT (first, so no earlier ACCEPT can bypass a cut).
func chainSetup(run string) string {
	ch, tag := chainName(run), Tag(run, jumpFault)
	return fmt.Sprintf("*filter\n:%s - [0:0]\n-I INPUT 1 -m comment --comment %s -j %s\n-I OUTPUT 1 -m comment --comment %s -j %s\nCOMMIT\n",
		ch, tag, ch, tag, ch)
}

// savedRule is one rule line of `iptables-save -c`.
type savedRule struct {
	Chain   string
	Spec    string // after "-A <chain> "
	Comment string
	Packets uint64
	Bytes   uint64
}

// parseSave parses `iptables-save [-c]` output of the filter table into
// its user chains and rules.
func parseSave(out string) (chains []string, rules []savedRule) {
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, ":") {
			name, _, _ := strings.Cut(line[1:], " ")
			chains = append(chains, name)
			continue
		}
		var r savedRule
		if strings.HasPrefix(line, "[") {
			counters, rest, ok := strings.Cut(line[1:], "]")
			if !ok {
				continue
			}
			p, b, _ := strings.Cut(counters, ":")
			r.Packets, _ = strconv.ParseUint(p, 10, 64)
			r.Bytes, _ = strconv.ParseUint(b, 10, 64)
			line = strings.TrimSpace(rest)
		}
		rest, ok := strings.CutPrefix(line, "-A ")
		if !ok {
			continue
		}
		r.Chain, r.Spec, _ = strings.Cut(rest, " ")
		r.Comment = commentOf(r.Spec)
		rules = append(rules, r)
	}
	return chains, rules
}

// commentOf extracts the --comment value of a saved rule spec.
func commentOf(spec string) string {
	_, after, ok := strings.Cut(spec, "--comment ")
	if !ok {
		return ""
	}
	if strings.HasPrefix(after, `"`) {
		v, _, _ := strings.Cut(after[1:], `"`)
		return v
	}
	v, _, _ := strings.Cut(after, " ")
	return v
}

// iptablesSave returns `iptables-save -c -t filter` of namespace ns ("" is
// the caller's namespace).
func iptablesSave(ctx context.Context, ns string) (string, error) {
	return inNetnsCmd(ctx, ns, nil, "iptables-save", "-c", "-t", "filter")
}

// iptablesRestore applies an iptables-restore transaction in namespace ns
// without flushing anything else.
func iptablesRestore(ctx context.Context, ns, input string) error {
	_, err := inNetnsCmd(ctx, ns, strings.NewReader(input), "iptables-restore", "-w", "5", "--noflush")
	return err
}

// removeTagged deletes, in namespace ns, every rule whose comment matches
// and, when chain is not "", that chain too (call it with a match that
// covers the chain's jumps). It returns what it removed. Rules are deleted
// by the exact spec iptables printed, so nothing else is touched.
func removeTagged(ctx context.Context, ns string, match func(comment string) bool, chain string) ([]string, error) {
	out, err := iptablesSave(ctx, ns)
	if err != nil {
		return nil, err
	}
	chains, rules := parseSave(out)
	var removed []string
	var b strings.Builder
	b.WriteString("*filter\n")
	for _, r := range rules {
		if r.Comment != "" && match(r.Comment) {
			fmt.Fprintf(&b, "-D %s %s\n", r.Chain, r.Spec)
			removed = append(removed, r.Chain+" "+r.Spec)
		}
	}
	hasChain := slices.Contains(chains, chain)
	if chain != "" && hasChain {
		fmt.Fprintf(&b, "-F %s\n-X %s\n", chain, chain)
		removed = append(removed, "chain "+chain)
	}
	b.WriteString("COMMIT\n")
	if len(removed) == 0 {
		return nil, nil
	}
	return removed, iptablesRestore(ctx, ns, b.String())
}
