// Package dsl parses rnc's model language (.rn files) and expands macros and models into a Keras-level ir.Graph.
//
// The language mirrors the Keras code of tf.keras.applications: macros with
// positional and named parameters and defaults; int, float, bool, string,
// list and tensor values; arithmetic, comparison and string concatenation;
// if / else if / else; `for i in a .. b` (inclusive, empty when b < a);
// `return`; `import "lib/resnet.rn"`; and one `model` whose parameters can be
// overridden from the command line. Layer builtins (Conv2D,
// BatchNormalization, ...) are named and defaulted as Keras names them, and
// unnamed layers get Keras's automatic names. `rnc grammar` prints the EBNF.
package dsl
