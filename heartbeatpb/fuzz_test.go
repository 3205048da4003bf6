package heartbeatpb

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the committed fuzz seed corpus")

const corpusDir = "testdata/fuzz/FuzzDecodeEnvelope"

var deterministic = proto.MarshalOptions{Deterministic: true}

// FuzzDecodeEnvelope feeds arbitrary bytes to the envelope decoder. Decoding
// must never panic, and an accepted envelope must survive a re-marshal round
// trip unchanged: decode(encode(e)) equals e and encodes to the same bytes.
// The seed corpus under testdata/ holds valid envelopes of every payload
// type, so `go test` runs them as ordinary cases.
//
//	go test ./heartbeatpb -run '^$' -fuzz FuzzDecodeEnvelope -fuzztime 1m
func FuzzDecodeEnvelope(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var env Envelope
		if err := proto.Unmarshal(data, &env); err != nil {
			return // rejected input is fine; a panic is not
		}
		first, err := deterministic.Marshal(&env)
		require.NoError(t, err, "an accepted envelope must marshal")

		var again Envelope
		require.NoError(t, proto.Unmarshal(first, &again), "a marshalled envelope must decode")
		require.True(t, proto.Equal(&env, &again), "round trip changed the envelope")

		second, err := deterministic.Marshal(&again)
		require.NoError(t, err)
		require.Equal(t, first, second, "re-marshal is not stable")
	})
}

// seedEnvelopes are the seed corpus: for every payload type an envelope
// with a zero-valued payload and one with every field set (absurd epochs
// included), plus an empty envelope and a batch of several payloads.
func seedEnvelopes() map[string]*Envelope {
	seeds := map[string]*Envelope{
		"envelope-empty": {},
		"envelope-batch": {
			From: "n2", To: "n1", Topic: "heartbeat-collector", Seq: 7,
			Payloads: []*Message{
				{Body: &Message_HeartBeatRequest{HeartBeatRequest: &HeartBeatRequest{ChangefeedId: "cf", MaintainerEpoch: 2}}},
				{Body: &Message_CheckpointTsMessage{CheckpointTsMessage: &CheckpointTsMessage{ChangefeedId: "cf", CheckpointTs: 10, MaintainerEpoch: 2}}},
				{}, // a payload with no body
			},
		},
	}
	for i, m := range samplePayloads() {
		name := payloadName(m)
		seeds[fmt.Sprintf("%s-full", name)] = &Envelope{
			From: "n1", To: "n2", Topic: "maintainer", Seq: uint64(i + 1),
			Payloads: []*Message{m},
		}
		zero := &Message{}
		zero.ProtoReflect().Set(whichField(m), newZeroPayload(m))
		seeds[fmt.Sprintf("%s-zero", name)] = &Envelope{Payloads: []*Message{zero}}
	}
	return seeds
}

