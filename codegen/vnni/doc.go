// Package vnni generates shape-specialized AVX-512 VNNI int8 direct-convolution kernels (Go assembly, via avo): uint8 activations × int8 weights accumulated exactly in int32 with VPDPBUSD, then an epilogue in float32 that computes runtime/abi's int8 arithmetic operation for operation, so that every kernel equals runtime.ConvU8 (the integer reference and portable kernel) bit for bit.
//
// # Data layouts (per image; batch is looped by the caller)
//
//   - Input, uint8 nChw16c: element (c, h, w) at ((c/16·H + h)·W + w)·16
//
//   - c%16, zero point 0 (a conv's input follows a ReLU: the padding
//     taps, not read, are q = 0 exactly). Pad lanes (channels past IC)
//     may hold anything: they meet zero weights.
//
//   - Weights, int8 OIhw4i16o4i (runtime.PackConvS8, runtime.S8Index): for
//     each 16-channel output block, 16-channel input block, kernel row,
//     kernel column and group of 4 input channels, one 64-byte vector
//     whose 4-byte lane o holds the weights of output channel 16·ocb + o
//     for the group's 4 input channels in order:
//
//     ((((ocb·ICB + icb)·KH + kh)·KW + kw)·4 + g)·64 + o·4 + k,  ic = 16·icb + 4·g + k
//
//     Channel padding is zero. Weights are −127..127 (abi.QuantizeS8).
//
//   - m, b: AccReal's per-channel factor (s_x·s_w[oc]) and real bias,
//     float32, OC rounded up to 16 (pad channels: any value; zero gives
//     outputs whose real value is 0 there). scale, shift: Affine's, the
//     same.
//
//   - res: the AddResidual operand, uint8 nChw16c with its own ResH ×
//     ResW, read at (oh·rs, ow·rs), rs ∈ {1, 2}; mul: the Mul operand,
//     uint8, laid out as out0.
//
//   - q: the parameter block of 12 int32 words (runtime.ConvU8Quant.Words):
//     the residual's and the gate's zero point and scale (float32 bits),
//     then per output its reciprocal scale (bits), zero point, −zero
//     point and 255 − zero point. Per-tensor parameters are run-time data,
//     not constants of the code: a recalibrated model runs on the same
//     kernels, and layers of one shape share one kernel.
//
//   - out0, out1: uint8 nChw16c, OH × OW, every lane of every block
//     written.
//
// # Kernel API
//
// Generate(ctx, name, spec) emits one function into a caller-provided
// *build.Context and returns its Tiling; goasm.Print prints the file. Every
// kernel has the Go signature (Signature, built by emit.MixedSignature)
//
//	func name(in *uint8, wt *int8, m, b, scale, shift *float32, res, mul *uint8, q *int32, out0, out1 *uint8, ocb0, ocb1, oh0, oh1 int)
//
// (ABI0, NOSPLIT, no CALL) and computes output rows [oh0, oh1) of
// output-channel blocks [ocb0, ocb1) of one image, ocb0 and ocb1
// multiples of Tiling.NB: the float32 kernels' call shape, so a plan
// splits it over threads the same way. Unused pointers may be nil.
//
// # Arithmetic (runtime/abi int8.go)
//
// The accumulator of output (oc, oh, ow) is Σ in·wt over the taps inside
// the image and all 16 lanes of every input block, exactly in int32:
// ConvSpec.Validate refuses a reduction of more than abi.MaxAccTerms
// (66,311) products (IC·KH·KW), so it cannot overflow. Then, per output
// element, in float32, each operation rounded on its own (no FMA:
// checkAsm refuses one):
//
//	v = f32(f32(acc)·m[oc]) + b[oc]               AccReal: VCVTDQ2PS, VMULPS, VADDPS
//	Relu        v = max(0, v), NaN kept            VMAXPS (v the second source)
//	AddResidual v = v + f32(q_r − z_r)·s_r         VPMOVZXBD, VPSUBD, VCVTDQ2PS, VMULPS, VADDPS
//	Mul         v = v · (f32(q_g − z_g)·s_g)       the same, VMULPS
//	Affine      v = f32(v·scale[oc]) + shift[oc]   VMULPS, VADDPS
//	Scale       v = f32(v·A) + B                   (constants of the kernel)
//	Store       out = clamp(cvt(v·inv) + z, 0, 255) VMULPS, VCVTPS2DQ, VPMAXSD, VPADDD, VPMOVUSDB
//
// cvt is VCVTPS2DQ under the default rounding (half to even) and gives
// MinInt32 for NaN and values outside int32 (so NaN stores 0); the store
// clamps below at −z, adds z, and narrows with unsigned saturation, which
// is the clamp of abi.QuantizeU8 (see Epilogue). The epilogue is an
// ordered list of conv.Steps: Relu, AddResidual (once, stride 1 or 2),
// Mul (once), Affine (once), Scale, and one or two Stores, the first to
// out0, the second to out1, the last step a Store (Caps: abi.ConvCaps
// without Sigmoid; the conv's bias is part of AccReal). ResNetV2's
// pre-activation block end is AddResidual, Store→out0, Affine, Relu,
// Store→out1.
//
// # Loop nest and register tile
//
// The kernels are the float32 generators' loop nest (direct.Nest: groups
// of NB output blocks, rows, register tiles along the row, runtime icb and
// kh loops, no padded copies at the borders) instantiated with 1-byte
// activations and weights (Nest.ActB, WtB) and this package's tile and
// epilogue (ISA). What differs is the innermost step: per kernel column
// and group of 4 input channels, NB weight vectors are loaded (Z31, Z30,
// …), and for each pixel its 4 input bytes are broadcast to a register
// (VPBROADCASTD, rotating over the registers left) and multiplied into
// each block's accumulator (VPDPBUSD W, x, acc: 64 multiply-adds). The
// broadcast needs a register of its own: VPDPBUSD's unsigned operand is
// its register source and its signed one the operand that may be a
// {1to16} broadcast from memory, the wrong way round for u8 inputs and s8
// weights. With IC ≤ 16 (one input block) only the ceil(IC/4) groups
// holding a real channel are emitted. The reduction is never chunked (the
// float32 kernels' chunked order keeps partial sums in out0, which is
// uint8 here); int8 weights are a quarter of float32's, so a group's
// weights fit L2 without it (ResNet's largest: 2 blocks × 32 × 9 taps ×
// 256 B = 144 KiB).
//
// Tiling (ChooseTiling; ConvSpec.NB/URW/Prefetch override): the float32
// generator's cost model, whose register budget is the same (NB·URW
// accumulators ≤ 28, NB weights, ≥ 2 broadcasts; Z31 and Z30 are the
// epilogue's zero and scratch): NB ∈ {4, 3, 2, 1} dividing OCB, URW ≤
// 6/8/8/12; one VPDPBUSD per accumulator and 4-channel step where the
// float32 kernel has one FMA per channel. It picks 4×6 at widths 56 and
// 28 and 2×7 at 14 and 7, and weight prefetch where the float32 kernels
// prefetch. Against the alternatives (4×5, 2×7, 2×14, 3×8, 1×12, with and
// without prefetch; BenchmarkLayers -bench-tilings) the choice is within
// the run-to-run noise of the best on every ResNet50V2 layer.
//
// # Measured (Zen 4 EPYC, 1 core, shared 2-core machine)
//
//	go test ./codegen/vnni -run '^$' -bench Layers -benchtime 1x -v [-bench-min] [-bench-tilings 4x6,2x7p] [-bench-filter RE]
//
// generates the int8 kernel and the float32 avx512 kernel of each of the
// 26 distinct conv shapes of Keras ResNet50V2 (224×224, batch 1, the
// float32 stem left out) and two peak loops (24 independent VPDPBUSD or
// VFMADD231PS zmm per iteration) into one module, times each int8 kernel
// right after the float32 kernel of its layer (31 runs each, median,
// weights warm) and logs the table below: GOP/s counts 2·MACs over the
// whole kernel window (int8 multiply-adds, float32 FLOPs), %peak only the
// taps inside the image, against the peak loop of the same run. Run of
// 2026-12-03 (commit of this package):
//
//	peak: int8 470.6 GOP/s (VPDPBUSD zmm), float32 116.2 GFLOP/s (VFMADD231PS zmm): 4.05x
//	layer                            n | int8          µs    GOP/s  %peak | float32        µs  GFLOP/s  %peak | f32/int8
//	c2 1x1 64->64                    1 | 4x6         73.8    348.0  74.0% | 4x6/4       223.7    114.8  98.8% |   3.03x
//	c2 3x3 64                        2 | 4x6        513.6    450.2  93.4% | 4x6/4      2042.6    113.2  95.1% |   3.98x
//	c2 1x1 64->256                   2 | 4x6        434.6    236.4  50.2% | 4x6/4      1128.8     91.0  78.4% |   2.60x
//	c2 1x1 256->64                   2 | 4x6        241.8    424.9  90.3% | 4x6/16      947.9    108.4  93.3% |   3.92x
//	c2 sc 64->256                    1 | 4x6        299.4    343.2  72.9% | 4x6/4       962.8    106.7  91.9% |   3.22x
//	c2 3x3/2 64 56->28               1 | 4x6        131.5    439.6  91.2% | 4x6/4       511.9    112.9  94.9% |   3.89x
//	c2 1x1 64->256 @28 +res/2        1 | 4x6        110.0    233.5  49.6% | 4x6/4       281.5     91.3  78.6% |   2.56x
//	c3 1x1 256->128                  1 | 4x6p       123.1    417.4  88.7% | 4x6p/16     492.7    104.3  89.8% |   4.00x
//	c3 3x3 128                       3 | 4x6        520.7    444.0  89.9% | 4x6/8      2006.6    115.2  94.5% |   3.85x
//	c3 1x1 128->512                  3 | 4x6p       339.9    302.3  64.3% | 4x6p/8     1107.9     92.8  79.8% |   3.26x
//	c3 1x1 512->128                  3 | 4x6p       238.9    430.1  91.4% | 4x6p/32     960.0    107.0  92.1% |   4.02x
//	c3 sc 256->512                   1 | 4x6p       561.2    366.2  77.8% | 4x6p/16    1834.5    112.0  96.4% |   3.27x
//	c3 3x3/2 128 28->14              1 | 2x7        119.1    485.3  98.3% | 2x7/8       480.8    120.2  98.6% |   4.04x
//	c3 1x1 128->512 @14 +res/2       1 | 2x7p        81.1    317.0  67.4% | 2x7p/8      249.1    103.1  88.8% |   3.07x
//	c4 1x1 512->256                  1 | 2x7p       116.0    443.0  94.1% | 2x7p/32     450.9    114.0  98.1% |   3.89x
//	c4 3x3 256                       5 | 2x7p       463.8    498.5  96.1% | 2x7p/1     1923.2    120.2  93.9% |   4.15x
//	c4 1x1 256->1024                 5 | 2x7p       264.0    389.3  82.7% | 2x7p/16    1002.0    102.6  88.3% |   3.80x
//	c4 1x1 1024->256                 5 | 2x7p       229.1    448.6  95.3% | 2x7p/64     936.3    109.8  94.5% |   4.09x
//	c4 sc 512->1024                  1 | 2x7p       463.7    443.2  94.2% | 2x7p/1     2198.7     93.5  80.5% |   4.74x
//	c4 3x3/2 256 14->7               1 | 2x7p       112.3    514.9  99.2% | 2x7p/1      462.0    125.1  97.7% |   4.12x
//	c4 1x1 256->1024 @7 +res/2       1 | 2x7p        65.9    389.6  82.8% | 2x7p/1      258.4     99.4  85.6% |   3.92x
//	c5 1x1 1024->512                 1 | 2x7p       111.2    462.0  98.2% | 2x7p/1      502.7    102.2  88.0% |   4.52x
//	c5 3x3 512                       3 | 2x7p       405.3    570.5  99.2% | 2x7p/1     1758.7    131.5  92.6% |   4.34x
//	c5 1x1 512->2048                 3 | 2x7p       241.3    425.9  90.5% | 2x7p/1     1032.1     99.6  85.7% |   4.28x
//	c5 1x1 2048->512                 2 | 2x7p       221.7    463.6  98.5% | 2x7p/1     1129.8     91.0  78.3% |   5.10x
//	c5 sc 1024->2048                 1 | 2x7p       447.1    459.6  97.7% | 2x7p/1     2096.3     98.0  84.4% |   4.69x
//	total (×n): int8 15.66 ms, 429.4 GOP/s (87.4% of peak); float32 61.41 ms, 109.5 GFLOP/s (90.2%);
//	            int8 time / float32 time 0.255 (3.92x faster)
//
// Other runs gave totals of 15.3–15.9 ms against 61.4–62.8 ms (ratio
// 0.244–0.255); the machine is shared, single layers vary by ±10%. The
// 3×3 layers and the 1×1 layers of ≥ 256 input channels run at 88–99%
// of the VNNI peak; the 1×1 layers of 64 or 128 input channels, above all
// with ResNetV2's residual + two-store epilogue, at 50–75%: 16 or 32
// VPDPBUSD per accumulator against ≈ 21 epilogue instructions (AccReal 3,
// dequantized residual 5, each store 5, affine 2, relu 1), which no
// tiling changes. Dropping the store's upper clamp (VPMOVUSDB saturates)
// gained 4% on those layers; storing through a register instead of
// VPMOVUSDB's memory form, nothing measurable.
//
// # Tests
//
// TestKernels generates 209 kernels (IC 3–40 including every residue mod
// 4, OC not multiples of 16, 1×1 to 16×17 maps and 1-pixel maps,
// 1×1/3×3/7×7 kernels at stride 1, 2 and mixed, asymmetric padding, every
// combination of relu, add at stride 1/2, mul, affine and scale with one
// or two stores, forced tilings with and without prefetch, the largest
// reduction abi.MaxAccTerms allows for a 3×3 kernel) into one module,
// runs each on up to six input sets (random; random pad lanes when IC is
// not a multiple of 16; all 255 × 127;
// all 255 × −127; scales making ±Inf, NaN and int32 overflow; biases at
// the edges of VCVTPS2DQ's range) with inputs against PROT_NONE guard
// pages and outputs between sentinel bytes, over several (block range ×
// row range) pieces, and compares every output byte with runtime.ConvU8.
// It skips, saying which feature is missing, on a CPU without AVX-512
// VNNI (kerneltest.VNNI).
package vnni
