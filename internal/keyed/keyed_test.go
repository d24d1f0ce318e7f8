package keyed

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func TestBoundShortKeyUnchanged(t *testing.T) {
	for _, k := range []string{"", "a", strings.Repeat("x", MaxLen)} {
		if got := Bound(k); got != k {
			t.Errorf("Bound(%d bytes) = %q, want the key itself", len(k), got)
		}
	}
}

func TestBoundLongKeyHashed(t *testing.T) {
	k := strings.Repeat("y", MaxLen+1)
	sum := sha256.Sum256([]byte(k))
	want := "sha256:" + hex.EncodeToString(sum[:])
	got := Bound(k)
	if got != want {
		t.Fatalf("Bound = %q, want %q", got, want)
	}
	if len(got) > MaxLen {
		t.Fatalf("len(Bound) = %d > MaxLen", len(got))
	}
	if Bound(k+"z") == got {
		t.Fatal("two long keys hashed alike")
	}
}

func TestBoundAllocs(t *testing.T) {
	short := strings.Repeat("s", MaxLen)
	if n := testing.AllocsPerRun(100, func() { _ = Bound(short) }); n != 0 {
		t.Errorf("Bound(short) allocs = %v, want 0", n)
	}
	long := strings.Repeat("l", 10<<10)
	if n := testing.AllocsPerRun(100, func() { _ = Bound(long) }); n > 2 {
		t.Errorf("Bound(long) allocs = %v, want ≤ 2", n)
	}
}
