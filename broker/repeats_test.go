package broker

import (
	"errors"
	"slices"
	"testing"
)

func TestEachOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		items    []string
		acted    []string
		repeated []string
	}{
		{nil, nil, nil},
		{[]string{"a", "b"}, []string{"a", "b"}, nil},
		{[]string{"a", "b", "a", "c", "a"}, []string{"b", "c"}, []string{"a"}},
		{[]string{"x", "x"}, nil, []string{"x"}},
	}
	for _, tt := range tests {
		var acted, repeated, order []string
		eachOnce(tt.items, func(s string) string { return s }, func(s string, err error) {
			order = append(order, s)
			if err == nil {
				acted = append(acted, s)
				return
			}
			if !errors.Is(err, errRepeated) {
				t.Errorf("%v: error %v does not wrap errRepeated", tt.items, err)
			}
			repeated = append(repeated, s)
		})
		if !slices.Equal(acted, tt.acted) || !slices.Equal(repeated, tt.repeated) {
			t.Errorf("%v: acted on %v, refused %v; want %v and %v", tt.items, acted, repeated, tt.acted, tt.repeated)
		}
		if len(order) != len(tt.acted)+len(tt.repeated) {
			t.Errorf("%v: answered %v, want each key once", tt.items, order)
		}
	}
}
