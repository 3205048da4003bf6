package scenario

import (
	"bytes"
	"cmp"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxFileSize bounds a scenario or plan file.
const maxFileSize = 1 << 20

// maxYAMLNodes bounds the YAML nodes a document may expand to through aliases.
const maxYAMLNodes = 100_000

// Parse decodes one scenario from YAML, fills in its defaults and validates
// it. Decoding is strict: unknown fields, duplicate keys and values of the
// wrong type are problems too. Every error is a *ValidationError whose
// problems carry field paths and, where known, lines, in line order.
func Parse(data []byte) (Scenario, error) {
	var s Scenario
	lines, shape, decoded := decodeStrict(data, &s)
	if !decoded {
		return Scenario{}, &ValidationError{Problems: shape}
	}
	s = s.WithDefaults()
	var ps problems
	// With shape problems, s is a best effort: skip the checks across fault
	// steps, and the problems of parts that already have one.
	s.check(&ps, "", len(shape) == 0)
	ps = append(shape, unrelated(ps, shape)...)
	if len(ps) == 0 {
		return s, nil
	}
	err := withLines(ps.err(), lines).(*ValidationError)
	slices.SortStableFunc(err.Problems, func(a, b Problem) int {
		return cmp.Compare(lineKey(a.Line), lineKey(b.Line))
	})
	return Scenario{}, err
}

// lineKey orders problems without a line last.
func lineKey(line int) int {
	if line == 0 {
		return math.MaxInt
	}
	return line
}

// unrelated returns the problems of ps whose paths are not shape's paths,
// nor above or below one of them.
func unrelated(ps, shape problems) problems {
	under := func(p, q string) bool {
		return strings.HasPrefix(p, q) && (len(p) == len(q) || p[len(q)] == '.' || p[len(q)] == '[')
	}
	var out problems
	for _, p := range ps {
		if !slices.ContainsFunc(shape, func(q Problem) bool { return under(p.Path, q.Path) || under(q.Path, p.Path) }) {
			out = append(out, p)
		}
	}
	return out
}

// LoadFile reads and parses a scenario file; a *ValidationError names the
// file as its Source.
func LoadFile(path string) (Scenario, error) {
	data, err := readLimited(path)
	if err != nil {
		return Scenario{}, err
	}
	s, err := Parse(data)
	var ve *ValidationError
	if errors.As(err, &ve) {
		ve.Source = path
	}
	return s, err
}

// Load returns the built-in scenario called nameOrPath or, when the
// argument looks like a path (has a slash or a .yaml/.yml extension) or no
// built-in has that name, parses that file.
func Load(nameOrPath string) (Scenario, error) {
	looksLikePath := strings.ContainsRune(nameOrPath, '/') || strings.ContainsRune(nameOrPath, filepath.Separator) ||
		strings.HasSuffix(nameOrPath, ".yaml") || strings.HasSuffix(nameOrPath, ".yml")
	if !looksLikePath {
		if s, ok := Lookup(nameOrPath); ok {
			return s, nil
		}
		if _, err := os.Stat(nameOrPath); err != nil {
			return Scenario{}, fmt.Errorf("scenario: %q is neither a built-in scenario (%s) nor a file",
				nameOrPath, strings.Join(Names(), ", "))
		}
	}
	return LoadFile(nameOrPath)
}

// YAML returns s as a YAML document, in the form Parse reads.
func (s Scenario) YAML() ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(s); err != nil {
		return nil, fmt.Errorf("scenario: encode %s: %w", s.Name, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("scenario: encode %s: %w", s.Name, err)
	}
	return b.Bytes(), nil
}

// MarshalJSON encodes s in its YAML shape: the YAML field names in their
// order, durations and ranges as strings ("5s", "10s..20s").
func (s Scenario) MarshalJSON() ([]byte, error) { return jsonOf(s) }

// UnmarshalJSON decodes the YAML shape strictly and fills in defaults; it
// does not validate.
func (s *Scenario) UnmarshalJSON(data []byte) error {
	var v Scenario
	if _, ps, _ := decodeStrict(data, &v); len(ps) > 0 {
		return &ValidationError{Problems: ps}
	}
	*s = v.WithDefaults()
	return nil
}

// readLimited reads at most maxFileSize bytes of path.
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("scenario: read %s: %w", path, err)
	}
	return data, nil
}

