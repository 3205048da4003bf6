package roles

import (
	"encoding/json"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/chaosrun/chaosrun/heartbeatpb"
)

// Topics, as in TiCDC's pkg/messaging.
const (
	// TopicCoordinator carries bootstrap responses and maintainer heartbeats
	// to the coordinator.
	TopicCoordinator = "coordinator"
	// TopicMaintainerManager carries coordinator requests to a node's
	// maintainer manager, and dispatcher-manager traffic to maintainers
	// (routed by changefeed).
	TopicMaintainerManager = "maintainer-manager"
	// TopicMaintainer carries close responses to maintainers.
	TopicMaintainer = "maintainer"
	// TopicDispatcherManagerManager carries bootstrap, post-bootstrap and
	// close requests to the orchestrator.
	TopicDispatcherManagerManager = "dispatcher-manager-manager"
	// TopicHeartbeatCollector carries schedule requests, heartbeat responses
	// and checkpoints to dispatcher managers.
	TopicHeartbeatCollector = "heartbeat-collector"
)

// isBody is a message that heartbeatpb.Message's body can carry.
type isBody interface{ proto.Message }

// kind describes one payload kind.
type kind struct {
	// topic is the topic the kind travels on.
	topic string
	// check validates the fields its receivers rely on; nil checks nothing.
	// It gets the body as Body returns it, possibly a typed nil.
	check func(proto.Message) error
}

// kinds describes every kind of heartbeatpb.Message's body, by message
// name. Adding a message to the body needs one line here (a test fails
// until it is there); Kind, TopicOf, Wrap and the payload checks read it.
var kinds = map[protoreflect.Name]kind{
	"CoordinatorBootstrapRequest":     {TopicMaintainerManager, nil},
	"CoordinatorBootstrapResponse":    {TopicCoordinator, checked(checkBootstrapReport)},
	"AddMaintainerRequest":            {TopicMaintainerManager, checked(checkChangefeed)},
	"RemoveMaintainerRequest":         {TopicMaintainerManager, checked(checkChangefeed)},
	"MaintainerHeartbeat":             {TopicCoordinator, checked(checkMaintainerHeartbeat)},
	"MaintainerBootstrapRequest":      {TopicDispatcherManagerManager, checked(checkChangefeed)},
	"MaintainerBootstrapResponse":     {TopicMaintainerManager, checked(checkBootstrapResponse)},
	"MaintainerPostBootstrapRequest":  {TopicDispatcherManagerManager, checked(checkChangefeed)},
	"MaintainerPostBootstrapResponse": {TopicMaintainerManager, checked(checkChangefeed)},
	"MaintainerCloseRequest":          {TopicDispatcherManagerManager, checked(checkChangefeed)},
	"MaintainerCloseResponse":         {TopicMaintainer, checked(checkChangefeed)},
	"HeartBeatRequest":                {TopicMaintainerManager, checked(checkHeartbeat)},
	"HeartBeatResponse":               {TopicHeartbeatCollector, checked(checkChangefeed)},
	"ScheduleDispatcherRequest":       {TopicHeartbeatCollector, checked(checkSchedule)},
	// NB: the coordinator's CheckpointTsMessage goes to the maintainer (this
	// topic); the maintainer forwards it to its local dispatcher manager on
	// TopicHeartbeatCollector (see checkPayload).
	"CheckpointTsMessage": {TopicMaintainerManager, checked(checkChangefeed)},
}

// bodyOneof is heartbeatpb.Message's body.
var bodyOneof = (&pb.Message{}).ProtoReflect().Descriptor().Oneofs().ByName("body")

// bodyField maps a message type to its field in the body.
var bodyField = func() map[protoreflect.FullName]protoreflect.FieldDescriptor {
	fs := bodyOneof.Fields()
	out := make(map[protoreflect.FullName]protoreflect.FieldDescriptor, fs.Len())
	for i := range fs.Len() {
		out[fs.Get(i).Message().FullName()] = fs.Get(i)
	}
	return out
}()

