package systemtest

import (
	"fmt"
	"strings"

	pb "github.com/chaosrun/chaosrun/heartbeatpb"
	"github.com/chaosrun/chaosrun/system/roles"
)

// kindOf is the kind of an envelope's first payload.
func kindOf(env *pb.Envelope) string {
	if len(env.GetPayloads()) == 0 {
		return "-"
	}
	return roles.Kind(env.GetPayloads()[0])
}

// epochMessage is a message that carries a maintainer epoch.
type epochMessage interface{ GetMaintainerEpoch() uint64 }

// changefeedMessage is a message addressed to one changefeed.
type changefeedMessage interface{ GetChangefeedId() string }

// describe summarizes an envelope: kind, changefeed, epoch.
func describe(env *pb.Envelope) string {
	if len(env.GetPayloads()) == 0 {
		return "-"
	}
	m := env.GetPayloads()[0]
	s := roles.Kind(m)
	body := bodyOf(m)
	if c, ok := body.(changefeedMessage); ok && c.GetChangefeedId() != "" {
		s += " " + c.GetChangefeedId()
	}
	if ep, ok := body.(epochMessage); ok {
		s += fmt.Sprintf(" e%d", ep.GetMaintainerEpoch())
	}
	return s
}

// bodyOf returns the body of a payload addressed to a changefeed (nil for
// any other).
func bodyOf(m *pb.Message) any {
	if c, ok := roles.Body(m).(changefeedMessage); ok && c.GetChangefeedId() != "" {
		return c
	}
	return nil
}

// lines collects a command's output, merging identical lines.
type lines struct {
	order  []string
	counts map[string]int
}

func (l *lines) add(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	if l.counts == nil {
		l.counts = map[string]int{}
	}
	if l.counts[s] == 0 {
		l.order = append(l.order, s)
	}
	l.counts[s]++
}

func (l *lines) take() string {
	var b strings.Builder
	for _, s := range l.order {
		b.WriteString(s)
		if c := l.counts[s]; c > 1 {
			fmt.Fprintf(&b, " (x%d)", c)
		}
		b.WriteString("\n")
	}
	*l = lines{}
	return b.String()
}
