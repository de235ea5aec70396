package objectstore

// SetIndexSizes makes partition indexes small, so that tests reach the
// paths a partition with a long history takes (see index.go).
func SetIndexSizes(e *Engine, listPage, maxIndexed int) {
	e.listPage, e.maxIndexed = listPage, maxIndexed
}

// SetSearchProbes sets how many LISTs a partition load sends at once.
func SetSearchProbes(e *Engine, n int) { e.searchProbes = n }

// ParseTimeEntry reads a time index entry's key under prefix.
func ParseTimeEntry(prefix, key string) (base, end, maxTimestamp int64, ok bool) {
	te, ok := parseTimeEntry(prefix, key)
	return te.base, te.end, te.maxTimestamp, ok
}

// GivenIDs returns how many handed-out producer ids the engine remembers.
func GivenIDs(e *Engine) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.pidsGiven)
}
