package checker

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/chaosrun/chaosrun/reports/result"
)

// violations counts the violations of one invariant (or the inconsistencies
// of the input) and keeps the first few as examples, in the order found.
type violations struct {
	limit    int
	count    int64
	examples []example
}

// example is one violation as found.
type example struct {
	kind    string
	atMs    int64 // Unix ms
	message string
}

func (v *violations) add(kind string, atMs int64, format string, args ...any) {
	v.addN(1, kind, atMs, format, args...)
}

// addN counts n violations under one example.
func (v *violations) addN(n int64, kind string, atMs int64, format string, args ...any) {
	v.count += n
	if len(v.examples) < v.limit {
		v.examples = append(v.examples, example{kind: kind, atMs: atMs, message: fmt.Sprintf(format, args...)})
	}
}

// invariant reports the violations as invariant name: failed when there is
// any, passed otherwise. Example times are relative to startMs.
func (v *violations) invariant(name string, class result.Class, summary string, startMs int64) result.Invariant {
	inv := result.Invariant{Name: name, Class: class, Status: result.StatusPass, Summary: summary, Violations: v.count}
	if v.count > 0 {
		inv.Status = result.StatusFail
	}
	for _, x := range v.examples {
		inv.Examples = append(inv.Examples, result.Example{Kind: x.kind, AtMs: x.atMs - startMs, Message: x.message})
	}
	slices.SortStableFunc(inv.Examples, func(a, b result.Example) int { return cmp.Compare(a.AtMs, b.AtMs) })
	return inv
}

// skipUnlessFailed marks a passed invariant as skipped, for why.
func skipUnlessFailed(inv result.Invariant, why string) result.Invariant {
	if inv.Status == result.StatusPass {
		inv.Status, inv.Summary = result.StatusSkipped, why
	}
	return inv
}
