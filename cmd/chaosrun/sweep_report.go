package main

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/chaosrun/chaosrun/scenario"
)

// Files a sweep writes into its directory.
const (
	sweepJSON = "sweep.json"
	sweepHTML = "sweep.html"
)

// sweepFile is the content of sweep.json: the source of truth is Runs;
// Matrix is derived from them for readers.
type sweepFile struct {
	Runs   []scenario.SweepRun `json:"runs"`
	Matrix []scenario.Cell     `json:"matrix"`
}

// readSweep returns the runs recorded in dir/sweep.json, none if there is
// no such file.
func readSweep(dir string) ([]scenario.SweepRun, error) {
	path := filepath.Join(dir, sweepJSON)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var sf sweepFile
	if err := json.Unmarshal(data, &sf); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return sf.Runs, nil
}

// writeSweep writes dir/sweep.json and dir/sweep.html for runs, each
// atomically, so that an interrupted sweep never leaves a torn file.
func writeSweep(dir string, runs []scenario.SweepRun) error {
	sf := sweepFile{Runs: runs, Matrix: scenario.Matrix(runs)}
	if sf.Runs == nil {
		sf.Runs = []scenario.SweepRun{}
	}
	var data bytes.Buffer
	enc := json.NewEncoder(&data)
	enc.SetEscapeHTML(false) // NB: reasons and errors are read in an editor, not a browser
	enc.SetIndent("", "  ")
	if err := enc.Encode(sf); err != nil {
		return fmt.Errorf("sweep: encode %s: %w", sweepJSON, err)
	}
	if err := writeAtomic(filepath.Join(dir, sweepJSON), data.Bytes()); err != nil {
		return err
	}
	var h bytes.Buffer
	if err := sweepTemplate.Execute(&h, sweepView{Disclaimer: scenario.Disclaimer, Runs: len(runs), Cells: sf.Matrix}); err != nil {
		return fmt.Errorf("sweep: render %s: %w", sweepHTML, err)
	}
	return writeAtomic(filepath.Join(dir, sweepHTML), h.Bytes())
}

// writeAtomic writes data to a temporary file beside path and renames it
// over path.
func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("sweep: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return errors.Join(fmt.Errorf("sweep: write %s: %w", path, err), os.Remove(tmp))
	}
	return nil
}

// sweepView is what sweep.html shows.
type sweepView struct {
	Disclaimer string
	Runs       int
	Cells      []scenario.Cell
}

// Met counts the cells that met their bar.
func (v sweepView) Met() int {
	n := 0
	for _, c := range v.Cells {
		if c.MeetsBar {
			n++
		}
	}
	return n
}

//go:embed sweep.html.tmpl
var sweepTemplateText string

var sweepTemplate = template.Must(template.New(sweepHTML).Funcs(template.FuncMap{
	"ratio": ratio,
	"join":  strings.Join,
	"yesno": yesno,
}).Parse(sweepTemplateText))

// ratio formats an arm's measure; "-" when no run was judged.
func ratio(r *float64) string {
	if r == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", *r)
}

func yesno(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// printMatrix writes the matrix as a plain-text table, then one line per
// scenario and backend: its bar, and the invariants that caught fencing off.
func printMatrix(w io.Writer, cells []scenario.Cell) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tBACKEND\tARM\tRUNS\tPASSED\tFLAGGED\tINCONCLUSIVE\tERRORS\tRATIO\tEXPECTED\tMET")
	for _, c := range cells {
		for _, a := range c.Arms {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s %s\t%s\t%s\n", c.Scenario, c.Backend, a.Arm,
				a.Runs, a.Passed, a.Flagged, a.Inconclusive, a.Errors, a.Measure, ratio(a.Ratio), a.Expected, yesno(a.Met))
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("print matrix: %w", err)
	}
	for _, c := range cells {
		bar := "meets its bar"
		if !c.MeetsBar {
			bar = "misses its bar: " + strings.Join(c.Misses, "; ")
		}
		fmt.Fprintf(w, "%s on %s %s\n", c.Scenario, c.Backend, bar)
		if caught := caughtBy(c); caught != "" {
			fmt.Fprintf(w, "  fencing off caught by: %s\n", caught)
		}
	}
	return nil
}

// caughtBy counts, per invariant, the flagged fencing-off runs it caught,
// in the order the invariants first appear.
func caughtBy(c scenario.Cell) string {
	var (
		names []string
		count = map[string]int{}
	)
	for _, r := range c.Flagged {
		if !strings.HasPrefix(r.Arm, "off") { // the rule Expect.For applies
			continue
		}
		for _, v := range r.Violated {
			if count[v] == 0 {
				names = append(names, v)
			}
			count[v]++
		}
	}
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s ×%d", n, count[n])
	}
	return strings.Join(parts, ", ")
}
