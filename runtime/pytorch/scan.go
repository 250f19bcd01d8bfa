package pytorch

import (
	"fmt"
	"math"
)

// Limits of the pickle scan. A state_dict's pickle holds a few tens of
// objects per tensor: resnet152's is about 100 KB.
const (
	// maxPickleBytes bounds data.pkl.
	maxPickleBytes = 16 << 20
	// maxObjects bounds the number of values a pickle may push, so that
	// the unpickler's memory stays a small multiple of its size.
	maxObjects = 1 << 22
	// maxLine bounds a text argument (the protocol-0 forms of ints,
	// floats, strings and global names).
	maxLine = 1 << 16
)

// allowed lists the globals a state_dict's pickle may name: everything
// else, whether called (REDUCE, NEWOBJ, INST, OBJ) or not, is refused.
var allowed = map[string]bool{
	"collections.OrderedDict":         true,
	"torch._utils._rebuild_tensor_v2": true,
	"torch._utils._rebuild_parameter": true,
	"torch.FloatStorage":              true,
	"torch.HalfStorage":               true,
	"torch.BFloat16Storage":           true,
	"torch.LongStorage":               true, // num_batches_tracked, which is dropped
}

// globalError is the error for a global not on the list.
func globalError(module, name string) error {
	return fmt.Errorf("the pickle names the global %s.%s, which a state_dict does not contain: refused (only collections.OrderedDict, torch._utils._rebuild_tensor_v2, _rebuild_parameter and the Float/Half/BFloat16/Long storages are read)", module, name)
}

func checkGlobal(module, name string) error {
	if !allowed[module+"."+name] {
		return globalError(module, name)
	}
	return nil
}

// sym is a value on the scan's symbolic stack: a string's value, or
// nothing known.
type sym struct {
	s     string
	isStr bool
}

