package roles

import (
	"encoding/json"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

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

// isBody is the oneof of heartbeatpb.Message.
type isBody interface{ proto.Message }

// Kind returns the name of a payload's message type ("" if it has none).
func Kind(m *pb.Message) string {
	switch b := m.GetBody().(type) {
	case *pb.Message_CoordinatorBootstrapRequest:
		return "CoordinatorBootstrapRequest"
	case *pb.Message_CoordinatorBootstrapResponse:
		return "CoordinatorBootstrapResponse"
	case *pb.Message_AddMaintainerRequest:
		return "AddMaintainerRequest"
	case *pb.Message_RemoveMaintainerRequest:
		return "RemoveMaintainerRequest"
	case *pb.Message_MaintainerHeartbeat:
		return "MaintainerHeartbeat"
	case *pb.Message_MaintainerBootstrapRequest:
		return "MaintainerBootstrapRequest"
	case *pb.Message_MaintainerBootstrapResponse:
		return "MaintainerBootstrapResponse"
	case *pb.Message_MaintainerPostBootstrapRequest:
		return "MaintainerPostBootstrapRequest"
	case *pb.Message_MaintainerPostBootstrapResponse:
		return "MaintainerPostBootstrapResponse"
	case *pb.Message_MaintainerCloseRequest:
		return "MaintainerCloseRequest"
	case *pb.Message_MaintainerCloseResponse:
		return "MaintainerCloseResponse"
	case *pb.Message_HeartBeatRequest:
		return "HeartBeatRequest"
	case *pb.Message_HeartBeatResponse:
		return "HeartBeatResponse"
	case *pb.Message_ScheduleDispatcherRequest:
		return "ScheduleDispatcherRequest"
	case *pb.Message_CheckpointTsMessage:
		return "CheckpointTsMessage"
	default:
		_ = b
		return ""
	}
}

// TopicOf returns the topic a message kind travels on.
func TopicOf(m *pb.Message) string {
	switch m.GetBody().(type) {
	case *pb.Message_CoordinatorBootstrapResponse, *pb.Message_MaintainerHeartbeat:
		return TopicCoordinator
	case *pb.Message_CoordinatorBootstrapRequest, *pb.Message_AddMaintainerRequest,
		*pb.Message_RemoveMaintainerRequest, *pb.Message_MaintainerBootstrapResponse,
		*pb.Message_MaintainerPostBootstrapResponse, *pb.Message_HeartBeatRequest,
		*pb.Message_CheckpointTsMessage:
		// NB: the coordinator's CheckpointTsMessage goes to the maintainer
		// (this topic); the maintainer forwards it to its local dispatcher
		// manager on TopicHeartbeatCollector.
		return TopicMaintainerManager
	case *pb.Message_MaintainerCloseResponse:
		return TopicMaintainer
	case *pb.Message_MaintainerBootstrapRequest, *pb.Message_MaintainerPostBootstrapRequest,
		*pb.Message_MaintainerCloseRequest:
		return TopicDispatcherManagerManager
	case *pb.Message_HeartBeatResponse, *pb.Message_ScheduleDispatcherRequest:
		return TopicHeartbeatCollector
	default:
		return ""
	}
}

// Wrap puts a message into a heartbeatpb.Message payload.
func Wrap(body isBody) *pb.Message {
	switch b := body.(type) {
	case *pb.CoordinatorBootstrapRequest:
		return &pb.Message{Body: &pb.Message_CoordinatorBootstrapRequest{CoordinatorBootstrapRequest: b}}
	case *pb.CoordinatorBootstrapResponse:
		return &pb.Message{Body: &pb.Message_CoordinatorBootstrapResponse{CoordinatorBootstrapResponse: b}}
	case *pb.AddMaintainerRequest:
		return &pb.Message{Body: &pb.Message_AddMaintainerRequest{AddMaintainerRequest: b}}
	case *pb.RemoveMaintainerRequest:
		return &pb.Message{Body: &pb.Message_RemoveMaintainerRequest{RemoveMaintainerRequest: b}}
	case *pb.MaintainerHeartbeat:
		return &pb.Message{Body: &pb.Message_MaintainerHeartbeat{MaintainerHeartbeat: b}}
	case *pb.MaintainerBootstrapRequest:
		return &pb.Message{Body: &pb.Message_MaintainerBootstrapRequest{MaintainerBootstrapRequest: b}}
	case *pb.MaintainerBootstrapResponse:
		return &pb.Message{Body: &pb.Message_MaintainerBootstrapResponse{MaintainerBootstrapResponse: b}}
	case *pb.MaintainerPostBootstrapRequest:
		return &pb.Message{Body: &pb.Message_MaintainerPostBootstrapRequest{MaintainerPostBootstrapRequest: b}}
	case *pb.MaintainerPostBootstrapResponse:
		return &pb.Message{Body: &pb.Message_MaintainerPostBootstrapResponse{MaintainerPostBootstrapResponse: b}}
	case *pb.MaintainerCloseRequest:
		return &pb.Message{Body: &pb.Message_MaintainerCloseRequest{MaintainerCloseRequest: b}}
	case *pb.MaintainerCloseResponse:
		return &pb.Message{Body: &pb.Message_MaintainerCloseResponse{MaintainerCloseResponse: b}}
	case *pb.HeartBeatRequest:
		return &pb.Message{Body: &pb.Message_HeartBeatRequest{HeartBeatRequest: b}}
	case *pb.HeartBeatResponse:
		return &pb.Message{Body: &pb.Message_HeartBeatResponse{HeartBeatResponse: b}}
	case *pb.ScheduleDispatcherRequest:
		return &pb.Message{Body: &pb.Message_ScheduleDispatcherRequest{ScheduleDispatcherRequest: b}}
	case *pb.CheckpointTsMessage:
		return &pb.Message{Body: &pb.Message_CheckpointTsMessage{CheckpointTsMessage: b}}
	default:
		panic(fmt.Sprintf("roles: Wrap of %T", body)) // programming error, never input
	}
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
	kind := Kind(m)
	if kind == "" {
		return "", fmt.Errorf("%w: empty or unknown payload", ErrBadPayload)
	}
	if want := TopicOf(m); want != topic && (kind != "CheckpointTsMessage" || topic != TopicHeartbeatCollector) {
		// NB: CheckpointTsMessage is the one kind on two topics: coordinator
		// to maintainer, then maintainer to its local dispatcher manager.
		return kind, fmt.Errorf("%w: %s belongs on topic %q", ErrBadPayload, kind, want)
	}
	if err := checkFields(m); err != nil {
		return kind, fmt.Errorf("%w: %s: %v", ErrBadPayload, kind, err)
	}
	return kind, nil
}

var errNoChangefeed = errors.New("no changefeed id")

func checkFields(m *pb.Message) error {
	switch b := m.GetBody().(type) {
	case *pb.Message_CoordinatorBootstrapRequest:
		return nil
	case *pb.Message_CoordinatorBootstrapResponse:
		return checkStatuses(b.CoordinatorBootstrapResponse.GetStatuses())
	case *pb.Message_MaintainerHeartbeat:
		return checkStatuses(b.MaintainerHeartbeat.GetStatuses())
	case *pb.Message_MaintainerBootstrapResponse:
		r := b.MaintainerBootstrapResponse
		if r.GetChangefeedId() == "" {
			return errNoChangefeed
		}
		for _, s := range r.GetSpans() {
			if s.GetDispatcherId() == "" || s.GetSpan() == nil {
				return errors.New("span without dispatcher id or range")
			}
		}
		return nil
	case *pb.Message_HeartBeatRequest:
		r := b.HeartBeatRequest
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
	case *pb.Message_ScheduleDispatcherRequest:
		r := b.ScheduleDispatcherRequest
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
	type hasChangefeed interface{ GetChangefeedId() string }
	for _, v := range []any{
		m.GetAddMaintainerRequest(), m.GetRemoveMaintainerRequest(), m.GetMaintainerBootstrapRequest(),
		m.GetMaintainerPostBootstrapRequest(), m.GetMaintainerPostBootstrapResponse(),
		m.GetMaintainerCloseRequest(), m.GetMaintainerCloseResponse(), m.GetHeartBeatResponse(),
		m.GetCheckpointTsMessage(),
	} {
		if h, ok := v.(hasChangefeed); ok && !isNil(h) {
			if h.GetChangefeedId() == "" {
				return errNoChangefeed
			}
			return nil
		}
	}
	return errors.New("empty body")
}

func isNil(v any) bool {
	if p, ok := v.(proto.Message); ok {
		return p == nil || !p.ProtoReflect().IsValid()
	}
	return v == nil
}

func checkStatuses(sts []*pb.MaintainerStatus) error {
	for _, s := range sts {
		if s.GetChangefeedId() == "" {
			return fmt.Errorf("status: %w", errNoChangefeed)
		}
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
