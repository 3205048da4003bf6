package fencing

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNoPolicyBranchOutsideFencing enforces DESIGN.md §4: nothing outside
// fencing/ may branch on the policy, so the Off negative control differs
// from the Epoch run only in the decisions this package returns.
//
// It parses every non-test .go file of the module outside fencing/ and
// reports each place where fencing.Epoch or fencing.Off (or a
// fencing.Policy(...) conversion) is an operand of == or !=, a switch case,
// or a composite-literal key (a map from policy to behaviour is a branch
// too). Parsing a flag (fencing.ParsePolicy), holding a Policy and passing
// it through, and using a flag as a default value stay allowed.
func TestNoPolicyBranchOutsideFencing(t *testing.T) {
	root, module := moduleRoot(t)
	fencingDir := filepath.Join(root, "fencing")
	fset := token.NewFileSet()
	var violations []string
	parsed := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path == root {
				return nil
			}
			name := d.Name()
			if path == fencingDir || name == "testdata" || name == "vendor" ||
				strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir // a nested module is not ours to police
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		parsed++
		violations = append(violations, policyBranches(fset, f, module+"/fencing")...)
		return nil
	})
	require.NoError(t, err)
	t.Logf("checked %d files under %s", parsed, root)
	assert.Empty(t, violations,
		"only fencing/ may branch on the policy; return a Decision from a rule instead")
}

// moduleRoot returns the module's root directory and module path.
func moduleRoot(t *testing.T) (dir, module string) {
	t.Helper()
	dir, err := filepath.Abs("..")
	require.NoError(t, err)
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return dir, strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	require.NoError(t, sc.Err())
	t.Fatalf("no module line in %s/go.mod", dir)
	return "", ""
}

// policyBranches lists every branch on a fencing policy flag in f, where
// fencingPath is the import path of this package.
func policyBranches(fset *token.FileSet, f *ast.File, fencingPath string) []string {
	var names []string
	var out []string
	report := func(n ast.Node, what string) {
		out = append(out, fmt.Sprintf("%s: %s", fset.Position(n.Pos()), what))
	}
	for _, imp := range f.Imports {
		path, err := strconv.Unquote(imp.Path.Value)
		if err != nil || path != fencingPath {
			continue
		}
		switch {
		case imp.Name == nil:
			names = append(names, "fencing")
		case imp.Name.Name == ".":
			report(imp, "dot import of fencing hides policy flags from this check")
		case imp.Name.Name != "_":
			names = append(names, imp.Name.Name)
		}
	}
	if len(names) == 0 {
		return out
	}
	isPkg := func(e ast.Expr) bool {
		id, ok := e.(*ast.Ident)
		if !ok {
			return false
		}
		for _, n := range names {
			if id.Name == n {
				return true
			}
		}
		return false
	}
	// isFlag reports whether e is fencing.Epoch, fencing.Off or a
	// fencing.Policy(...) conversion.
	var isFlag func(ast.Expr) bool
	isFlag = func(e ast.Expr) bool {
		switch e := e.(type) {
		case *ast.ParenExpr:
			return isFlag(e.X)
		case *ast.SelectorExpr:
			return isPkg(e.X) && (e.Sel.Name == "Epoch" || e.Sel.Name == "Off")
		case *ast.CallExpr:
			sel, ok := e.Fun.(*ast.SelectorExpr)
			return ok && isPkg(sel.X) && sel.Sel.Name == "Policy"
		}
		return false
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.BinaryExpr:
			if (n.Op == token.EQL || n.Op == token.NEQ) && (isFlag(n.X) || isFlag(n.Y)) {
				report(n, "compares a policy flag")
			}
		case *ast.CaseClause:
			for _, e := range n.List {
				if isFlag(e) {
					report(e, "switches on a policy flag")
				}
			}
		case *ast.KeyValueExpr:
			if isFlag(n.Key) {
				report(n, "keys a literal by a policy flag")
			}
		}
		return true
	})
	return out
}

// TestPolicyBranchDetector checks the checker itself on small sources.
func TestPolicyBranchDetector(t *testing.T) {
	const header = "package x\n\nimport (\n\t\"github.com/chaosrun/chaosrun/fencing\"\n\tfc \"github.com/chaosrun/chaosrun/fencing\"\n\t\"example.com/other\"\n)\n\nvar _, _ = fc.Epoch, other.X\n\n"
	cases := []struct {
		name string
		body string
		want int
	}{
		{"compare with Off", "func f(p fencing.Policy) bool { return p == fencing.Off }", 1},
		{"compare reversed, not equal", "func f(p fencing.Policy) bool { return fencing.Epoch != p }", 1},
		{"compare in parentheses", "func f(p fencing.Policy) bool { return p == (fencing.Off) }", 1},
		{"compare with a conversion", "func f(p fencing.Policy) bool { return p == fencing.Policy(1) }", 1},
		{"aliased import", "func f(p fencing.Policy) bool { return p != fc.Off }", 1},
		{"switch on the policy", "func f(p fencing.Policy) { switch p { case fencing.Epoch: } }", 1},
		{"switch with both flags", "func f(p fencing.Policy) { switch p { case fencing.Epoch, fencing.Off: } }", 2},
		{"tagless switch", "func f(p fencing.Policy) { switch { case p == fencing.Off: } }", 1},
		{"map from policy to behaviour", "var m = map[fencing.Policy]bool{fencing.Off: true}", 1},

		{"parse a flag", "func f(s string) (fencing.Policy, error) { return fencing.ParsePolicy(s) }", 0},
		{"pass a flag through", "func f() { g(fencing.Epoch) }\nfunc g(fencing.Policy) {}", 0},
		{"default value", "var def = fencing.Epoch", 0},
		{"struct field", "type cfg struct{ P fencing.Policy }\nvar c = cfg{P: fencing.Off}", 0},
		{"act on a decision", "func f(p fencing.Policy) bool { return fencing.MaintainerRemove(p, 1, fencing.Claim{}).Acts() }", 0},
		{"the store-side guard", "func f(p fencing.Policy) bool { return fencing.GuardCheckpointWrite(p) }", 0},
		{"compare verdicts", "func f(d fencing.Decision) bool { return d.Verdict == fencing.TakeOver }", 0},
		{"another package's Off", "func f(x int) bool { return x == other.Off }", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, "x.go", header+tc.body+"\n", parser.SkipObjectResolution)
			require.NoError(t, err)
			got := policyBranches(fset, f, "github.com/chaosrun/chaosrun/fencing")
			assert.Len(t, got, tc.want, "%v", got)
		})
	}

	t.Run("dot import", func(t *testing.T) {
		src := "package x\n\nimport . \"github.com/chaosrun/chaosrun/fencing\"\n\nfunc f(p Policy) bool { return p == Off }\n"
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, "x.go", src, parser.SkipObjectResolution)
		require.NoError(t, err)
		assert.Len(t, policyBranches(fset, f, "github.com/chaosrun/chaosrun/fencing"), 1)
	})
	t.Run("no fencing import", func(t *testing.T) {
		src := "package x\n\nvar Off = 1\n\nfunc f(p int) bool { return p == Off }\n"
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, "x.go", src, parser.SkipObjectResolution)
		require.NoError(t, err)
		assert.Empty(t, policyBranches(fset, f, "github.com/chaosrun/chaosrun/fencing"))
	})
}
