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
		return Arm{Name: name, Outcome: Outcome{Verdict: result.Verdict{Outcome: o}}}
	}
	bite := Expect{On: ExpectPass, Off: ExpectFail}
	quiet := Expect{On: ExpectPass, Off: ExpectPass, Reason: "nothing in flight"}
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
	assert.ErrorContains(t, sc.Validate(), `expect.off: "maybe": want pass or fail`)
	sc.Expect = Expect{On: "pass", Off: "pass"}
	assert.ErrorContains(t, sc.Validate(), "expect.reason: required when fencing off is expected to pass")
	sc.Expect.Reason = "nothing is in flight when the generation is superseded"
	assert.NoError(t, sc.Validate())
}