// samplePayloads holds one fully populated payload of every oneof case.
func samplePayloads() []*Message {
	const absurd = ^uint64(0)
	span := &TableSpan{TableId: 42, StartPk: -9, EndPk: 1 << 40}
	status := &MaintainerStatus{
		ChangefeedId: "cf", State: ComponentState_COMPONENT_STATE_WORKING, CheckpointTs: 449_000_000_000_000_001,
		BootstrapDone: true, MaintainerEpoch: 3, Err: "boom",
	}
	return []*Message{
		{Body: &Message_CoordinatorBootstrapRequest{CoordinatorBootstrapRequest: &CoordinatorBootstrapRequest{Version: 1 << 33}}},
		{Body: &Message_CoordinatorBootstrapResponse{CoordinatorBootstrapResponse: &CoordinatorBootstrapResponse{
			Version: 17, Statuses: []*MaintainerStatus{status, {ChangefeedId: "cf2", MaintainerEpoch: absurd}},
		}}},
		{Body: &Message_AddMaintainerRequest{AddMaintainerRequest: &AddMaintainerRequest{
			ChangefeedId: "cf", Config: []byte(`{"sink":"kafka://k:9092/t"}`), CheckpointTs: 5,
			IsNewChangefeed: true, MaintainerEpoch: 4, CoordinatorVersion: 17,
		}}},
		{Body: &Message_RemoveMaintainerRequest{RemoveMaintainerRequest: &RemoveMaintainerRequest{
			ChangefeedId: "cf", Cascade: true, Removed: true, MaintainerEpoch: absurd, CoordinatorVersion: -1,
		}}},
		{Body: &Message_MaintainerHeartbeat{MaintainerHeartbeat: &MaintainerHeartbeat{Statuses: []*MaintainerStatus{status}}}},
		{Body: &Message_MaintainerBootstrapRequest{MaintainerBootstrapRequest: &MaintainerBootstrapRequest{
			ChangefeedId: "cf", Config: []byte{0xff, 0x00}, StartTs: 9, IsNewChangefeed: true, MaintainerEpoch: 4,
		}}},
		{Body: &Message_MaintainerBootstrapResponse{MaintainerBootstrapResponse: &MaintainerBootstrapResponse{
			ChangefeedId: "cf", CheckpointTs: 8, Err: "", MaintainerEpoch: 4,
			Spans: []*BootstrapTableSpan{{DispatcherId: "d1", Span: span, ComponentStatus: ComponentState_COMPONENT_STATE_STOPPED, CheckpointTs: 7}},
		}}},
		{Body: &Message_MaintainerPostBootstrapRequest{MaintainerPostBootstrapRequest: &MaintainerPostBootstrapRequest{ChangefeedId: "cf", MaintainerEpoch: 4}}},
		{Body: &Message_MaintainerPostBootstrapResponse{MaintainerPostBootstrapResponse: &MaintainerPostBootstrapResponse{ChangefeedId: "cf", Err: "trigger mismatch", MaintainerEpoch: 4}}},
		{Body: &Message_MaintainerCloseRequest{MaintainerCloseRequest: &MaintainerCloseRequest{ChangefeedId: "cf", Removed: true, MaintainerEpoch: 1}}},
		{Body: &Message_MaintainerCloseResponse{MaintainerCloseResponse: &MaintainerCloseResponse{ChangefeedId: "cf", Success: true, MaintainerEpoch: 1}}},
		{Body: &Message_HeartBeatRequest{HeartBeatRequest: &HeartBeatRequest{
			ChangefeedId: "cf", Watermark: &Watermark{CheckpointTs: 10, ResolvedTs: 12, Seq: 99},
			Statuses: []*TableSpanStatus{{
				DispatcherId: "d1", Span: span, ComponentStatus: ComponentState_COMPONENT_STATE_WORKING, CheckpointTs: 10, ResolvedTs: 12,
			}},
			CompleteStatus: true, Err: "sink down", MaintainerEpoch: 4,
		}}},
		{Body: &Message_HeartBeatResponse{HeartBeatResponse: &HeartBeatResponse{
			ChangefeedId: "cf", DispatcherStatuses: []*DispatcherStatus{{DispatcherId: "d1", Ack: true}}, MaintainerEpoch: 4,
		}}},
		{Body: &Message_ScheduleDispatcherRequest{ScheduleDispatcherRequest: &ScheduleDispatcherRequest{
			ChangefeedId: "cf", Config: &DispatcherConfig{DispatcherId: "d2", Span: span, StartTs: 3},
			ScheduleAction: ScheduleAction_SCHEDULE_ACTION_CREATE, OperatorType: OperatorType_OPERATOR_TYPE_MOVE, MaintainerEpoch: 4,
		}}},
		{Body: &Message_CheckpointTsMessage{CheckpointTsMessage: &CheckpointTsMessage{ChangefeedId: "cf", CheckpointTs: 11, MaintainerEpoch: 0}}},
	}
}

// whichField returns the oneof field m has set.
func whichField(m *Message) protoreflect.FieldDescriptor {
	r := m.ProtoReflect()
	return r.WhichOneof(r.Descriptor().Oneofs().ByName("body"))
}

func payloadName(m *Message) string {
	if fd := whichField(m); fd != nil {
		return string(fd.Name())
	}
	return "none"
}

func newZeroPayload(m *Message) protoreflect.Value {
	return protoreflect.ValueOfMessage(m.ProtoReflect().Get(whichField(m)).Message().Type().New())
}

