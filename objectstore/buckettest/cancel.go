package buckettest

import (
	"context"
	"errors"
	"testing"
)

// testCancelledContext checks that every method fails with the context's
// error when called with a context that is already cancelled, and that the
// writes among them change nothing. (The suite asks for errors.Is
// context.Canceled so that callers can tell shutdown from a storage fault.)
func testCancelledContext(t *testing.T, f *fixture) {
	key := f.key("obj")
	etag := f.create(t, key, []byte("data"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	tests := []struct {
		name string
		op   func() error
	}{
		{"Get", func() error { _, err := f.b.Get(ctx, key); return err }},
		{"Get missing", func() error { _, err := f.b.Get(ctx, f.key("missing")); return err }},
		{"GetRange", func() error { _, err := f.b.GetRange(ctx, key, 0, 2); return err }},
		{"PutIfAbsent", func() error { _, err := f.b.PutIfAbsent(ctx, f.key("new"), []byte("x")); return err }},
		{"PutIfMatch", func() error { _, err := f.b.PutIfMatch(ctx, key, []byte("changed"), etag); return err }},
		{"List", func() error { _, err := f.b.List(ctx, f.prefix, "", 10); return err }},
		{"Delete", func() error { return f.b.Delete(ctx, key) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.op(); !errors.Is(err, context.Canceled) {
				t.Errorf("%s with a cancelled context: %v, want context.Canceled", tt.name, err)
			}
		})
	}
	f.wantObject(t, key, []byte("data"), etag)
	f.wantMissing(t, f.key("new"))
}