// decodeStrict decodes one YAML (or JSON) document into out, a pointer to a
// struct. It first walks the document against out's type, so that every
// unknown field, duplicate key and mistyped value is a problem with its
// path; a document without problems is then decoded strictly (with
// KnownFields). lines maps the field paths seen to their lines.
//
// With problems, decoded says whether out still holds a best effort (what
// a lenient decode could make of the document), worth validating for more
// problems; it is false when the document itself is broken.
func decodeStrict(data []byte, out any) (lines map[string]int, ps problems, decoded bool) {
	if len(data) > maxFileSize {
		ps.add(RootPath, "larger than %d bytes", maxFileSize)
		return nil, ps, false
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			ps.add(RootPath, "empty document")
		} else {
			ps.add(RootPath, "%s", err)
		}
		return nil, ps, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		ps.add(RootPath, "more than one YAML document (want exactly one)")
		return nil, ps, false
	}
	w := walker{lines: map[string]int{}, open: map[*yaml.Node]bool{}, badKeys: map[*yaml.Node]map[*yaml.Node]bool{}, budget: maxYAMLNodes}
	root := &doc
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		root = doc.Content[0]
	}
	w.walk(root, reflect.TypeOf(out).Elem(), "")
	if len(w.ps) > 0 {
		for _, p := range w.ps {
			if p.Path == RootPath {
				return w.lines, w.ps, false
			}
		}
		// Best effort: drop what the walk refused (a bad Range would abort
		// the decode, a duplicate key would skip its whole mapping), then
		// decode the rest leniently.
		for _, n := range w.bad {
			*n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
		}
		for m, keys := range w.badKeys {
			content := m.Content[:0:0]
			for i := 0; i+1 < len(m.Content); i += 2 {
				if !keys[m.Content[i]] {
					content = append(content, m.Content[i], m.Content[i+1])
				}
			}
			m.Content = content
		}
		_ = root.Decode(out)
		return w.lines, w.ps, true
	}
	dec = yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil {
		// NB: the walk should have caught everything the decoder refuses;
		// if not, the problem still gets a path.
		ps.add(RootPath, "%s", err)
		return w.lines, ps, false
	}
	return w.lines, nil, true
}

// withLines gives each problem of a *ValidationError that has no line the
// line of its path, or of its nearest parent path, in lines.
func withLines(err error, lines map[string]int) error {
	var ve *ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	for i, p := range ve.Problems {
		if p.Line > 0 {
			continue
		}
		for path := p.Path; path != ""; path = parentPath(path) {
			if l, ok := lines[path]; ok {
				ve.Problems[i].Line = l
				break
			}
		}
	}
	return ve
}

// parentPath drops the last field or index of a path.
func parentPath(path string) string {
	if i := strings.LastIndexAny(path, ".["); i >= 0 {
		return path[:i]
	}
	return ""
}

var (
	durationType        = reflect.TypeFor[time.Duration]()
	rangeType           = reflect.TypeFor[Range]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// walker checks a YAML node tree against a Go type.
type walker struct {
	ps      problems
	lines   map[string]int
	open    map[*yaml.Node]bool                // nodes being walked: an alias to one is a cycle
	bad     []*yaml.Node                       // values with problems
	badKeys map[*yaml.Node]map[*yaml.Node]bool // mapping → keys with problems
	budget  int
}

// add records a problem with value n (nil: none) at path.
func (w *walker) add(n *yaml.Node, path, format string, args ...any) {
	p := Problem{Path: cmp.Or(path, RootPath), Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		p.Line = n.Line
		w.bad = append(w.bad, n)
	}
	w.ps = append(w.ps, p)
}

// addKey records a problem with key k of mapping m at path.
func (w *walker) addKey(m, k *yaml.Node, path, format string, args ...any) {
	w.ps = append(w.ps, Problem{Path: cmp.Or(path, RootPath), Msg: fmt.Sprintf(format, args...), Line: k.Line})
	if w.badKeys[m] == nil {
		w.badKeys[m] = map[*yaml.Node]bool{}
	}
	w.badKeys[m][k] = true
}

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	if w.budget--; w.budget < 0 {
		if w.budget == -1 {
			w.add(nil, RootPath, "expands to more than %d values (aliases?)", maxYAMLNodes)
		}
		return
	}
	if w.open[n] {
		w.add(n, path, "an alias refers to a value that contains it")
		return
	}
	w.open[n] = true
	defer delete(w.open, n)
	if n.Kind == yaml.AliasNode {
		w.walk(n.Alias, t, path)
		return
	}
	if _, ok := w.lines[path]; !ok {
		w.lines[path] = n.Line
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // leaves the zero value: the default
	}
	switch {
	case reflect.PointerTo(t).Implements(textUnmarshalerType):
		w.scalar(n, t, path)
	case t.Kind() == reflect.Struct:
		w.mapping(n, t, path)
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.add(n, path, "want a list, got %s", describeNode(n))
			return
		}
		for i, item := range n.Content {
			w.walk(item, t.Elem(), indexPath(path, i))
		}
	default:
		w.scalar(n, t, path)
	}
}

