package scenario

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/chaosrun/chaosrun/reports/result"
)

// TestDiscriminatedAgainstDeclaration judges comparisons against what the
// scenario declares for each arm.
func TestDiscriminatedAgainstDeclaration(t *testing.T) {
	arm := func(name string, o result.Outcome) Arm {
		return Arm{Name: name, Run: RunSummary{Verdict: result.Verdict{Outcome: o}}}
	}
	bite := Expect{On: ExpectPass, Off: ExpectFail}
	quiet := Expect{On: ExpectPass, Off: ExpectPass, Reason: "nothing in flight"}
	race := Expect{On: ExpectPass, Off: ExpectEither, Reason: "a race the plan does not decide"}
	cases := []struct {
		name   string
		expect Expect
		arms   []Arm
		want   bool
	}{
		{"off flagged, on passed", bite, []Arm{arm("epoch", result.Pass), arm("off", result.Fail)}, true},
		{"off not flagged", bite, []Arm{arm("epoch", result.Pass), arm("off", result.Pass)}, false},
		{"on failed", bite, []Arm{arm("epoch", result.Fail), arm("off", result.Fail)}, false},
		{"self-fence arm must pass too", bite, []Arm{arm("epoch", result.Pass), arm("off", result.Fail), arm("epoch+self-fence", result.Fail)}, false},
		{"inconclusive off is not a flag", bite, []Arm{arm("epoch", result.Pass), arm("off", result.Inconclusive)}, false},
		{"declared off pass, met", quiet, []Arm{arm("epoch", result.Pass), arm("off", result.Pass)}, true},
		{"declared off pass, but flagged", quiet, []Arm{arm("epoch", result.Pass), arm("off", result.Fail)}, false},
		{"no off arm", bite, []Arm{arm("epoch", result.Pass)}, false},
		{"either: flagged", race, []Arm{arm("epoch", result.Pass), arm("off", result.Fail)}, true},
		{"either: not flagged", race, []Arm{arm("epoch", result.Pass), arm("off", result.Pass)}, true},
		{"either: inconclusive is no verdict", race, []Arm{arm("epoch", result.Pass), arm("off", result.Inconclusive)}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, Discriminated(c.expect, c.arms))
		})
	}
}

// TestExpectValidation refuses unknown verdicts and an unexplained
// "off: pass".
func TestExpectValidation(t *testing.T) {
	sc, ok := Lookup("owner-isolation")
	assert.True(t, ok)
	sc.Expect = Expect{On: "pass", Off: "maybe"}
	assert.ErrorContains(t, sc.Validate(), `expect.off: "maybe": want fail, pass or either`)
	sc.Expect = Expect{On: "either", Off: "fail"}
	assert.ErrorContains(t, sc.Validate(), `expect.on: "either": want pass or fail`)
	sc.Expect = Expect{On: "pass", Off: "either"}
	assert.ErrorContains(t, sc.Validate(), "expect.reason: required when fencing off is expected to either")
	sc.Expect = Expect{On: "pass", Off: "pass"}
	assert.ErrorContains(t, sc.Validate(), "expect.reason: required when fencing off is expected to pass")
	sc.Expect.Reason = "nothing is in flight when the generation is superseded"
	assert.NoError(t, sc.Validate())
}

// TestExpectPerBackend applies a backend's own declaration and validates it.
func TestExpectPerBackend(t *testing.T) {
	e := Expect{On: "pass", Off: "pass", Reason: "nothing in flight",
		Backends: []BackendExpect{{Backend: "toxiproxy", Off: "fail", Reason: "a hold delivers the new generation's bootstrap first"}}}
	assert.Equal(t, Expect{On: "pass", Off: "pass", Reason: "nothing in flight"}, e.ForBackend("netns"))
	assert.Equal(t, Expect{On: "pass", Off: "fail", Reason: "a hold delivers the new generation's bootstrap first"}, e.ForBackend("toxiproxy"))
	assert.True(t, e.Same(e))
	assert.False(t, e.Same(e.ForBackend("netns")))

	sc, ok := Lookup("stale-bootstrap-in-flight")
	assert.True(t, ok)
	sc.Expect.Backends = []BackendExpect{{Backend: "tc", Off: "maybe"}, {Backend: "tc", Off: "pass", Reason: "x"}}
	err := sc.Validate()
	assert.ErrorContains(t, err, `expect.backends[0].backend: "tc": want netns or toxiproxy`)
	assert.ErrorContains(t, err, `expect.backends[0].off: "maybe": want fail, pass or either`)
	assert.ErrorContains(t, err, "expect.backends[0].reason: required")
}

// TestExpectYAML reads per-backend declarations from a scenario file.
func TestExpectYAML(t *testing.T) {
	sc, err := Parse([]byte(`name: x
faults:
  - kind: isolate
    target: owner
    links: [peers]
    at: 3s
    duration: 5s
expect:
  off: pass
  reason: nothing in flight
  backends:
    - backend: toxiproxy
      off: fail
      reason: a hold delivers the new generation's message first
`))
	assert.NoError(t, err)
	assert.Equal(t, "fail", sc.Expect.ForBackend("toxiproxy").Off)
	assert.Equal(t, "pass", sc.Expect.ForBackend("netns").Off)
}
