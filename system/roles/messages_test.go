package roles

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/chaosrun/chaosrun/heartbeatpb"
)

// TestKindsCoverTheBody keeps the kinds table and heartbeatpb.Message's body
// in step: every body message has exactly one entry, with a topic.
func TestKindsCoverTheBody(t *testing.T) {
	fields := bodyOneof.Fields()
	names := map[protoreflect.Name]bool{}
	for i := range fields.Len() {
		name := fields.Get(i).Message().Name()
		names[name] = true
		k, ok := kinds[name]
		if assert.True(t, ok, "%s has no line in kinds", name) {
			assert.NotEmpty(t, k.topic, "%s has no topic", name)
		}
	}
	for name := range kinds {
		assert.True(t, names[name], "kinds lists %s, which the body does not carry", name)
	}
}

// TestWrapRoundTrip wraps one message of every kind: Body gives it back,
// Kind names it, and the payload passes its own topic's checks.
func TestWrapRoundTrip(t *testing.T) {
	span := &pb.TableSpan{TableId: 1}
	bodies := []proto.Message{
		&pb.CoordinatorBootstrapRequest{Version: 1},
		&pb.CoordinatorBootstrapResponse{Version: 1},
		&pb.AddMaintainerRequest{ChangefeedId: "cf1"},
		&pb.RemoveMaintainerRequest{ChangefeedId: "cf1"},
		&pb.MaintainerHeartbeat{},
		&pb.MaintainerBootstrapRequest{ChangefeedId: "cf1"},
		&pb.MaintainerBootstrapResponse{ChangefeedId: "cf1", Spans: []*pb.BootstrapTableSpan{{DispatcherId: "d", Span: span}}},
		&pb.MaintainerPostBootstrapRequest{ChangefeedId: "cf1"},
		&pb.MaintainerPostBootstrapResponse{ChangefeedId: "cf1"},
		&pb.MaintainerCloseRequest{ChangefeedId: "cf1"},
		&pb.MaintainerCloseResponse{ChangefeedId: "cf1"},
		&pb.HeartBeatRequest{ChangefeedId: "cf1", Watermark: &pb.Watermark{}},
		&pb.HeartBeatResponse{ChangefeedId: "cf1"},
		&pb.ScheduleDispatcherRequest{ChangefeedId: "cf1", Config: &pb.DispatcherConfig{DispatcherId: "d", Span: span},
			ScheduleAction: pb.ScheduleAction_SCHEDULE_ACTION_CREATE},
		&pb.CheckpointTsMessage{ChangefeedId: "cf1"},
	}
	require.Len(t, bodies, len(kinds), "one message per kind")
	for _, body := range bodies {
		name := string(body.ProtoReflect().Descriptor().Name())
		t.Run(name, func(t *testing.T) {
			m := Wrap(body)
			assert.Same(t, body, Body(m))
			assert.Equal(t, name, Kind(m))
			got, err := checkPayload(m, TopicOf(m))
			require.NoError(t, err)
			assert.Equal(t, name, got)
		})
	}
	assert.Panics(t, func() { Wrap(&pb.Envelope{}) }, "an envelope is no payload")
}

// TestEmptyPayload: a payload without a body has no kind, no topic and no
// body, and is refused.
func TestEmptyPayload(t *testing.T) {
	m := &pb.Message{}
	assert.Empty(t, Kind(m))
	assert.Empty(t, TopicOf(m))
	assert.Nil(t, Body(m))
	_, err := checkPayload(m, TopicCoordinator)
	require.ErrorIs(t, err, ErrBadPayload)
}
