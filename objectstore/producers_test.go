package objectstore

import (
	"errors"
	"testing"
	"time"
)

// TestProducerTable checks the idempotent-producer decisions on a table
// built by record, and that expire forgets only producers not seen since.
func TestProducerTable(t *testing.T) {
	batch := func(pid int64, epoch int16, seq, n int32) batchHeader {
		return batchHeader{ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq, LastOffsetDelta: n - 1, NumRecords: n}
	}
	table := make(producerTable)
	for i := range int32(7) {
		table.record(batch(1, 0, 2*i, 2), int64(10*i))
	}
	tests := []struct {
		name    string
		h       batchHeader
		wantDup int64 // -1: not a duplicate
		wantErr error
	}{
		{name: "retry of the newest batch", h: batch(1, 0, 12, 2), wantDup: 60},
		{name: "retry of the oldest remembered", h: batch(1, 0, 4, 2), wantDup: 20},
		{name: "older than the window", h: batch(1, 0, 2, 2), wantErr: ErrOutOfOrderSequence},
		{name: "next", h: batch(1, 0, 14, 3), wantDup: -1},
		{name: "gap", h: batch(1, 0, 16, 1), wantErr: ErrOutOfOrderSequence},
		{name: "older epoch", h: batch(1, -1, 0, 1), wantErr: ErrInvalidProducerEpoch},
		{name: "new epoch from 0", h: batch(1, 1, 0, 1), wantDup: -1},
		{name: "new epoch not from 0", h: batch(1, 1, 5, 1), wantErr: ErrOutOfOrderSequence},
		{name: "unknown producer", h: batch(2, 0, 9, 1), wantDup: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			off, dup, err := table.check(tt.h)
			switch {
			case tt.wantErr != nil:
				if err == nil || !errors.Is(err, tt.wantErr) {
					t.Errorf("check: %v, want %v", err, tt.wantErr)
				}
			case err != nil:
				t.Errorf("check: %v", err)
			case tt.wantDup >= 0 && (!dup || off != tt.wantDup):
				t.Errorf("check: offset %d, dup %v; want duplicate at %d", off, dup, tt.wantDup)
			case tt.wantDup < 0 && dup:
				t.Errorf("check: duplicate at %d, want new", off)
			}
		})
	}

	t.Run("expire", func(t *testing.T) {
		table := make(producerTable)
		table.record(batch(1, 0, 0, 1), 0)
		cut := time.Now()
		time.Sleep(time.Millisecond)
		table.record(batch(2, 0, 0, 1), 1)
		table.expire(cut)
		if _, ok := table[1]; ok {
			t.Error("producer 1, not seen since the cut, is still remembered")
		}
		if _, ok := table[2]; !ok {
			t.Error("producer 2, seen after the cut, was forgotten")
		}
	})
}
