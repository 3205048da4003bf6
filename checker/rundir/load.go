package rundir

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/chaosrun/chaosrun/checker"
	"github.com/chaosrun/chaosrun/evidence"
)

// LoadGrants reads the epoch history (evidence.EpochsFile). ok is false when the
// file does not exist.
func LoadGrants(dir string) (grants []checker.EpochGrant, ok bool, err error) {
	var recs []evidence.Epoch
	if ok, err = readJSON(filepath.Join(dir, evidence.EpochsFile), &recs); !ok || err != nil {
		return nil, ok, err
	}
	return Grants(recs), true, nil
}

// LoadFaults reads the fault timeline (FaultsFile). ok is false when the
// file does not exist.
func LoadFaults(dir string) (faults []checker.FaultEvent, ok bool, err error) {
	ok, err = readJSON(filepath.Join(dir, FaultsFile), &faults)
	return faults, ok, err
}

// LoadOffsets reads the tailer's drain account (SinkOffsetsFile). ok is
// false when the file does not exist.
func LoadOffsets(dir string) (o SinkOffsets, ok bool, err error) {
	ok, err = readJSON(filepath.Join(dir, SinkOffsetsFile), &o)
	return o, ok, err
}

// LoadWriters reads the tailer's writer scan (SinkWritersFile). ok is
// false when the file does not exist.
func LoadWriters(dir string) (w SinkWriters, ok bool, err error) {
	ok, err = readJSON(filepath.Join(dir, SinkWritersFile), &w)
	return w, ok, err
}

// LoadDecisions reads every node's decision log (evidence.DecisionsGlob), sorted by
// time. Lines that do not parse (a node killed mid-write) are skipped, as
// evidence.ReadDecisions does.
func LoadDecisions(dir string) ([]checker.DecisionEntry, error) {
	paths, err := filepath.Glob(filepath.Join(dir, evidence.DecisionsGlob))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	slices.Sort(paths)
	var out []checker.DecisionEntry
	for _, p := range paths {
		es, err := evidence.ReadDecisions(p)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInput, filepath.Base(p), err)
		}
		out = append(out, Decisions(es)...)
	}
	slices.SortStableFunc(out, func(a, b checker.DecisionEntry) int { return a.Time.Compare(b.Time) })
	return out, nil
}

// LoadMalformed reads the records that did not decode (SinkMalformedFile);
// none when the file does not exist.
func LoadMalformed(dir string) ([]Malformed, error) {
	f, err := os.Open(filepath.Join(dir, SinkMalformedFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	defer f.Close()
	r, _, err := completeLines(f)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInput, SinkMalformedFile, err)
	}
	out, err := checker.LoadJSONL[Malformed](r)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInput, SinkMalformedFile, err)
	}
	slices.SortStableFunc(out, func(a, b Malformed) int { return a.AppendTime.Compare(b.AppendTime) })
	return out, nil
}

// readJSON decodes the JSON file at path into v; ok is false when the file
// does not exist.
func readJSON(path string, v any) (ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrInput, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return true, fmt.Errorf("%w: %s: %w", ErrInput, filepath.Base(path), err)
	}
	return true, nil
}

// completeLines returns a reader of f's complete lines: everything up to
// and including the last newline. A process killed mid-write leaves a torn
// last line without one; torn reports whether there was such a tail. As
// the upstream's own reader does, a tail is dropped even when it happens to
// be valid JSON: only the newline marks a line as completely written.
func completeLines(f *os.File) (r io.Reader, torn bool, err error) {
	st, err := f.Stat()
	if err != nil {
		return nil, false, err
	}
	size := st.Size()
	const chunk = 64 << 10
	buf := make([]byte, chunk)
	end := size
	for end > 0 {
		start := max(0, end-chunk)
		n, err := f.ReadAt(buf[:end-start], start)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, false, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			keep := start + int64(i) + 1
			return io.NewSectionReader(f, 0, keep), keep < size, nil
		}
		end = start
	}
	// No newline at all: the whole file is one torn line (or empty).
	return io.NewSectionReader(f, 0, 0), size > 0, nil
}

// sortFaults orders a fault timeline by inject time.
func sortFaults(fs []checker.FaultEvent) {
	slices.SortStableFunc(fs, func(a, b checker.FaultEvent) int {
		return cmp.Or(a.Inject.Compare(b.Inject), cmp.Compare(a.ID, b.ID))
	})
}
