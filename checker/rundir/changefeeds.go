package rundir

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/chaosrun/chaosrun/checker"
	"github.com/chaosrun/chaosrun/evidence"
	"github.com/chaosrun/chaosrun/reports/result"
)

// ChangefeedsDir holds, in a run of several changefeeds, a directory per
// changefeed after the first, named after it, with that changefeed's sink
// files, result.json and reports. The first changefeed's are in the run
// directory itself, as in a run of one.
const ChangefeedsDir = "changefeeds"

// ChangefeedDir is the directory of changefeed cf (not the first) in the
// run directory dir.
func ChangefeedDir(dir, cf string) string { return filepath.Join(dir, ChangefeedsDir, cf) }

// Changefeed is the check of one changefeed after the first.
type Changefeed struct {
	// Dir is its directory (ChangefeedDir).
	Dir    string
	Result *result.Result
}

// CheckRun checks every changefeed of the run in dir: the first as
// CheckRunDir does, then each under ChangefeedsDir the same way but as its
// own changefeed, against the same upstream history, faults and epoch
// history. The first's Result comes back with the others folded in
// (result.Result.AddChangefeed): the run passes only if every changefeed
// does.
func CheckRun(dir string, slos checker.SLOs, info Info) (*result.Result, []Changefeed, error) {
	others, err := otherChangefeeds(dir)
	if err != nil {
		return nil, nil, err
	}
	if info.Changefeed == "" && len(others) > 0 {
		if info.Changefeed, err = firstChangefeed(dir, others); err != nil {
			return nil, nil, err
		}
	}
	res, err := CheckRunDir(dir, slos, info)
	if err != nil {
		return nil, nil, err
	}
	var subs []Changefeed
	for _, cf := range others {
		si := info
		si.Changefeed, si.SinkDir, si.Partitions = cf, ChangefeedDir(dir, cf), 0
		sub, err := CheckRunDir(dir, slos, si)
		if err != nil {
			return nil, nil, fmt.Errorf("changefeed %s: %w", cf, err)
		}
		res.AddChangefeed(filepath.Join(ChangefeedsDir, cf), sub, checker.Decide)
		subs = append(subs, Changefeed{Dir: si.SinkDir, Result: sub})
	}
	return res, subs, nil
}

// otherChangefeeds lists the changefeeds under ChangefeedsDir, cf.2 before
// cf.10.
func otherChangefeeds(dir string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(dir, ChangefeedsDir))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(cmp.Compare(len(a), len(b)), cmp.Compare(a, b)) })
	return names, nil
}

// firstChangefeed is the one changefeed of the epoch history that has no
// directory of its own.
func firstChangefeed(dir string, others []string) (string, error) {
	grants, _, err := LoadGrants(dir)
	if err != nil {
		return "", err
	}
	var first []string
	for _, g := range grants {
		if g.Changefeed != "" && !slices.Contains(others, g.Changefeed) && !slices.Contains(first, g.Changefeed) {
			first = append(first, g.Changefeed)
		}
	}
	if len(first) != 1 {
		return "", fmt.Errorf("%w: %s names %d changefeeds besides those under %s (%v); say which is the run's first",
			checker.ErrConfig, evidence.EpochsFile, len(first), ChangefeedsDir, first)
	}
	return first[0], nil
}