// scanPickle walks the opcodes of the pickle p without building anything:
// every length argument must lie within p, the stack must not underflow,
// every global named by GLOBAL, INST or STACK_GLOBAL must be allowed, and
// the values pushed must number at most maxObjects. Only then does the
// unpickler run, so that no opcode of a hostile pickle makes it allocate
// more than p's bytes allow or reach a global off the list.
func scanPickle(p []byte) error {
	var (
		stack   []sym
		marks   []int
		memo    = map[uint64]sym{}
		pos     int
		objects int
	)
	fail := func(op byte, at int, format string, args ...any) error {
		return fmt.Errorf("pickle opcode 0x%02x at byte %d: %s", op, at, fmt.Sprintf(format, args...))
	}
	take := func(n uint64) ([]byte, bool) {
		if n > uint64(len(p)-pos) {
			return nil, false
		}
		b := p[pos : pos+int(n)]
		pos += int(n)
		return b, true
	}
	line := func() (string, bool) {
		for i := pos; i < len(p) && i-pos <= maxLine; i++ {
			if p[i] == '\n' {
				s := string(p[pos:i])
				pos = i + 1
				return s, true
			}
		}
		return "", false
	}
	uint := func(n int) (uint64, bool) {
		b, ok := take(uint64(n))
		if !ok {
			return 0, false
		}
		var v uint64
		for i := n - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		return v, true
	}
	push := func(s sym) { stack = append(stack, s); objects++ }
	pop := func(n int) bool {
		base := 0
		if len(marks) > 0 {
			base = marks[len(marks)-1]
		}
		if len(stack)-n < base {
			return false
		}
		stack = stack[:len(stack)-n]
		return true
	}
	popMark := func() bool {
		if len(marks) == 0 {
			return false
		}
		stack = stack[:marks[len(marks)-1]]
		marks = marks[:len(marks)-1]
		return true
	}
	for {
		if objects > maxObjects {
			return fmt.Errorf("the pickle builds more than %d values: refused", maxObjects)
		}
		if pos >= len(p) {
			return fmt.Errorf("the pickle ends at byte %d without its STOP opcode (truncated?)", pos)
		}
		at, op := pos, p[pos]
		pos++
		var (
			ok = true
			n  uint64
			b  []byte
		)
		switch op {
		case '.': // STOP
			if len(marks) != 0 || len(stack) != 1 {
				return fail(op, at, "STOP with %d values on the stack and %d marks, want one value", len(stack), len(marks))
			}
			return nil
		case 0x80: // PROTO
			_, ok = take(1)
		case 0x95: // FRAME: its length must fit in what is left
			if n, ok = uint(8); ok && n > uint64(len(p)-pos) {
				ok = false
			}
		case '(': // MARK
			marks = append(marks, len(stack))
			if len(marks) > maxObjects {
				return fail(op, at, "too many marks")
			}
		case 'N', 0x88, 0x89, '}', ']', ')', 0x8f: // None, True, False, empty dict, list, tuple, set
			push(sym{})
		case 'K': // BININT1
			_, ok = take(1)
			push(sym{})
		case 'M': // BININT2
			_, ok = take(2)
			push(sym{})
		case 'J': // BININT
			_, ok = take(4)
			push(sym{})
		case 'G': // BINFLOAT
			_, ok = take(8)
			push(sym{})
		case 'I', 'L', 'F': // INT, LONG, FLOAT as text
			var s string
			if s, ok = line(); ok && len(s) > 64 {
				return fail(op, at, "a number of %d digits", len(s))
			}
			push(sym{})
		case 0x8a: // LONG1
			if n, ok = uint(1); ok {
				_, ok = take(n)
			}
			push(sym{})
		case 0x8b: // LONG4
			if n, ok = uint(4); ok {
				if n > 64 {
					return fail(op, at, "an integer of %d bytes", n)
				}
				_, ok = take(n)
			}
			push(sym{})
		case 'S', 'V': // STRING, UNICODE as text
			var s string
			s, ok = line()
			push(sym{s: s, isStr: op == 'V'})
		case 'U', 'C', 0x8c: // SHORT_BINSTRING, SHORT_BINBYTES, SHORT_BINUNICODE
			if n, ok = uint(1); ok {
				b, ok = take(n)
			}
			push(sym{s: string(b), isStr: op == 0x8c})
		case 'T', 'B', 'X': // BINSTRING, BINBYTES, BINUNICODE
			if n, ok = uint(4); ok {
				b, ok = take(n)
			}
			push(sym{s: string(b), isStr: op == 'X'})
		case 0x8e, 0x8d, 0x96: // BINBYTES8, BINUNICODE8, BYTEARRAY8
			if n, ok = uint(8); ok {
				b, ok = take(n)
			}
			push(sym{s: string(b), isStr: op == 0x8d})
		case 'c', 'i': // GLOBAL, INST
			var module, name string
			if module, ok = line(); ok {
				name, ok = line()
			}
			if ok {
				if err := checkGlobal(module, name); err != nil {
					return err
				}
			}
			if op == 'i' && !popMark() {
				return fail(op, at, "INST without a mark")
			}
			push(sym{})
		case 0x93: // STACK_GLOBAL
			if len(stack) < 2 || !pop(0) {
				return fail(op, at, "STACK_GLOBAL needs two strings on the stack")
			}
			module, name := stack[len(stack)-2], stack[len(stack)-1]
			if !module.isStr || !name.isStr {
				return fail(op, at, "STACK_GLOBAL's module and name are not both strings")
			}
			if err := checkGlobal(module.s, name.s); err != nil {
				return err
			}
			if !pop(2) {
				return fail(op, at, "stack underflow")
			}
			push(sym{})
		case 0x82, 0x83, 0x84: // EXT1, EXT2, EXT4
			return fail(op, at, "the extension registry (EXT opcodes) names globals indirectly: refused")
		case 'P', 0x97: // PERSID, NEXT_BUFFER
			if op == 'P' {
				_, ok = line()
			}
			push(sym{})
		case 'Q', 0x85, 0x98: // BINPERSID, TUPLE1, READONLY_BUFFER: pop 1, push 1
			if !pop(1) {
				return fail(op, at, "stack underflow")
			}
			push(sym{})
		case 0x86, 'R', 0x81: // TUPLE2, REDUCE, NEWOBJ: pop 2, push 1
			if !pop(2) {
				return fail(op, at, "stack underflow")
			}
			push(sym{})
		case 0x87, 0x92: // TUPLE3, NEWOBJ_EX: pop 3, push 1
			if !pop(3) {
				return fail(op, at, "stack underflow")
			}
			push(sym{})
		case 'a', 'b', '0': // APPEND, BUILD, POP
			if !pop(1) {
				if op == '0' && popMark() { // POP of a mark
					break
				}
				return fail(op, at, "stack underflow")
			}
		case 's': // SETITEM
			if !pop(2) {
				return fail(op, at, "stack underflow")
			}
		case '2': // DUP
			if !pop(0) || len(stack) == 0 {
				return fail(op, at, "stack underflow")
			}
			push(stack[len(stack)-1])
		case 't', 'l', 'd', 0x91, 'o': // TUPLE, LIST, DICT, FROZENSET, OBJ: pop to the mark, push 1
			if !popMark() {
				return fail(op, at, "no mark")
			}
			push(sym{})
		case 'e', 'u', 0x90, '1': // APPENDS, SETITEMS, ADDITEMS: pop to the mark; POP_MARK
			if !popMark() {
				return fail(op, at, "no mark")
			}
			if op != '1' && !pop(0) || op != '1' && len(stack) == 0 {
				return fail(op, at, "no container below the mark")
			}
		case 'p', 'q', 'r', 0x94: // PUT, BINPUT, LONG_BINPUT, MEMOIZE
			var idx uint64
			switch op {
			case 'p':
				var s string
				if s, ok = line(); ok {
					idx, ok = parseIndex(s)
				}
			case 'q':
				idx, ok = uint(1)
			case 'r':
				idx, ok = uint(4)
			default:
				idx = uint64(len(memo))
			}
			if ok {
				if !pop(0) || len(stack) == 0 {
					return fail(op, at, "memoizing an empty stack")
				}
				memo[idx] = stack[len(stack)-1]
			}
		case 'g', 'h', 'j': // GET, BINGET, LONG_BINGET
			var idx uint64
			switch op {
			case 'g':
				var s string
				if s, ok = line(); ok {
					idx, ok = parseIndex(s)
				}
			case 'h':
				idx, ok = uint(1)
			default:
				idx, ok = uint(4)
			}
			if ok {
				v, found := memo[idx]
				if !found {
					return fail(op, at, "memo entry %d was never stored", idx)
				}
				push(v)
			}
		default:
			return fail(op, at, "not an opcode this reader knows")
		}
		if !ok {
			return fail(op, at, "its argument runs past the end of the pickle (%d bytes)", len(p))
		}
	}
}

// parseIndex parses a protocol-0 memo index.
func parseIndex(s string) (uint64, bool) {
	if s == "" || len(s) > 10 {
		return 0, false
	}
	var v uint64
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, v <= math.MaxUint32
}
