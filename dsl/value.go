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

// show prints a value for messages, as the source would write it.
func show(v any) string {
	switch x := v.(type) {
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		s := strconv.FormatFloat(x, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eEn") {
			s += ".0"
		}
		return s
	case bool:
		return strconv.FormatBool(x)
	case string:
		return strconv.Quote(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = show(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case *ir.Value:
		if x.Def != nil {
			return "tensor " + x.Def.Name() + " " + x.Type.KerasShape()
		}
		return "tensor"
	case none:
		return "none"
	case *modelValue:
		return "model " + strconv.Quote(x.name)
	}
	return fmt.Sprint(v)
}

func truthy(v any) (bool, bool) {
	b, ok := v.(bool)
	return b, ok
}

func equal(a, b any) bool {
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
			if !equal(x[i], y[i]) {
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
