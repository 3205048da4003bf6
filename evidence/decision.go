package evidence

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// DecisionsGlob matches the nodes' decision logs in a run directory.
const DecisionsGlob = "decisions-*.jsonl"

// DecisionsFile is the name of node's decision log in a run directory.
func DecisionsFile(node string) string { return "decisions-" + node + ".jsonl" }

// The decision-log line of a transactional writer the broker fenced: the
// writer stopped, and the line is evidence, not an error.
const (
	RuleBrokerFence       = "broker-fence"
	VerdictFencedByBroker = "fenced by broker"
)

// Decision is one line of a node's decision log: what a role did with one
// message, and the fencing verdict that decided it.
type Decision struct {
	Time       time.Time `json:"time"`
	Node       string    `json:"node"`
	Role       string    `json:"role"`
	Changefeed string    `json:"changefeed"`
	Message    string    `json:"msg_type"`
	MsgEpoch   uint64    `json:"msg_epoch"`
	LocalEpoch uint64    `json:"local_epoch"`
	Sender     string    `json:"sender"`
	LocalNode  string    `json:"local_node,omitempty"`
	Rule       string    `json:"rule"`
	Verdict    string    `json:"verdict"`
	Acted      bool      `json:"acted"`
	Policy     string    `json:"policy"`
	Reason     string    `json:"reason"`
}

// ReadDecisions reads one node's decision log. A line that does not parse
// (the torn last line of a killed node) is skipped.
func ReadDecisions(path string) ([]Decision, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("evidence: open decision log: %w", err)
	}
	defer f.Close()
	var out []Decision
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	for sc.Scan() {
		var e Decision
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			continue
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("evidence: read decision log %s: %w", path, err)
	}
	return out, nil
}