func (w *walker) mapping(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.MappingNode {
		w.add(n, path, "want a mapping, got %s", describeNode(n))
		return
	}
	fields, names := yamlFields(t)
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			w.merge(v, t, path)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			w.addKey(n, k, path, "want a field name, got %s", describeNode(k))
			continue
		}
		fp := fieldPath(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			w.addKey(n, k, fp, "defined twice (first on line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		w.lines[fp] = k.Line
		ft, ok := fields[k.Value]
		if !ok {
			if near := nearest(k.Value, names); near != "" {
				w.addKey(n, k, fp, "unknown field; did you mean %s? (want one of %s)", near, strings.Join(names, ", "))
			} else {
				w.addKey(n, k, fp, "unknown field (want one of %s)", strings.Join(names, ", "))
			}
			continue
		}
		w.walk(v, ft, fp)
	}
}

// merge walks the value of a "<<" key: a mapping or a list of mappings
// whose fields merge into the enclosing one.
func (w *walker) merge(n *yaml.Node, t reflect.Type, path string) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.SequenceNode {
		for _, item := range n.Content {
			w.walk(item, t, path)
		}
		return
	}
	w.walk(n, t, path)
}

func (w *walker) scalar(n *yaml.Node, t reflect.Type, path string) {
	want := describeType(t)
	if n.Kind != yaml.ScalarNode {
		w.add(n, path, "want %s, got %s", want, describeNode(n))
		return
	}
	isInt := t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64 && t != durationType
	if isInt && n.ShortTag() != "!!int" {
		// NB: yaml.v3 would silently truncate 2.5 to 2.
		w.add(n, path, "want %s, got %s", want, describeNode(n))
		return
	}
	if err := n.Decode(reflect.New(t).Interface()); err != nil {
		if t == rangeType {
			if _, perr := ParseRange(n.Value); perr != nil {
				w.add(n, path, "%s", perr)
				return
			}
		}
		w.add(n, path, "want %s, got %s", want, describeNode(n))
	}
}

// yamlFields returns the YAML field names of struct type t, with their
// types, and the names in declaration order.
func yamlFields(t reflect.Type) (map[string]reflect.Type, []string) {
	fields := map[string]reflect.Type{}
	var names []string
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Type
		names = append(names, name)
	}
	return fields, names
}

func describeType(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration like 5s"
	case t == rangeType:
		return "a duration like 10s or a range like 10s..20s"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Struct:
		return "a mapping"
	case reflect.Slice:
		return "a list"
	}
	return "a string"
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.DocumentNode:
		return "a document"
	case yaml.AliasNode:
		return "an alias"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:37] + "..."
	}
	return strconv.Quote(v)
}

// nearest returns the name within edit distance 2 of s, if exactly one is
// closest.
func nearest(s string, names []string) string {
	best, bestD, tie := "", 3, false
	for _, n := range names {
		switch d := editDistance(s, n); {
		case d < bestD:
			best, bestD, tie = n, d, false
		case d == bestD:
			tie = true
		}
	}
	if tie {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return math.MaxInt
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// jsonOf encodes v as compact JSON in its YAML shape: the YAML field names
// in declaration order and every value as YAML writes it (so durations are
// strings). decodeStrict reads it back, since JSON is YAML.
func jsonOf(v any) ([]byte, error) {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := writeJSON(&b, &n); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeJSON(b *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return errors.New("scenario: json: empty document")
		}
		return writeJSON(b, n.Content[0])
	case yaml.AliasNode:
		return writeJSON(b, n.Alias)
	case yaml.MappingNode:
		b.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			key, _ := json.Marshal(n.Content[i].Value)
			b.Write(key)
			b.WriteByte(':')
			if err := writeJSON(b, n.Content[i+1]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
		return nil
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, item := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeJSON(b, item); err != nil {
				return err
			}
		}
		b.WriteByte(']')
		return nil
	}
	var v any
	switch n.ShortTag() {
	case "!!null":
		b.WriteString("null")
		return nil
	case "!!bool":
		v = new(bool)
	case "!!int":
		v = new(int64)
	case "!!float":
		v = new(float64)
	case "!!binary":
		return fmt.Errorf("scenario: json: binary value at line %d", n.Line)
	}
	if v == nil {
		v = n.Value
	} else if err := n.Decode(v); err != nil {
		return fmt.Errorf("scenario: json: %w", err)
	}
	text, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("scenario: json: %w", err)
	}
	b.Write(text)
	return nil
}
