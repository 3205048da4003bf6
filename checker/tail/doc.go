// Package tail consumes a changefeed topic while a run is going on: every
// partition from its oldest offset, each record decoded and appended as a
// checker.Record to the run directory's dump, sink-records.pb
// (length-delimited protobuf, see checker.ReadDump), and a live view
// (newest watermark per partition, the global watermark, record counts) for
// the runner.
//
// Caller obligations: Start one Tailer per topic and run directory; call
// Drain once the system under test has stopped writing, to read up to the
// high watermarks and record them in sink-offsets.json (without it, a later
// `chaosrun check` cannot know the dump is complete); call Close on every
// path, which stops every goroutine and closes the files.
//
// A Tailer survives broker restarts and transient errors: sarama retries
// fetches itself, and when a partition consumer or the client fails the
// Tailer reconnects with backoff and resumes every partition at the offset
// after the last record it wrote, so the dump has each offset exactly once.
// Records that do not decode as cdc records are listed in
// sink-malformed.jsonl and do not stop the tailer.
package tail
