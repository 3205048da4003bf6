package reports

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/chaosrun/chaosrun/reports/result"
)

// renderJUnit renders r as junit.xml: one test suite for the run, one test case per
// invariant. A violated invariant is a failure whose message is its summary
// and whose body lists the examples; a skipped one is skipped. The verdict
// and its reasons (an inconclusive run has no failing case of its own) are
// suite properties and system-out; the exit code carries the verdict too.
func renderJUnit(w io.Writer, r *result.Result) error {
	suiteName := "chaosrun." + orDash(r.Scenario)
	suite := junitSuite{
		Name:      suiteName,
		Timestamp: r.Timings.Start.Format("2006-01-02T15:04:05"),
		Time:      seconds(r.Timings.DurationMs),
		Properties: []junitProperty{
			{Name: "scenario", Value: r.Scenario},
			{Name: "seed", Value: fmt.Sprint(r.Seed)},
			{Name: "fencing_mode", Value: r.FencingMode},
			{Name: "changefeed", Value: r.Changefeed},
			{Name: "verdict", Value: string(r.Verdict.Outcome)},
			{Name: "schema_version", Value: fmt.Sprint(r.SchemaVersion)},
			{Name: "disclaimer", Value: r.Disclaimer},
		},
	}
	for _, inv := range r.Invariants {
		tc := junitCase{Name: inv.Name, ClassName: suiteName + "." + string(inv.Class), Time: "0"}
		switch inv.Status {
		case result.StatusFail:
			suite.Failures++
			vl := newViolationList(inv)
			var body strings.Builder
			for _, ex := range vl.Examples {
				fmt.Fprintf(&body, "%s %s: %s\n", ex.At, ex.Kind, ex.Message)
			}
			if vl.More != "" {
				fmt.Fprintln(&body, vl.More)
			}
			tc.Failure = &junitMessage{Message: inv.Summary, Type: inv.Name, Text: body.String()}
		case result.StatusSkipped:
			suite.Skipped++
			tc.Skipped = &junitMessage{Message: inv.Summary}
		default:
			tc.SystemOut = cdata(inv.Summary)
		}
		suite.Cases = append(suite.Cases, tc)
	}
	suite.Tests = len(suite.Cases)
	var out strings.Builder
	fmt.Fprintf(&out, "verdict: %s\n", verdictLine(r))
	for _, reason := range r.Verdict.Reasons {
		fmt.Fprintf(&out, "reason: %s\n", reason)
	}
	suite.SystemOut = cdata(out.String())
	doc := junitSuites{Name: "chaosrun", Tests: suite.Tests, Failures: suite.Failures, Skipped: suite.Skipped,
		Time: suite.Time, Suites: []junitSuite{suite}}

	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("reports: render junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func seconds(ms int64) string { return fmt.Sprintf("%d.%03d", ms/1000, ms%1000) }

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Timestamp  string          `xml:"timestamp,attr"`
	Time       string          `xml:"time,attr"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  *junitText      `xml:"system-out,omitempty"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut *junitText    `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",cdata"`
}

// junitText is element text kept readable (newlines and all) as CDATA.
type junitText struct {
	Text string `xml:",cdata"`
}

func cdata(s string) *junitText {
	if s == "" {
		return nil
	}
	return &junitText{Text: s}
}
