package lookup3

import "testing"

func TestSum(t *testing.T) {
	// Reference values of hashlittle(key, len, 0) from lookup3.c's driver.
	if got := Sum(nil); got != 0xdeadbeef {
		t.Errorf("Sum(\"\") = %#x", got)
	}
	if got := Sum([]byte("Four score and seven years ago")); got != 0x17770551 {
		t.Errorf("Sum(four score) = %#x, want 0x17770551", got)
	}
}
