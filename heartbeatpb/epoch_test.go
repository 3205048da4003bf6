package heartbeatpb

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// epochExempt are the payloads that carry no maintainer_epoch of their own,
// with the field that stands in for it: the coordinator bootstrap request is
// fenced by the coordinator version, and the other two carry a
// MaintainerStatus per maintainer, each with its own epoch.
var epochExempt = map[protoreflect.Name]protoreflect.Name{
	"CoordinatorBootstrapRequest":  "version",
	"CoordinatorBootstrapResponse": "statuses",
	"MaintainerHeartbeat":          "statuses",
}

// TestEveryPayloadCarriesMaintainerEpoch walks the Message oneof and checks
// that every payload type (every control message, every response, the
// heartbeat request and the checkpoint message) has a uint64
// maintainer_epoch field, so every receiver can fence stale generations.
func TestEveryPayloadCarriesMaintainerEpoch(t *testing.T) {
	body := (&Message{}).ProtoReflect().Descriptor().Oneofs().ByName("body")
	require.NotNil(t, body, "Message has a oneof body")
	fields := body.Fields()
	require.Positive(t, fields.Len())

	seenExempt := map[protoreflect.Name]bool{}
	for i := range fields.Len() {
		f := fields.Get(i)
		require.Equalf(t, protoreflect.MessageKind, f.Kind(), "payload %s is a message", f.Name())
		md := f.Message()
		if stand, ok := epochExempt[md.Name()]; ok {
			seenExempt[md.Name()] = true
			sf := md.Fields().ByName(stand)
			if assert.NotNilf(t, sf, "%s has %s", md.Name(), stand) && stand == "statuses" {
				assert.Truef(t, sf.IsList(), "%s.statuses is repeated", md.Name())
				assert.Equal(t, protoreflect.Name("MaintainerStatus"), sf.Message().Name())
			}
			continue
		}
		ef := md.Fields().ByName("maintainer_epoch")
		if assert.NotNilf(t, ef, "%s (oneof field %s) has no maintainer_epoch", md.Name(), f.Name()) {
			assert.Equalf(t, protoreflect.Uint64Kind, ef.Kind(), "%s.maintainer_epoch is uint64", md.Name())
			assert.Falsef(t, ef.IsList(), "%s.maintainer_epoch is a scalar", md.Name())
		}
	}
	assert.Len(t, seenExempt, len(epochExempt), "every exemption names a payload of the oneof")

	// The statuses the exemptions rely on carry the epoch themselves.
	st := (&MaintainerStatus{}).ProtoReflect().Descriptor().Fields().ByName("maintainer_epoch")
	require.NotNil(t, st)
	assert.Equal(t, protoreflect.Uint64Kind, st.Kind())
}
