package upstream

import (
	"fmt"

	"github.com/chaosrun/chaosrun/upstreampb"
)

func opToPB(o Op) upstreampb.Op {
	switch o {
	case OpInsert:
		return upstreampb.Op_OP_INSERT
	case OpUpdate:
		return upstreampb.Op_OP_UPDATE
	case OpDelete:
		return upstreampb.Op_OP_DELETE
	}
	return upstreampb.Op_OP_UNSPECIFIED
}

func opFromPB(o upstreampb.Op) Op {
	switch o {
	case upstreampb.Op_OP_INSERT:
		return OpInsert
	case upstreampb.Op_OP_UPDATE:
		return OpUpdate
	case upstreampb.Op_OP_DELETE:
		return OpDelete
	}
	return 0 // invalid; rejected by validation
}

func colsToPB(cols map[string]Value) map[string]*upstreampb.Value {
	if cols == nil {
		return nil
	}
	out := make(map[string]*upstreampb.Value, len(cols))
	for k, v := range cols {
		if i, ok := v.Int64(); ok {
			out[k] = &upstreampb.Value{Kind: &upstreampb.Value_Int{Int: i}}
		} else {
			s, _ := v.Str()
			out[k] = &upstreampb.Value{Kind: &upstreampb.Value_Str{Str: s}}
		}
	}
	return out
}

func colsFromPB(cols map[string]*upstreampb.Value) (map[string]Value, error) {
	if cols == nil {
		return nil, nil
	}
	out := make(map[string]Value, len(cols))
	for k, v := range cols {
		switch x := v.GetKind().(type) {
		case *upstreampb.Value_Int:
			out[k] = Int(x.Int)
		case *upstreampb.Value_Str:
			out[k] = Str(x.Str)
		default:
			return nil, fmt.Errorf("%w: column %q has no value", ErrInvalid, k)
		}
	}
	return out, nil
}

func writesToPB(ws []Write) []*upstreampb.RowWrite {
	out := make([]*upstreampb.RowWrite, len(ws))
	for i, w := range ws {
		out[i] = &upstreampb.RowWrite{Table: w.Table, Pk: w.PK, Op: opToPB(w.Op), Columns: colsToPB(w.Columns), ExpectCommitTs: w.ExpectCommitTs}
	}
	return out
}

func writesFromPB(ws []*upstreampb.RowWrite) ([]Write, error) {
	out := make([]Write, len(ws))
	for i, w := range ws {
		cols, err := colsFromPB(w.GetColumns())
		if err != nil {
			return nil, err
		}
		out[i] = Write{Table: w.GetTable(), PK: w.GetPk(), Op: opFromPB(w.GetOp()), Columns: cols, ExpectCommitTs: w.ExpectCommitTs}
	}
	return out, nil
}

func changeToPB(c Change) *upstreampb.RowChange {
	return &upstreampb.RowChange{Table: c.Table, Pk: c.PK, Op: opToPB(c.Op), Columns: colsToPB(c.Columns), CommitTs: c.CommitTs}
}

func changeFromPB(c *upstreampb.RowChange) (Change, error) {
	cols, err := colsFromPB(c.GetColumns())
	if err != nil {
		return Change{}, err
	}
	return Change{CommitTs: c.GetCommitTs(), Table: c.GetTable(), PK: c.GetPk(), Op: opFromPB(c.GetOp()), Columns: cols}, nil
}

func spanToPB(s Span) *upstreampb.Span {
	return &upstreampb.Span{Table: s.Table, StartPk: s.StartPK, EndPk: s.EndPK}
}

func spanFromPB(s *upstreampb.Span) Span {
	return Span{Table: s.GetTable(), StartPK: s.GetStartPk(), EndPK: s.GetEndPk()}
}
