package roles

import (
	"fmt"
	"slices"

	"github.com/chaosrun/chaosrun/fencing"
	"github.com/chaosrun/chaosrun/heartbeatpb"
)

// Config holds the logical-time intervals of the roles, in ticks. TiCDC
// resends operators and bootstraps every 500 ms and heartbeats every 200 ms;
// with a 100 ms tick the defaults match.
type Config struct {
	ResendTicks    int // resend unacknowledged control messages every N ticks
	HeartbeatTicks int // dispatcher and maintainer heartbeats every N ticks
}

// DefaultConfig is the configuration used when a field is zero.
var DefaultConfig = Config{ResendTicks: 5, HeartbeatTicks: 2}

func (c Config) withDefaults() Config {
	if c.ResendTicks <= 0 {
		c.ResendTicks = DefaultConfig.ResendTicks
	}
	if c.HeartbeatTicks <= 0 {
		c.HeartbeatTicks = DefaultConfig.HeartbeatTicks
	}
	return c
}

// Role names used in decisions, drops and logs.
const (
	RoleCoordinator       = "coordinator"
	RoleMaintainerManager = "maintainer-manager"
	RoleMaintainer        = "maintainer"
	RoleDispatcherManager = "dispatcher-manager"
	RoleNode              = "node"
)

// Ready is what a role produced since the last drain.
type Ready struct {
	Messages  []*heartbeatpb.Envelope // to send, in order
	Effects   []Effect                // to apply, in order
	Decisions []Decision              // fencing decisions, for the decision log
	Drops     []Drop                  // malformed or unroutable input
}

// Empty reports whether r holds nothing.
func (r Ready) Empty() bool {
	return len(r.Messages) == 0 && len(r.Effects) == 0 && len(r.Decisions) == 0 && len(r.Drops) == 0
}

func (r *Ready) append(o Ready) {
	r.Messages = append(r.Messages, o.Messages...)
	r.Effects = append(r.Effects, o.Effects...)
	r.Decisions = append(r.Decisions, o.Decisions...)
	r.Drops = append(r.Drops, o.Drops...)
}

// take returns r and resets it.
func (r *Ready) take() Ready {
	o := *r
	*r = Ready{}
	return o
}

// Decision is one fencing decision taken by a role, with where it was taken.
type Decision struct {
	Node       string
	Role       string
	Changefeed string
	Message    string // kind of the message decided on, e.g. "AddMaintainerRequest"
	fencing.Decision
}

// String formats the decision for a log line or a transcript.
func (d Decision) String() string {
	return fmt.Sprintf("%s %s %s %s: %s", d.Node, d.Role, d.Changefeed, d.Message, d.Decision.String())
}

// Drop is an input a role refused before any fencing rule: it was malformed,
// addressed elsewhere, or had nothing to apply to.
type Drop struct {
	Node    string
	Role    string
	Topic   string
	Message string // kind, or "" if undecodable
	Reason  string
}

// String formats the drop for a log line or a transcript.
func (d Drop) String() string {
	return fmt.Sprintf("%s %s drop %s on %q: %s", d.Node, d.Role, orDash(d.Message), d.Topic, d.Reason)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// views returns a copy of m with each value replaced by view(v), for the
// snapshots the roles hand out.
func views[V, W any](m map[string]V, view func(V) W) map[string]W {
	out := make(map[string]W, len(m))
	for k, v := range m {
		out[k] = view(v)
	}
	return out
}

// outbox is the Ready under construction that every role embeds.
type outbox struct {
	node string
	role string
	out  Ready
}

func (o *outbox) send(to, topic string, body isBody) {
	o.out.Messages = append(o.out.Messages, envelope(o.node, to, topic, body))
}

func (o *outbox) effect(e Effect) { o.out.Effects = append(o.out.Effects, e) }

func (o *outbox) decide(cf, msg string, d fencing.Decision) fencing.Decision {
	o.out.Decisions = append(o.out.Decisions, Decision{Node: o.node, Role: o.role, Changefeed: cf, Message: msg, Decision: d})
	return d
}

func (o *outbox) drop(topic, msg, format string, args ...any) {
	o.out.Drops = append(o.out.Drops, Drop{Node: o.node, Role: o.role, Topic: topic, Message: msg, Reason: fmt.Sprintf(format, args...)})
}

// receive hands each valid payload of env to step. It drops, with the
// reason, an envelope that fails CheckEnvelope or is on none of topics, and
// a payload that fails checkPayload; side names the receiver in the
// wrong-topic reason.
func (o *outbox) receive(env *heartbeatpb.Envelope, side string, step func(from, kind string, m *heartbeatpb.Message), topics ...string) {
	if err := CheckEnvelope(env, o.node); err != nil {
		o.drop(env.GetTopic(), "", "%v", err)
		return
	}
	topic := env.GetTopic()
	if !slices.Contains(topics, topic) {
		o.drop(topic, "", "topic not handled by the %s", side)
		return
	}
	for _, m := range env.GetPayloads() {
		kind, err := checkPayload(m, topic)
		if err != nil {
			o.drop(topic, kind, "%v", err)
			continue
		}
		step(env.GetFrom(), kind, m)
	}
}
