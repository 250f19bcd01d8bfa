// Package ir is rnc's tensor-graph IR: ops, typed values, weights, shape inference, Verify, the text form and its parser, DOT and Keras summaries.
//
// A Graph is a list of ops in topological order. Every value has a Type:
// dtype, per-image dimensions (the batch N is symbolic and implicit) and a
// Layout. Every op keeps the Keras layer names it came from. Weights are
// symbolic: ops name entries of the graph's weight program, whose leaves are
// tensors of the weight file and whose other entries (BN folding, packing)
// runtime executes once at load time.
//
// The ops are declared once, in ops.go; the printer, the parser, Verify and
// the interpreter (package ir/interp) all read that table.
package ir