// Body returns the message a payload carries (nil if it has none). It may
// be a typed nil when the payload was built with an empty body.
func Body(m *pb.Message) proto.Message {
	fd := m.ProtoReflect().WhichOneof(bodyOneof)
	if fd == nil {
		return nil
	}
	return m.ProtoReflect().Get(fd).Message().Interface()
}

// Kind returns the name of a payload's message type ("" if it has none).
func Kind(m *pb.Message) string {
	fd := m.ProtoReflect().WhichOneof(bodyOneof)
	if fd == nil {
		return ""
	}
	return string(fd.Message().Name())
}

// TopicOf returns the topic a message kind travels on ("" if unknown).
func TopicOf(m *pb.Message) string {
	return kinds[protoreflect.Name(Kind(m))].topic
}

// Wrap puts a message into a heartbeatpb.Message payload.
func Wrap(body isBody) *pb.Message {
	fd, ok := bodyField[body.ProtoReflect().Descriptor().FullName()]
	if !ok {
		panic(fmt.Sprintf("roles: Wrap of %T", body)) // programming error, never input
	}
	m := &pb.Message{}
	m.ProtoReflect().Set(fd, protoreflect.ValueOfMessage(body.ProtoReflect()))
	return m
}

func envelope(from, to, topic string, body isBody) *pb.Envelope {
	return &pb.Envelope{From: from, To: to, Topic: topic, Payloads: []*pb.Message{Wrap(body)}}
}

// NewEnvelope builds the envelope a role would send: one payload on the
// topic of its kind. Tests and fault injection use it.
func NewEnvelope(from, to string, body isBody) *pb.Envelope {
	m := Wrap(body)
	return &pb.Envelope{From: from, To: to, Topic: TopicOf(m), Payloads: []*pb.Message{m}}
}

// DecodeEnvelope parses wire bytes into an envelope. It never panics.
func DecodeEnvelope(b []byte) (*pb.Envelope, error) {
	env := &pb.Envelope{}
	if err := proto.Unmarshal(b, env); err != nil {
		return nil, fmt.Errorf("roles: decode envelope: %w", err)
	}
	return env, nil
}

// Errors returned by CheckEnvelope and checkPayload.
var (
	ErrBadEnvelope = errors.New("roles: bad envelope")
	ErrBadPayload  = errors.New("roles: bad payload")
)

// CheckEnvelope validates the addressing of an envelope delivered to node
// self.
func CheckEnvelope(env *pb.Envelope, self string) error {
	switch {
	case env == nil:
		return fmt.Errorf("%w: nil", ErrBadEnvelope)
	case env.GetFrom() == "":
		return fmt.Errorf("%w: no sender", ErrBadEnvelope)
	case env.GetTo() != self:
		return fmt.Errorf("%w: addressed to %q, not %q", ErrBadEnvelope, env.GetTo(), self)
	case len(env.GetPayloads()) == 0:
		return fmt.Errorf("%w: no payload", ErrBadEnvelope)
	}
	return nil
}

// checkPayload validates one payload against the envelope's topic and the
// fields every receiver relies on. It returns the payload's kind.
func checkPayload(m *pb.Message, topic string) (string, error) {
	name := Kind(m)
	k, ok := kinds[protoreflect.Name(name)]
	if !ok {
		return name, fmt.Errorf("%w: empty or unknown payload", ErrBadPayload)
	}
	if k.topic != topic && (name != "CheckpointTsMessage" || topic != TopicHeartbeatCollector) {
		// NB: CheckpointTsMessage is the one kind on two topics: coordinator
		// to maintainer, then maintainer to its local dispatcher manager.
		return name, fmt.Errorf("%w: %s belongs on topic %q", ErrBadPayload, name, k.topic)
	}
	if k.check == nil {
		return name, nil
	}
	if err := k.check(Body(m)); err != nil {
		return name, fmt.Errorf("%w: %s: %w", ErrBadPayload, name, err)
	}
	return name, nil
}

