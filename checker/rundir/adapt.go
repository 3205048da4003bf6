package rundir

import (
	"strconv"

	"github.com/chaosrun/chaosrun/checker"
	"github.com/chaosrun/chaosrun/evidence"
)

// Record converts a decoded sink record into the checker's Record. Column
// values are brought into the checker's canonical text (see
// checker.Columns): the node renders an upstream value with
// upstream.Value.String, an int in decimal and a string Go-quoted, so a
// quoted value is unquoted here; the change log's JSON strings canonicalise
// to their contents and its JSON numbers to their decimal text, and equal
// values compare equal.
func Record(r evidence.Record) checker.Record {
	out := checker.Record{
		Partition:  r.Partition,
		Offset:     r.Offset,
		AppendTime: r.Timestamp.UTC(),
		Changefeed: r.Changefeed,
		Epoch:      r.Epoch,
		Node:       r.Node,
	}
	switch {
	case r.Row != nil:
		out.Kind = checker.KindRow
		out.Table = r.Row.Table
		out.PK = r.Row.PK
		out.Op = string(r.Row.Op)
		out.CommitTs = r.Row.CommitTs
		out.Columns = Columns(r.Row.Columns)
		out.Dispatcher = r.Row.Dispatcher
		out.Seen = r.Row.Seen
		out.DispatcherEpoch, out.DispatcherSeen = r.Row.DispatcherEpoch, r.Row.DispatcherSeen
	case r.Watermark != nil:
		out.Kind = checker.KindWatermark
		out.WatermarkTs = r.Watermark.Ts
		out.Seen = r.Watermark.Seen
	}
	return out
}

// Columns canonicalises column values rendered by the node (see Record).
func Columns(cols map[string]string) checker.Columns {
	if cols == nil {
		return nil
	}
	out := make(checker.Columns, len(cols))
	for k, v := range cols {
		// NB: only a value the node quoted starts with a quote: ints never do.
		if len(v) >= 2 && v[0] == '"' {
			if s, err := strconv.Unquote(v); err == nil {
				v = s
			}
		}
		out[k] = v
	}
	return out
}

// Grants converts the epoch history read from the meta store.
func Grants(recs []evidence.Epoch) []checker.EpochGrant {
	out := make([]checker.EpochGrant, len(recs))
	for i, r := range recs {
		out[i] = checker.EpochGrant{Changefeed: r.Changefeed, Epoch: r.Epoch, GrantedAt: r.GrantedAt, Node: r.Node}
	}
	return out
}

// Decisions converts one node's decision log.
func Decisions(es []evidence.Decision) []checker.DecisionEntry {
	out := make([]checker.DecisionEntry, len(es))
	for i, e := range es {
		out[i] = checker.DecisionEntry{
			Time: e.Time, Changefeed: e.Changefeed, Node: e.Node, Role: e.Role, MsgType: e.Message,
			MsgEpoch: e.MsgEpoch, LocalEpoch: e.LocalEpoch, Sender: e.Sender, Verdict: e.Verdict, Acted: e.Acted,
		}
	}
	return out
}