// encodeCorpusFile renders data in the `go test fuzz v1` corpus format.
func encodeCorpusFile(data []byte) []byte {
	return fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", data)
}

// decodeCorpusFile parses a one-[]byte corpus file.
func decodeCorpusFile(b []byte) ([]byte, error) {
	rest, ok := bytes.CutPrefix(b, []byte("go test fuzz v1\n"))
	if !ok {
		return nil, fmt.Errorf("missing corpus header")
	}
	line := strings.TrimSpace(string(rest))
	lit, ok := strings.CutPrefix(line, "[]byte(")
	if !ok || !strings.HasSuffix(lit, ")") {
		return nil, fmt.Errorf("want one []byte value, got %q", line)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
	if err != nil {
		return nil, err
	}
	return []byte(s), nil
}

// TestSamplePayloadsCoverOneof keeps the seeds complete: a payload type
// added to the proto must get a sample here.
func TestSamplePayloadsCoverOneof(t *testing.T) {
	fields := (&Message{}).ProtoReflect().Descriptor().Oneofs().ByName("body").Fields()
	seen := map[string]bool{}
	for _, m := range samplePayloads() {
		seen[payloadName(m)] = true
	}
	for i := range fields.Len() {
		assert.Truef(t, seen[string(fields.Get(i).Name())], "no sample payload for %s", fields.Get(i).Name())
	}
	assert.Len(t, seen, fields.Len())
}

// TestFuzzCorpus checks the committed seed corpus: every file decodes to a
// valid envelope, and every payload type is present. With -rewrite it first
// regenerates the corpus from seedEnvelopes.
func TestFuzzCorpus(t *testing.T) {
	if *rewrite {
		require.NoError(t, os.MkdirAll(corpusDir, 0o755))
		old, err := filepath.Glob(filepath.Join(corpusDir, "seed-*"))
		require.NoError(t, err)
		for _, p := range old {
			require.NoError(t, os.Remove(p))
		}
		for name, env := range seedEnvelopes() {
			data, err := deterministic.Marshal(env)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(corpusDir, "seed-"+name), encodeCorpusFile(data), 0o644))
		}
	}

	files, err := filepath.Glob(filepath.Join(corpusDir, "*"))
	require.NoError(t, err)
	sort.Strings(files)
	require.NotEmpty(t, files, "no seed corpus: run go test ./heartbeatpb -run TestFuzzCorpus -rewrite")

	covered := map[string]bool{}
	for _, p := range files {
		raw, err := os.ReadFile(p)
		require.NoError(t, err)
		data, err := decodeCorpusFile(raw)
		require.NoErrorf(t, err, "%s", p)
		if !strings.HasPrefix(filepath.Base(p), "seed-") {
			continue // a crasher the fuzzer found and someone committed: it only has to parse
		}
		var env Envelope
		require.NoErrorf(t, proto.Unmarshal(data, &env), "%s is not a valid envelope", p)
		for _, m := range env.GetPayloads() {
			covered[payloadName(m)] = true
		}
	}
	fields := (&Message{}).ProtoReflect().Descriptor().Oneofs().ByName("body").Fields()
	for i := range fields.Len() {
		assert.Truef(t, covered[string(fields.Get(i).Name())],
			"seed corpus has no %s envelope: run go test ./heartbeatpb -run TestFuzzCorpus -rewrite", fields.Get(i).Name())
	}
}

func TestCorpusFileRoundTrip(t *testing.T) {
	for _, data := range [][]byte{nil, {0}, []byte("\x0a\x02n1\"\xff"), bytes.Repeat([]byte{0x80}, 3)} {
		got, err := decodeCorpusFile(encodeCorpusFile(data))
		require.NoError(t, err)
		assert.Equal(t, string(data), string(got))
	}
	for _, bad := range []string{"", "go test fuzz v1\nstring(\"x\")\n", "go test fuzz v1\n[]byte(\"x)\n", "[]byte(\"x\")\n"} {
		_, err := decodeCorpusFile([]byte(bad))
		assert.Errorf(t, err, "%q", bad)
	}
}
