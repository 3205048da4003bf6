// Package reports renders a result.Result, and only renders it: every number
// in a report was computed by the checker and stored in the Result, which is
// written as result.json and stays the source of truth. The renderers are
//
//   - Markdown: report.md, a summary table, the verdict, SLOs against what
//     was measured, and each violation with its examples;
//   - HTML: report.html, self-contained (inline CSS and SVG, no scripts, no
//     external resources): the lag over time with fault windows shaded,
//     inject and heal markers, the SLO line and recovery annotations; a
//     swimlane per node with its epochs and the records it wrote; tables;
//   - JUnit: junit.xml, one test case per invariant, for CI.
//
// report.md and report.html are templates (report.md.tmpl, report.html.tmpl)
// over one view of the Result (view.go): the rows both show are formatted
// once, in Go, and the templates only lay them out.
//
// WriteDir writes result.json and all three renderings into a run directory;
// RenderDir re-renders them from an existing result.json (chaosrun report).
// Renderers are deterministic: the same Result gives the same bytes.
package reports
