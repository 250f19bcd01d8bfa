package dsl

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/rnc-dev/rnc/ir"
)

// Values of the language: int64, float64, bool, string, []any (list),
// *ir.Value (a tensor), none{}, and *modelValue.
type none struct{}

// modelValue is what the Model builtin returns.
type modelValue struct {
	inputs, outputs []*ir.Value
	name            string
}

func typeName(v any) string {
	switch v.(type) {
	case int64:
		return "int"
	case float64:
		return "float"
	case bool:
		return "bool"
	case string:
		return "string"
	case []any:
		return "list"
	case *ir.Value:
		return "tensor"
	case none:
		return "none"
	case *modelValue:
		return "model"
	}
	return fmt.Sprintf("%T", v)
}

// maxShow bounds the text show prints, so that a message about a large
// list stays short and costs little.
const maxShow = 200

// show prints a value for messages, as the source would write it,
// shortened to about maxShow bytes.
func show(v any) string {
	var b strings.Builder
	writeValue(&b, v)
	return clip(b.String(), maxShow)
}

func writeValue(b *strings.Builder, v any) {
	switch x := v.(type) {
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		s := strconv.FormatFloat(x, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eEn") {
			s += ".0"
		}
		b.WriteString(s)
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case string:
		b.WriteString(strconv.Quote(clip(x, maxShow)))
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if b.Len() > maxShow {
				break
			}
			if i > 0 {
				b.WriteString(", ")
			}
			writeValue(b, e)
		}
		b.WriteByte(']')
	case *ir.Value:
		if x.Def != nil {
			b.WriteString("tensor " + x.Def.Name() + " " + x.Type.KerasShape())
		} else {
			b.WriteString("tensor")
		}
	case none:
		b.WriteString("none")
	case *modelValue:
		b.WriteString("model " + strconv.Quote(x.name))
	default:
		fmt.Fprint(b, v)
	}
}

func truthy(v any) (bool, bool) {
	b, ok := v.(bool)
	return b, ok
}

// equal compares two values; *n counts the elements compared, and it
// stops (false) once *n passes limit.
func equal(a, b any, n *int, limit int) bool {
	*n++
	if *n > limit {
		return false
	}
	switch x := a.(type) {
	case int64:
		switch y := b.(type) {
		case int64:
			return x == y
		case float64:
			return float64(x) == y
		}
	case float64:
		switch y := b.(type) {
		case int64:
			return x == float64(y)
		case float64:
			return x == y
		}
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case none:
		_, ok := b.(none)
		return ok
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i], n, limit) {
				return false
			}
		}
		return true
	case *ir.Value:
		y, ok := b.(*ir.Value)
		return ok && x == y
	}
	return false
}
