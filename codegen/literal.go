package codegen

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/rnc-dev/rnc/runtime"
	"github.com/rnc-dev/rnc/runtime/abi"
)

// enumNames are the runtime's names of enum values, by type and value:
// the epilogue kinds and element types come from package abi's
// vocabulary (runtime.EpiAdd is abi.Add, runtime.U8 is abi.U8; a plan
// has no Bias step: a step's bias is its Bias weight).
var enumNames = map[reflect.Type][]string{
	reflect.TypeOf(runtime.OpKind(0)): {"OpConv", "OpPool", "OpGlobalPool", "OpEltwise", "OpDense", "OpHead", "OpReorder", "OpZeroPad", "OpSoftmax", "OpCopy"},
	reflect.TypeOf(runtime.EpiOp(0)):  abiNames(abi.Ops()[:abi.Bias], func(k abi.Op) string { return "Epi" + strings.ToUpper(k.String()[:1]) + k.String()[1:] }),
	reflect.TypeOf(runtime.DType(0)):  abiNames(abi.DTypes(), func(d abi.DType) string { return strings.ToUpper(d.String()) }),
}

func abiNames[T any](vals []T, name func(T) string) []string {
	var out []string
	for _, v := range vals {
		out = append(out, name(v))
	}
	return out
}

// literal prints v (runtime plan data) as a Go composite literal, omitting
// zero fields; elide drops the element type inside slices.
func literal(v reflect.Value, elide bool) string {
	switch v.Kind() {
	case reflect.Ptr:
		if v.IsNil() {
			return "nil"
		}
		return "&" + literal(v.Elem(), false)
	case reflect.Struct:
		var parts []string
		t := v.Type()
		for i := 0; i < v.NumField(); i++ {
			f := v.Field(i)
			if !t.Field(i).IsExported() || f.IsZero() || f.Kind() == reflect.Func {
				continue
			}
			parts = append(parts, t.Field(i).Name+": "+literal(f, false))
		}
		body := "{" + strings.Join(parts, ", ") + "}"
		if elide {
			return body
		}
		return "runtime." + t.Name() + body
	case reflect.Slice:
		if v.IsNil() {
			return "nil"
		}
		et := v.Type().Elem()
		var parts []string
		for i := 0; i < v.Len(); i++ {
			parts = append(parts, literal(v.Index(i), true))
		}
		prefix := "[]" + typeName(et)
		sep := ", "
		if et.Kind() == reflect.Struct || et.Kind() == reflect.Ptr {
			sep = ",\n"
			if len(parts) > 0 {
				return prefix + "{\n" + strings.Join(parts, sep) + ",\n}"
			}
		}
		return prefix + "{" + strings.Join(parts, sep) + "}"
	case reflect.Array:
		var parts []string
		for i := 0; i < v.Len(); i++ {
			parts = append(parts, literal(v.Index(i), true))
		}
		return fmt.Sprintf("[%d]%s{%s}", v.Len(), typeName(v.Type().Elem()), strings.Join(parts, ", "))
	case reflect.String:
		return strconv.Quote(v.String())
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, v.Type().Bits())
	case reflect.Uint8:
		if names, ok := enumNames[v.Type()]; ok && int(v.Uint()) < len(names) {
			return "runtime." + names[v.Uint()]
		}
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.Int, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	}
	panic(fmt.Sprintf("literal: unsupported kind %s", v.Kind()))
}

func typeName(t reflect.Type) string {
	if t.Kind() == reflect.Ptr {
		return "*" + typeName(t.Elem())
	}
	if t.PkgPath() != "" {
		return "runtime." + t.Name()
	}
	return t.String()
}
