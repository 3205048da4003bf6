package checker

// interner maps strings to dense ids, remembering the last lookup because
// consecutive records usually repeat the table, node and dispatcher.
type interner struct {
	ids     map[string]uint32
	names   []string
	last    string
	lastID  uint32
	hasLast bool
}

func (in *interner) id(s string) uint32 {
	if in.hasLast && s == in.last {
		return in.lastID
	}
	id, ok := in.ids[s]
	if !ok {
		if in.ids == nil {
			in.ids = make(map[string]uint32)
		}
		id = uint32(len(in.names))
		in.ids[s] = id
		in.names = append(in.names, s)
	}
	in.last, in.lastID, in.hasLast = s, id, true
	return id
}

func (in *interner) name(id uint32) string { return in.names[id] }

// FNV-1a, inlined so that hashing a row allocates nothing.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// rowHash fingerprints a row's op and columns. A delete is fingerprinted by
// its op alone: the upstream logs the image before it, the sink writes none.
// Columns are combined with a sum, which does not depend on map iteration
// order, so no sorting (and no allocation) is needed.
func rowHash(op string, cols Columns) uint64 {
	h := fnvString(fnvOffset, op)
	if op == OpDelete {
		return h
	}
	var sum uint64
	for k, v := range cols {
		e := fnvString(fnvOffset, k)
		e = fnvString(e^0xff, v)
		sum += e * fnvPrime
	}
	return h ^ (sum * 0x9e3779b97f4a7c15)
}
