// Package result defines Result, the single record of one chaosrun run that is
// written as result.json and is the source of truth for every report.
//
// The checker (package checker) builds a Result; the renderers (package
// reports) only format one. Both import this leaf package, so neither imports
// the other: the checker does not pull in HTML templates, and re-rendering a
// finished run (chaosrun report) needs no checker at all.
//
// Every *_ms field is milliseconds relative to Timings.Start unless its doc
// comment says otherwise; absolute instants are RFC 3339 strings. The schema
// is versioned by SchemaVersion: add fields freely, but bump the version when
// a field changes meaning or is removed, and make Read refuse what it cannot
// interpret.
package result
