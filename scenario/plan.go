package scenario

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// Disclaimer says what a seed does and does not fix; reports print it.
const Disclaimer = "The fault plan replays exactly from its seed; the run itself is not deterministic (process scheduling, network timing and Kafka batching differ between runs)."

// PlanFile is the plan's file name in a run directory.
const PlanFile = "plan.json"

// PlanVersion is the version of the plan format this package writes and
// reads.
const PlanVersion = 1

// Plan is a scenario's fault plan made concrete by a seed: every range
// picked and every repetition unrolled. It is saved as <run>/plan.json and
// replays exactly; the run itself does not (see Disclaimer).
type Plan struct {
	// Version is PlanVersion.
	Version int `yaml:"version"`
	// Seed is the seed the steps were drawn with; Scenario.Seed equals it.
	Seed int64 `yaml:"seed"`
	// Disclaimer is the Disclaimer, for whoever reads plan.json.
	Disclaimer string `yaml:"disclaimer"`
	// Steps are the concrete faults in time order; nil for a run without
	// faults.
	Steps []Step `yaml:"steps"`
	// Scenario is the scenario the plan came from, defaults filled in.
	Scenario Scenario `yaml:"scenario"`
}

// Step is one concrete fault: the runner resolves Target when it fires at
// At, holds it for Duration, then heals.
type Step struct {
	// ID names the fault in the run: "f1", "f2", ... in time order.
	ID string `yaml:"id"`
	// Fault is the index of the scenario fault step it comes from.
	Fault int `yaml:"fault"`
	// Occurrence counts the repetitions of that fault step from 0.
	Occurrence int `yaml:"occurrence"`
	// At is the inject time, from the end of the steady-state gate.
	At time.Duration `yaml:"at"`
	// Duration is how long the fault holds before it heals.
	Duration time.Duration `yaml:"duration"`
	// Kind, Target, Links, Delay, Loss, Restart and Backend are the fault
	// step's.
	Kind    Kind          `yaml:"kind"`
	Target  string        `yaml:"target"`
	Links   []string      `yaml:"links,omitempty,flow"`
	Delay   time.Duration `yaml:"delay,omitempty"`
	Loss    float64       `yaml:"loss,omitempty"`
	Restart string        `yaml:"restart,omitempty"`
	Backend string        `yaml:"backend,omitempty"`
}

// WithChangefeed returns the plan with its scenario's changefeeds renamed
// after cf (Scenario.WithChangefeed) and its steps aimed as the renamed
// scenario's faults are: the same faults at the same times, so two runs of
// one plan can share a Kafka cluster, each with topics of its own.
func (p Plan) WithChangefeed(cf string) Plan {
	rename := p.Scenario.changefeedRenamer(cf)
	p.Steps = slices.Clone(p.Steps)
	for i := range p.Steps {
		p.Steps[i].Target = rename(p.Steps[i].Target)
	}
	p.Scenario = p.Scenario.WithChangefeed(cf)
	return p
}

// Heal returns the heal time, from the end of the steady-state gate.
func (s Step) Heal() time.Duration { return s.At + s.Duration }

// End returns the last heal time of the plan (0 without steps).
func (p Plan) End() time.Duration {
	var end time.Duration
	for _, s := range p.Steps {
		end = max(end, s.Heal())
	}
	return end
}

// Plan expands s (defaults filled in, Seed set to seed) into a concrete
// plan. Fault step i draws its times from a PCG generator seeded with
// (seed, i), in order: At, then for each occurrence Every (from the second
// on) and Duration; a fixed range draws nothing. So the same scenario and
// seed always give the same plan, and editing one step leaves the draws of
// the others alone. An invalid s returns its *ValidationError.
func (s Scenario) Plan(seed int64) (Plan, error) {
	s = s.WithDefaults()
	s.Seed = seed
	if err := s.Validate(); err != nil {
		return Plan{}, err
	}
	var steps []Step
	for i, f := range s.Faults {
		rng := rand.New(rand.NewPCG(uint64(seed), uint64(i)))
		at := f.At.pick(rng)
		for k := range f.occurrences() {
			if k > 0 {
				at += f.Repeat.Every.pick(rng)
			}
			steps = append(steps, Step{
				Fault: i, Occurrence: k,
				At: at, Duration: f.Duration.pick(rng),
				Kind: f.Kind, Target: f.Target, Links: slices.Clone(f.Links), Delay: f.Delay, Loss: f.Loss,
				Restart: f.Restart, Backend: f.Backend,
			})
		}
	}
	// Steps were appended in (fault, occurrence) order, which a stable sort
	// keeps among steps that fire at the same time.
	slices.SortStableFunc(steps, func(a, b Step) int { return cmp.Compare(a.At, b.At) })
	for i := range steps {
		steps[i].ID = "f" + strconv.Itoa(i+1)
	}
	p := Plan{Version: PlanVersion, Seed: seed, Disclaimer: Disclaimer, Steps: steps, Scenario: s}
	if err := p.Validate(); err != nil {
		// NB: Validate promises that every seed expands into a valid plan;
		// reaching this is a bug in this package.
		return Plan{}, fmt.Errorf("scenario: plan of %s with seed %d: %w", s.Name, seed, err)
	}
	return p, nil
}

var stepIDPattern = regexp.MustCompile(`^[a-z0-9-]{1,16}$`)