// checked adapts a check of one message type to the kinds table.
func checked[T any](check func(T) error) func(proto.Message) error {
	return func(m proto.Message) error { return check(m.(T)) }
}

var errNoChangefeed = errors.New("no changefeed id")

// changefeedMessage is a message addressed to one changefeed.
type changefeedMessage interface{ GetChangefeedId() string }

func checkChangefeed(m changefeedMessage) error {
	if m.GetChangefeedId() == "" {
		return errNoChangefeed
	}
	return nil
}

func checkBootstrapReport(r *pb.CoordinatorBootstrapResponse) error {
	return checkStatuses(r.GetStatuses())
}

func checkMaintainerHeartbeat(h *pb.MaintainerHeartbeat) error {
	return checkStatuses(h.GetStatuses())
}

func checkStatuses(sts []*pb.MaintainerStatus) error {
	for _, s := range sts {
		if s.GetChangefeedId() == "" {
			return fmt.Errorf("status: %w", errNoChangefeed)
		}
	}
	return nil
}

func checkBootstrapResponse(r *pb.MaintainerBootstrapResponse) error {
	if r.GetChangefeedId() == "" {
		return errNoChangefeed
	}
	for _, s := range r.GetSpans() {
		if s.GetDispatcherId() == "" || s.GetSpan() == nil {
			return errors.New("span without dispatcher id or range")
		}
	}
	return nil
}

func checkHeartbeat(r *pb.HeartBeatRequest) error {
	if r.GetChangefeedId() == "" {
		return errNoChangefeed
	}
	if r.GetWatermark() == nil {
		return errors.New("no watermark")
	}
	for _, s := range r.GetStatuses() {
		if s.GetDispatcherId() == "" {
			return errors.New("status without dispatcher id")
		}
	}
	return nil
}

func checkSchedule(r *pb.ScheduleDispatcherRequest) error {
	if r.GetChangefeedId() == "" {
		return errNoChangefeed
	}
	c := r.GetConfig()
	if c.GetDispatcherId() == "" || c.GetSpan() == nil {
		return errors.New("no dispatcher id or span")
	}
	a := r.GetScheduleAction()
	if a != pb.ScheduleAction_SCHEDULE_ACTION_CREATE && a != pb.ScheduleAction_SCHEDULE_ACTION_REMOVE {
		return fmt.Errorf("unknown schedule action %d", a)
	}
	return nil
}

// ChangefeedConfig is the changefeed configuration carried (as JSON) in
// AddMaintainerRequest.config and MaintainerBootstrapRequest.config.
type ChangefeedConfig struct {
	Tables []int64 `json:"tables"`
}

// EncodeConfig encodes a changefeed configuration.
func EncodeConfig(c ChangefeedConfig) []byte {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err) // cannot fail for this type
	}
	return b
}

// DecodeConfig decodes a changefeed configuration; every table must be
// positive and appear once.
func DecodeConfig(b []byte) (ChangefeedConfig, error) {
	var c ChangefeedConfig
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("roles: changefeed config: %w", err)
	}
	seen := map[int64]bool{}
	for _, t := range c.Tables {
		if t <= 0 || seen[t] {
			return c, fmt.Errorf("roles: changefeed config: bad or repeated table %d", t)
		}
		seen[t] = true
	}
	return c, nil
}

// tableSpan is the single span a maintainer assigns for a table.
func tableSpan(table int64) *pb.TableSpan {
	return &pb.TableSpan{TableId: table, StartPk: 0, EndPk: 1 << 62}
}

// dispatcherID names the dispatcher a maintainer of epoch creates for a
// table; every generation names its dispatchers differently, so a delayed
// create of an older generation shows up as a second dispatcher.
func dispatcherID(table int64, epoch uint64) string {
	return fmt.Sprintf("t%d@e%d", table, epoch)
}
