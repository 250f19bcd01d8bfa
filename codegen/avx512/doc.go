// Package avx512 generates shape-specialized AVX-512 direct-convolution
// kernels (Go assembly, via avo used as a library) for the ResNet convolution
// layers, and holds their pure-Go twin (RefConv) used by the tests.
//
// # Data layouts (per image; batch is looped by the caller)
//
//   - Activations, NCHW16c: element (c, h, w) at ((c/16*H + h)*W + w)*16 + c%16.
//     Channel counts are padded to a multiple of 16; pad lanes hold zeros.
//     Kernels read pad lanes and write all 16 lanes of every output block
//     (pad lanes come out as zeros because padded weights, bias, scale and
//     shift are zero).
//   - Weights for blocked input, OIhw16i16o: (ocb, icb, kh, kw, i, o)
//     contiguous in that order, zero-padded. PackOIHW converts from OIHW.
//   - First layer (ConvSpec.FirstNHWC): input NHWC with IC ≤ 16 channels,
//     element (h, w, c) at (h*W + w)*IC + c, not padded; weights Ohwi16o:
//     (ocb, kh, kw, ic, o).
//   - bias, scale, shift: OC rounded up to 16 floats, zero-padded.
//   - Residual (AddResidual): NCHW16c with its own ResH × ResW, read at
//     (oh*rs, ow*rs), rs ∈ {1, 2} (ResNetV2's MaxPooling2D(1, 2) shortcut).
//
// # Epilogue
//
// ConvSpec.Epilogue is an ordered list of steps applied to each fp32
// accumulator before/between the stores: Bias (+bias[oc]), Relu,
// AddResidual, Store→out0 (to out0), Affine (x*scale[oc]+shift[oc]), Store→out1 (to
// out1), Sigmoid (codegen/internal/emit.Sigmoid, scratch Z28, Z29), Mul
// (×mul[oc, oh, ow], same layout as out0) and Scale (x*A + B; A, B and the
// sigmoid's constants live in the kernel's read-only table NAME_c<>). Any
// order is allowed (Store→out0 exactly once, Store→out1, AddResidual and Mul at
// most once), e.g. ResNetV2 block end: Bias, AddResidual, Store→out0, Affine,
// Relu, Store→out1 (the next block's pre-activation BN+ReLU as a second
// output); ResNet v1: Bias, AddResidual, Relu, Store→out0; exclusive gating:
// Bias, Sigmoid, Store→out0, Scale(−1, 1), Mul, Store→out1 (g and x·(1−g)) and
// Bias, Mul, AddResidual, Relu, Store→out0 (F·g + x·(1−g)).
//
// # Kernel API, granularity and calling convention
//
// Generate(ctx, name, spec) emits one function into a caller-provided
// *build.Context (many kernels may share one file; no ctx.Package needed)
// and returns its Tiling. Print (or Compile + avo's printers) produces the
// .s file and the Go stubs. Every kernel has the Go signature
//
//	func name(in, wt, bias, res, mul, scale, shift, out0, out1 *float32, ocb0, ocb1, oh0, oh1 int)
//
// (ABI0, NOSPLIT, 96-byte frame, no CALL) and computes output rows
// [oh0, oh1) of output-channel blocks [ocb0, ocb1) of one image; ocb0 and
// ocb1 must be multiples of Tiling.NB (which divides OCB). Unused pointers
// may be nil. Calls on disjoint (block range × row range) rectangles write
// disjoint memory, so a driver can split a layer over threads by oc-block
// groups and/or row ranges. res and mul may alias an output (in place)
// unless the tiling is chunked (ICC < ICB): then out0 holds partial sums
// between reduction chunks. A kernel call is not preemptible; keep calls to a few
// ms (a whole ResNet layer is ≤ 1.5 ms).
//
// Loop nest inside a call (all sizes, strides and offsets are immediates):
//
//	for each group of NB oc blocks in [ocb0, ocb1):
//	  for each reduction chunk of ICC input blocks (one chunk unless chunked):
//	    for oh in [oh0, oh1):
//	      khLo, khHi = valid kernel rows of oh (runtime: top/bottom borders)
//	      for each tile of URW output pixels along the row (see borders):
//	        acc[NB][URW] = 0 (or partial sums from out0, chunked)
//	        for icb in chunk:            // runtime loop
//	          for kh in [khLo, khHi):    // runtime loop (no loop for 1×1)
//	            for kw:                  // unrolled
//	              for lane in 0..15:     // unrolled (IC lanes for NHWC)
//	                w[j] = load weights (ocb+j, icb, kh, kw, lane, 0..15)   j < NB
//	                for p < URW: b = vbroadcastss in[icb, ih, iw(p)+kw, lane]
//	                             acc[j][p] += b * w[j]                  j < NB
//	        epilogue steps on acc (or store partial sums, chunked non-last)
//
// Registers are physical (avo cannot spill): accumulators Z0..Z(NB*URW-1),
// weights Z31, Z30, ..., broadcasts rotate over the rest (≥ 2); GP:
// R8–R13 hot-loop pointers/counters, AX/BX/CX/DX tile pointers (input,
// out0, out1, res), SI tile counter, DI kh count, R14 row weights, R15
// prefetch offset. Reuse: each weight vector loaded serves URW pixels and
// each broadcast input scalar NB blocks, from registers. Across the tiles
// and rows of a call the group's weights (NB × ICB × KH×KW KiB, ≤ 256 KiB
// unless chunked) are re-read from L2 (a chunk's ≤ 40 KiB from L1), and
// the input is re-read once per oc group (NB=4 makes that once per layer
// for the 64-channel-output layers, whose inputs are the largest).
//
// Borders are never copied to a padded buffer. Left/right: a row is split
// into tiles of URW pixels (the last one narrower); a tile whose pixels all
// see the full kernel width is "interior" and runs of interior tiles share
// one loop body; every other tile gets its own unrolled body in which the
// out-of-range (pixel, kw) taps are simply not emitted (and weight loads of
// a kw no pixel uses are dropped). Top/bottom: the row prologue computes
// khLo = max(0, PadT − oh*SH) and khHi = min(KH, H + PadT − oh*SH) and runs
// the kh loop over that range only.
//
// # Tiling rule (ChooseTiling; ConvSpec.NB/URW/ICC/EmbedBcast/Prefetch override)
//
//   - NB ∈ {4, 3, 2, 1} dividing OCB, URW ≤ 6/8/8/12 for NB = 4/3/2/1
//     (NB*URW + NB + ≥ 2 broadcast registers ≤ 32). Each candidate's cost
//     for one output row over all oc blocks is modelled as
//     (OCB/NB) × (Σ_tiles (max(NB*w/2, 5, loads/2) + 1) + 2 if there is a
//     narrower tail tile), w the tile width: two FMA pipes; ≥ 10
//     independent accumulators to hide the 4-cycle FMA latency; two loads
//     per cycle; per-tile overhead; an extra unrolled body for the tail.
//     The cheapest wins; ties prefer larger NB (fewer broadcasts per FMA),
//     then larger URW. The constants were fitted to measurements (see
//     -bench-variants): for ResNet this picks 4×6 (24 accumulators, MLAS's
//     4 blocks × 6 pixels) at widths 112/56/28 and 2×7 at 14 and 7, each
//     within ≈ 2% of the best measured tiling of its layer. Wider tiles were
//     slower: 2×14 by 2–10%, oneDNN-style 1×28 with embedded broadcast by
//     5–15%, 4×7 with embedded broadcast by 10–20%.
//   - Reduction chunking (ICC < ICB): when a group's weights exceed 256 KiB
//     and its partial sums over all rows fit 64 KiB, chunks of ≤ 40 KiB of
//     weights are processed for all rows before the next chunk (oneDNN's
//     "reduce over ic in chunks"), so each weight slice stays in L1/L2 for
//     every row.
//   - Weight-streaming layers (weights ≥ 1 MiB and ≥ 10 KiB per output
//     pixel, i.e. ResNet's 7×7 layers, its 3×3 256 at 14×14 and the
//     512→1024 shortcut): one input block per chunk and software prefetch
//     (PREFETCHT1) of the next chunk spread evenly over the chunk's rows
//     (see below); 1×1 convs of ≥ 128 KiB of weights on ≤ 28×28 maps
//     prefetch the next oc group the same way.
//   - 1×1 stride-1 convolutions use the same kernel (a GEMM whose N is the
//     row of OW pixels). Flattening rows into one long pixel range was not
//     needed: ResNet's widths (7 … 56) tile with little waste and the 1×1
//     layers already run at 93–100% of peak when their epilogue is light.
//
// # Measured (Zen 5 EPYC, 1 core, ≈ 4.1 GHz, peak 264 GFLOP/s)
//
// Command:
//
//	go test ./codegen/avx512 -run TestBenchLayers -v -bench-layers [-bench-mode coldw] [-bench-variants] [-bench-filter RE]
//
// It generates the kernels of the 27 distinct conv shapes of Keras
// ResNet50V2 (224×224, batch 1; 53 conv layers) into a temporary module,
// runs each over its whole output 51 times (-bench-reps) and reports the
// median and minimum time, GFLOP/s = 2×MACs/time with MACs counted over
// the full KH×KW window (the usual model FLOP count; "eff" counts only taps
// inside the image), and the multiplicity-weighted total. Default mode:
// everything cached (weights warm). -bench-mode coldw: every run uses a
// different copy of the weights (≥ 96 MiB of copies), so weights come from
// DRAM while activations stay cached, as in a real network run.
//
// Measured 2026-11-27 on an otherwise idle machine (51 runs per layer; "p"
// in the tiling: weight prefetch):
//
//	layer                        n tiling  warm µs GFLOP/s  %peak   eff% | coldw µs GFLOP/s  %peak
//	stem 7x7/2 3->64             1 4x6/1     867.8   272.0 103.0% 101.5% |    908.1   259.9  98.5%
//	c2 1x1 64->64                1 4x6/4      99.3   258.7  98.0%  98.0% |    103.7   247.7  93.8%
//	c2 3x3 64                    2 4x6/4     869.8   265.8 100.7%  98.3% |    921.2   251.0  95.1%
//	c2 1x1 64->256               2 4x6/4     461.9   222.5  84.3%  84.3% |    473.4   217.1  82.2%
//	c2 1x1 256->64               2 4x6/16    389.9   263.6  99.8%  99.8% |    390.9   262.9  99.6%
//	c2 sc 64->256                1 4x6/4     399.6   257.1  97.4%  97.4% |    391.9   262.2  99.3%
//	c2 3x3/2 64 56->28           1 4x6/4     220.2   262.5  99.4%  97.1% |    232.1   249.0  94.3%
//	c2 1x1 64->256 @28 +res/2    1 4x6/4     111.1   231.2  87.6%  87.6% |    116.3   220.9  83.7%
//	c3 1x1 256->128              1 4x6p/16    199.4   257.7  97.6%  97.6% |    211.5   243.0  92.0%
//	c3 3x3 128                   3 4x6/8     842.8   274.3 103.9%  99.0% |    883.8   261.6  99.1%
//	c3 1x1 128->512              3 4x6p/8    419.5   245.0  92.8%  92.8% |    431.3   238.2  90.2%
//	c3 1x1 512->128              3 4x6p/32    412.3   249.2  94.4%  94.4% |    424.4   242.2  91.7%
//	c3 sc 256->512               1 4x6p/16    800.4   256.8  97.3%  97.3% |    825.7   248.9  94.3%
//	c3 3x3/2 128 28->14          1 2x7/8     219.2   263.7  99.9%  95.2% |    252.7   228.7  86.6%
//	c3 1x1 128->512 @14 +res/2   1 2x7p/8    101.5   253.0  95.8%  95.8% |    101.9   252.2  95.5%
//	c4 1x1 512->256              1 2x7p/32    192.7   266.6 101.0% 101.0% |    200.4   256.4  97.1%
//	c4 3x3 256                   5 2x7p/1    815.9   283.4 107.3%  97.4% |    873.2   264.8 100.3%
//	c4 1x1 256->1024             5 2x7p/16    397.0   258.8  98.0%  98.0% |    417.1   246.3  93.3%
//	c4 1x1 1024->256             5 2x7p/64    387.9   264.9 100.3% 100.3% |    414.3   248.0  93.9%
//	c4 sc 512->1024              1 2x7p/1    792.1   259.5  98.3%  98.3% |    803.1   255.9  96.9%
//	c4 3x3/2 256 14->7           1 2x7p/1    223.8   258.3  97.8%  88.8% |    233.3   247.8  93.9%
//	c4 1x1 256->1024 @7 +res/2   1 2x7p/1    103.9   247.3  93.7%  93.7% |    120.9   212.5  80.5%
//	c5 1x1 1024->512             1 2x7p/1    205.0   250.7  95.0%  95.0% |    208.8   246.1  93.2%
//	c5 3x3 512                   3 2x7p/1    800.9   288.7 109.4%  89.5% |    827.0   279.6 105.9%
//	c5 1x1 512->2048             3 2x7p/1    416.3   246.8  93.5%  93.5% |    428.0   240.1  91.0%
//	c5 1x1 2048->512             2 2x7p/1    408.1   251.8  95.4%  95.4% |    416.4   246.8  93.5%
//	c5 sc 1024->2048             1 2x7p/1    824.1   249.4  94.5%  94.5% |    836.4   245.7  93.1%
//
//	warm:  26.30 ms/image (medians; 25.94 from minima), 265 GFLOP/s nominal (6.96 GFLOP),
//	       254 GFLOP/s executed (6.67 GFLOP without padding taps), 96% of peak
//	coldw: 27.46 ms/image (26.66 from minima), 254 GFLOP/s nominal, 243 executed, 92% of peak
//
// "%peak" uses the nominal FLOPs; "eff%" only the taps inside the image
// (some rows exceed 100%: the core clocks above the 4.1 GHz behind the
// 264 GFLOP/s figure). ResNet50V2's 53 conv layers take ≈ 26.3 ms (warm)
// to ≈ 27.5 ms (weights from DRAM) per image on one core, against ONNX
// Runtime's 31 ms for the whole model. Under load from other processes on
// the 2-core machine the medians vary by ±10% (the minima much less).
//
// What limits the 7×7 layers: at batch 1 each weight is used by only 49
// output pixels (24.5 FLOP per weight byte) and, in a network run, comes
// from DRAM (1–9.4 MiB per layer; ResNet50V2 has 89 MiB of conv weights,
// 3× the L3). With cached weights these layers run at 89–95% of peak
// (executed FLOPs). The weights must stream at ≈ 12 GB/s (c5 3×3: 9.4 MiB
// in 0.78 ms of compute; memmove on this machine reads ≈ 22 GB/s), but the
// demand of the plain order is bursty — a chunk's weights are needed at
// FMA speed (≈ 18 B/cycle) in its first row and not at all in the other
// six — and reached only ≈ 8–9 GB/s (c5 3×3: 1.15 ms). The kernels process
// one input block per chunk and prefetch (PREFETCHT1) evenly: every row
// prefetches, at the address of each weight it loads, plus the distance to
// the next chunk plus (row − first row) × distance/OH, so over a chunk's
// rows the window's leading edge sweeps the next chunks at a constant rate.
// With weights from DRAM that took c5 3×3 from 1.11–1.14 ms (prefetch of
// the whole next chunk during the first row only) to 0.79–0.83 ms and the
// strided 14→7 3×3 from 310–322 to 225–237 µs; whole ResNet50V2 (`rnc
// bench`, same run, alternating) from 26.5–26.7 to 24.9–25.2 ms. The same
// prefetch of the next oc group helps the 1×1 convs of ≥ 128 KiB of weights
// on ≤ 28×28 maps (4–10% with weights from DRAM; ResNet50V2 a further
// 0.1–0.3 ms) and hurts on larger maps, where the prefetched group competes
// in L2 with the current one and the input (conv.Spec.PF). Left: streaming
// the next layer's weights during the compute-bound 56×56/28×28 layers,
// which leave the memory bus idle, or batch > 1.
//
// # Tests
//
// TestKernels generates ~220 kernels (channels 1–64 incl. 3/8/24/40,
// NHWC first layer, sizes 1×1 … 16×17, strides 1/2 and mixed, kernels
// 1/3/7, asymmetric pads, every epilogue above plus a reordered one,
// forced tilings incl. chunked/embedded/prefetch) into one standalone
// module (module kt, stdlib only), builds it once and runs it: every input
// lies against a PROT_NONE guard page (after it, then before it), outputs
// are surrounded by NaN-payload sentinels that must survive, each kernel is
// called over several (block range × row range) pieces plus empty ranges,
// and the result is compared with RefConv (max abs diff ≤ 1e-5 × max(1,
// max|ref|)). TestRefConvPlain checks RefConv and PackOIHW against a plain
// CHW/HWC convolution. Instruction checks: every kernel has VFMADD231PS and
// no CALL.
package avx512