// Validate returns nil or a *ValidationError listing every problem of p:
// its scenario's (under "scenario."), and its steps' (under "steps[i]."):
// the same rules as the scenario's fault steps, applied to concrete times.
// Plans edited by hand are welcome as long as they validate.
func (p Plan) Validate() error {
	var ps problems
	if p.Version != PlanVersion {
		ps.add("version", "%d: want %d", p.Version, PlanVersion)
	}
	s := p.Scenario.WithDefaults()
	s.check(&ps, "scenario", true)
	if p.Seed != s.Seed {
		ps.add("seed", "%d differs from scenario.seed %d", p.Seed, s.Seed)
	}
	ids := map[string]int{}
	for i, st := range p.Steps {
		path := indexPath("steps", i)
		if !stepIDPattern.MatchString(st.ID) {
			ps.add(fieldPath(path, "id"), "%q: want 1-16 of [a-z0-9-]", st.ID)
		} else if j, dup := ids[st.ID]; dup {
			ps.add(fieldPath(path, "id"), "%q is also the id of steps[%d]", st.ID, j)
		} else {
			ids[st.ID] = i
		}
		if st.Fault < 0 || st.Fault >= len(s.Faults) {
			ps.add(fieldPath(path, "fault"), "%d: the scenario has %d fault steps", st.Fault, len(s.Faults))
		}
		if st.Occurrence < 0 {
			ps.add(fieldPath(path, "occurrence"), "%d is negative", st.Occurrence)
		}
		s.checkAction(&ps, path, action{st.Kind, st.Target, st.Links, st.Delay, st.Loss, st.Restart, st.Backend})
		atOK := checkDuration(&ps, fieldPath(path, "at"), st.At, 0, s.Timeout)
		durOK := checkDuration(&ps, fieldPath(path, "duration"), st.Duration, 1, maxDuration)
		if atOK && i > 0 && st.At < p.Steps[i-1].At {
			ps.add(fieldPath(path, "at"), "%v is before steps[%d].at %v (want time order)", st.At, i-1, p.Steps[i-1].At)
		}
		if atOK && durOK && st.Heal() > s.Timeout {
			ps.add(path, "heals at %v, after the run's timeout %v", st.Heal(), s.Timeout)
		}
	}
	for j, b := range p.Steps {
		for i, a := range p.Steps[:j] {
			disjoint := disjointCuts(FaultStep{Kind: a.Kind, Links: a.Links}, FaultStep{Kind: b.Kind, Links: b.Links})
			if a.Target == b.Target && !disjoint && a.At < b.Heal() && b.At < a.Heal() {
				ps.add(fieldPath(indexPath("steps", j), "at"), "overlaps steps[%d] on target %q: %v..%v and %v..%v; a target takes one fault at a time, or network faults of disjoint link sets",
					i, b.Target, b.At, b.Heal(), a.At, a.Heal())
			}
		}
	}
	return ps.err()
}

// MarshalJSON encodes p in its YAML shape (durations as strings), the form
// of plan.json.
func (p Plan) MarshalJSON() ([]byte, error) { return jsonOf(p) }

// UnmarshalJSON decodes plan.json strictly; it does not validate.
func (p *Plan) UnmarshalJSON(data []byte) error {
	var v Plan
	if _, ps, _ := decodeStrict(data, &v); len(ps) > 0 {
		return &ValidationError{Problems: ps}
	}
	*p = v.normalized()
	return nil
}

// MarshalJSON encodes s in its YAML shape (durations as strings).
func (s Step) MarshalJSON() ([]byte, error) { return jsonOf(s) }

// UnmarshalJSON decodes a step strictly.
func (s *Step) UnmarshalJSON(data []byte) error {
	var v Step
	if _, ps, _ := decodeStrict(data, &v); len(ps) > 0 {
		return &ValidationError{Problems: ps}
	}
	if len(v.Links) == 0 {
		v.Links = nil
	}
	*s = v
	return nil
}

// normalized fills in the scenario's defaults and turns empty lists into
// nil, the form Scenario.Plan returns.
func (p Plan) normalized() Plan {
	p.Scenario = p.Scenario.WithDefaults()
	if len(p.Steps) == 0 {
		p.Steps = nil
	}
	p.Steps = slices.Clone(p.Steps)
	for i := range p.Steps {
		if len(p.Steps[i].Links) == 0 {
			p.Steps[i].Links = nil
		}
	}
	return p
}

// ParsePlan decodes and validates a plan.json. Every error is a
// *ValidationError with field paths and lines.
func ParsePlan(data []byte) (Plan, error) {
	var p Plan
	lines, ps, _ := decodeStrict(data, &p)
	if len(ps) > 0 {
		return Plan{}, &ValidationError{Problems: ps}
	}
	p = p.normalized()
	if err := p.Validate(); err != nil {
		return Plan{}, withLines(err, lines)
	}
	return p, nil
}

// SavePlan validates p and writes it to runDir/plan.json (atomically).
func SavePlan(runDir string, p Plan) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("scenario: save plan: %w", err)
	}
	compact, err := p.MarshalJSON()
	if err != nil {
		return fmt.Errorf("scenario: save plan: %w", err)
	}
	var b bytes.Buffer
	if err := json.Indent(&b, compact, "", "  "); err != nil {
		return fmt.Errorf("scenario: save plan: %w", err)
	}
	b.WriteByte('\n')
	path := filepath.Join(runDir, PlanFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("scenario: save plan: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return errors.Join(fmt.Errorf("scenario: save plan: %w", err), os.Remove(tmp))
	}
	return nil
}

// LoadPlan reads and validates a plan file, or the plan.json of a run
// directory (for --plan). A *ValidationError names the file as its Source.
func LoadPlan(path string) (Plan, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, PlanFile)
	}
	data, err := readLimited(path)
	if err != nil {
		return Plan{}, err
	}
	p, err := ParsePlan(data)
	var ve *ValidationError
	if errors.As(err, &ve) {
		ve.Source = path
	}
	return p, err
}
