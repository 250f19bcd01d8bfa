// Package dsl parses rnc's model language (.rn files) and expands macros and models into a Keras-level ir.Graph.
//
// The language mirrors the Keras code of tf.keras.applications: macros with
// positional and named parameters and defaults; int, float, bool, string,
// list and tensor values; arithmetic, comparison and string concatenation;
// a tensor's Keras shape, x.shape ([none, H, W, C]); if / else if / else;
// `for i in a .. b` (inclusive, empty when b < a); `return`; `import
// "lib/resnet.rn"`; and one `model` whose parameters can be overridden from
// the command line. An expression statement is a call: any other would
// compute a value to no effect, an error (unused.go). Layer builtins
// (Conv2D, BatchNormalization, ...) are named and defaulted as Keras names
// them, and unnamed layers get Keras's automatic names. `rnc grammar`
// prints the EBNF, `rnc help builtins` the builtins (BuiltinHelp).
//
// A model declares its images' pixel convention on its Input:
// `Input(shape = s, preprocessing = "tf")`, one of Keras's
// preprocess_input modes "tf", "caffe" and "torch", "raw" (0..255 as they
// are), or "meanstd" with `mean = [r, g, b], std = [r, g, b]` on the 0..1
// scale (ir/preprocess.go defines them); the generated package's
// Preprocess applies it.
//
// No source, however hostile, makes loading hang, exhaust memory or
// overflow the stack: the lexer and parser (lex.go, parse.go) work in
// linear time and memory, and the source size, the nesting depth, the
// evaluation work, the lists and strings built, the layers and the tensor
// sizes each have a budget (expand.go, nesting.go) whose error names it
// and where it ran out.
package dsl
