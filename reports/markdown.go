package reports

import (
	_ "embed"
	"fmt"
	"io"
	"strings"
	"text/template"

	"github.com/chaosrun/chaosrun/reports/result"
)

//go:embed report.md.tmpl
var markdownSource string

var markdownTemplate = template.Must(template.New("report.md").
	Funcs(formatFuncs).
	Funcs(template.FuncMap{"row": markdownRow}).
	Parse(markdownSource))

// renderMarkdown renders r as report.md.
func renderMarkdown(w io.Writer, r *result.Result) error {
	if err := markdownTemplate.Execute(w, newView(r)); err != nil {
		return fmt.Errorf("reports: render markdown: %w", err)
	}
	return nil
}

// markdownRow is one table row. NB: a "|" inside a cell would end the cell,
// so it is escaped.
func markdownRow(cells ...any) string {
	s := make([]string, len(cells))
	for i, c := range cells {
		s[i] = strings.ReplaceAll(fmt.Sprint(c), "|", `\|`)
	}
	return "| " + strings.Join(s, " | ") + " |"
}
