// Package vnni generates shape-specialized AVX-512 VNNI int8 direct-convolution kernels (u8 activations × s8 weights → int32 with VPDPBUSD, epilogue in float32 as runtime/abi's int8 arithmetic), bit-exact against runtime.ConvU8.
package vnni
