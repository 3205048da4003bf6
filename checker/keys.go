package checker

import "strconv"

// names interns the strings every record repeats.
type names struct {
	tables      interner
	nodes       interner
	dispatchers interner
}

// keyID is a row key: a table id and a primary key.
type keyID struct {
	table uint32
	pk    int64
}

// keyIndex numbers the keys densely in the order they are first seen. The
// accumulators keep their per-key state in slices indexed by that number,
// so the hot lookup is done once per record.
type keyIndex struct {
	tables *interner
	// byTable maps each table id's primary keys to their index; one map per
	// table keeps the lookup on the fast int64 path.
	byTable []map[int64]int32
	ids     []keyID
	// partitions holds each key's partition, -1 until a row is seen.
	partitions []int32
	// A change is usually followed by its row: remember the last key.
	lastID    keyID
	lastIndex int32
}

func newKeyIndex(tables *interner) keyIndex {
	return keyIndex{tables: tables, lastIndex: -1}
}

// index returns the number of the key (table, pk), numbering it if new.
func (x *keyIndex) index(table string, pk int64) int32 {
	id := keyID{table: x.tables.id(table), pk: pk}
	if x.lastIndex >= 0 && id == x.lastID {
		return x.lastIndex
	}
	for int(id.table) >= len(x.byTable) {
		x.byTable = append(x.byTable, make(map[int64]int32))
	}
	m := x.byTable[id.table]
	i, ok := m[pk]
	if !ok {
		i = int32(len(x.ids))
		m[pk] = i
		x.ids = append(x.ids, id)
		x.partitions = append(x.partitions, -1)
	}
	x.lastID, x.lastIndex = id, i
	return i
}

// len returns the number of keys seen.
func (x *keyIndex) len() int { return len(x.ids) }

// name returns key k as reports print it, table:pk.
func (x *keyIndex) name(k int32) string {
	id := x.ids[k]
	return x.tables.name(id.table) + ":" + strconv.FormatInt(id.pk, 10)
}

// table returns the table id of key k.
func (x *keyIndex) table(k int32) uint32 { return x.ids[k].table }

// grownAt returns &(*s)[i], first growing *s with zero values to hold it.
func grownAt[T any](s *[]T, i int32) *T {
	if n := int(i) + 1; n > len(*s) {
		*s = append(*s, make([]T, n-len(*s))...)
	}
	return &(*s)[i]
}
