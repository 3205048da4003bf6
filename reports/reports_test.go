package reports

import (
	"bytes"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/reports/result"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var fixtures = map[string]func() *result.Result{
	"fail":         failFixture,
	"inconclusive": inconclusiveFixture,
	"changefeeds":  changefeedsFixture,
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file; run go test ./reports/ -update")
	assert.Equal(t, string(want), string(got), "%s differs; run go test ./reports/ -update and review the diff", path)
}

func renderTo(t *testing.T, fn func(io.Writer, *result.Result) error, r *result.Result) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, fn(&b, r))
	return b.Bytes()
}

func TestMarkdownGolden(t *testing.T) {
	for name, mk := range fixtures {
		t.Run(name, func(t *testing.T) {
			golden(t, name+".md.golden", renderTo(t, renderMarkdown, mk()))
		})
	}
}

func TestMarkdownRowEscapesPipes(t *testing.T) {
	assert.Equal(t, `| a\|b | 3 |  |`, markdownRow("a|b", 3, ""))
}

func TestJUnitGolden(t *testing.T) {
	for name, mk := range fixtures {
		t.Run(name, func(t *testing.T) {
			out := renderTo(t, renderJUnit, mk())
			golden(t, name+".junit.xml.golden", out)
			var doc junitSuites
			require.NoError(t, xml.Unmarshal(out, &doc), "junit.xml must be well-formed")
			require.Len(t, doc.Suites, 1)
			assert.Len(t, doc.Suites[0].Cases, len(mk().Invariants), "one test case per invariant")
		})
	}
}

func TestHTMLStructureGolden(t *testing.T) {
	for name, mk := range fixtures {
		t.Run(name, func(t *testing.T) {
			out := renderTo(t, renderHTML, mk())
			golden(t, name+".html.structure.golden", []byte(htmlStructure(t, out)))
		})
	}
}

func TestHTMLIsSelfContained(t *testing.T) {
	out := string(renderTo(t, renderHTML, failFixture()))
	assert.NotContains(t, out, "<script")
	assert.NotContains(t, out, "<link")
	assert.NotRegexp(t, `\s(src|href)=`, out)
	for _, u := range regexp.MustCompile(`https?://[^"' )]+`).FindAllString(out, -1) {
		assert.Equal(t, "http://www.w3.org/2000/svg", u, "only the SVG namespace may be a URL")
	}
	assert.Contains(t, out, `id="lag-chart"`)
	assert.Contains(t, out, `id="swimlanes"`)
	assert.Contains(t, out, `class="fault"`, "fault window shaded")
	assert.Contains(t, out, `class="slo"`, "SLO line")
	assert.Contains(t, out, "f1: recovered 22s after heal", "recovery annotation")
	assert.Contains(t, out, `url(#stale-hatch)`, "stale bar")
}

func TestHTMLDeterministic(t *testing.T) {
	assert.Equal(t, renderTo(t, renderHTML, failFixture()), renderTo(t, renderHTML, failFixture()))
}

func TestResultRoundTrip(t *testing.T) {
	r := failFixture()
	r.Disclaimer = "" // Write stamps it
	var b bytes.Buffer
	require.NoError(t, result.Write(&b, r))
	got, err := result.Read(&b)
	require.NoError(t, err)
	want := failFixture()
	assert.Equal(t, want, got)

	for _, v := range []int{0, result.SchemaVersion + 1} {
		_, err := result.Read(strings.NewReader(fmt.Sprintf(`{"schema_version": %d}`, v)))
		require.ErrorIs(t, err, result.ErrSchema)
	}
}

func TestWriteDirAndRenderDir(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, WriteDir(dir, failFixture()))
	files := []string{result.FileName, MarkdownFile, HTMLFile, JUnitFile}
	first := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		require.NotEmpty(t, b, f)
		first[f] = b
	}
	for _, f := range files[1:] {
		require.NoError(t, os.Remove(filepath.Join(dir, f)))
	}
	r, err := RenderDir(dir)
	require.NoError(t, err)
	assert.Equal(t, result.Fail, r.Verdict.Outcome)
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		assert.Equal(t, string(first[f]), string(b), "%s re-rendered differently", f)
	}

	_, err = RenderDir(t.TempDir())
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestFormatting(t *testing.T) {
	for in, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -45000: "-45,000"} {
		assert.Equal(t, want, num(in))
	}
	assert.Equal(t, "+1.5s", rel(1500))
	assert.Equal(t, "-5s", rel(-5000))
	assert.Equal(t, "2m3s", dur(123_000))
	assert.InDelta(t, 5000.0, niceStep(41_000, 10), 0)
	assert.InDelta(t, 0.2, niceStep(1.5, 10), 1e-9)
}

// htmlStructure reduces an HTML document to its element tree: one line per
// element with its id and classes, the text of headings and table headers,
// and runs of identical siblings collapsed to one line with a count. It
// fails on markup an XML tokenizer in HTML mode cannot follow.
func htmlStructure(t *testing.T, doc []byte) string {
	t.Helper()
	return strings.Join(parseElements(t, doc).lines(0), "\n") + "\n"
}

// element is one element of a parsed document: its label (tag, id, classes
// and, for the elements in labelText, its text) and its children.
type element struct {
	label    string
	children []*element
}

// labelText lists the elements whose text is part of their label.
var labelText = map[string]bool{"h1": true, "h2": true, "h3": true, "th": true}

// parseElements parses doc leniently, as HTML, into a tree under an unlabelled
// root.
func parseElements(t *testing.T, doc []byte) *element {
	t.Helper()
	root := &element{}
	stack := []*element{root}
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = false
	d.AutoClose = xml.HTMLAutoClose
	d.Entity = xml.HTMLEntity
	var text *strings.Builder
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		switch tk := tok.(type) {
		case xml.StartElement:
			e := &element{label: elementLabel(tk)}
			parent := stack[len(stack)-1]
			parent.children = append(parent.children, e)
			stack = append(stack, e)
			if labelText[tk.Name.Local] {
				text = &strings.Builder{}
			}
		case xml.CharData:
			if text != nil {
				text.Write(tk)
			}
		case xml.EndElement:
			e := stack[len(stack)-1]
			if text != nil && labelText[tk.Name.Local] {
				if s := strings.Join(strings.Fields(text.String()), " "); s != "" {
					e.label += fmt.Sprintf(" %q", s)
				}
				text = nil
			}
			stack = stack[:len(stack)-1]
		}
	}
	require.Len(t, stack, 1, "unclosed elements")
	return root
}

// elementLabel is the tag with "#id" and ".class" for each class.
func elementLabel(tk xml.StartElement) string {
	label := tk.Name.Local
	for _, a := range tk.Attr {
		switch a.Name.Local {
		case "id":
			label += "#" + a.Value
		case "class":
			for _, c := range strings.Fields(a.Value) {
				label += "." + c
			}
		}
	}
	return label
}

// lines renders the subtrees of e's children indented by depth, a run of
// identical subtrees as the first with " ×n" on its top line.
func (e *element) lines(depth int) []string {
	var out, prev []string
	count := 0
	flush := func() {
		if prev == nil {
			return
		}
		if count > 1 {
			prev[0] += fmt.Sprintf(" ×%d", count)
		}
		out = append(out, prev...)
	}
	for _, c := range e.children {
		lines := append([]string{strings.Repeat("  ", depth) + c.label}, c.lines(depth+1)...)
		if prev != nil && slices.Equal(lines, prev) {
			count++
			continue
		}
		flush()
		prev, count = lines, 1
	}
	flush()
	return out
}
