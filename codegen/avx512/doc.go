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
// AddResidual, Store0 (to out0), Affine (x*scale[oc]+shift[oc]), Store1 (to
// out1), Sigmoid (codegen/internal/emit.Sigmoid, scratch Z28, Z29), Mul
// (×mul[oc, oh, ow], same layout as out0) and Scale (x*A + B; A, B and the
// sigmoid's constants live in the kernel's read-only table NAME_c<>). Any
// order is allowed (Store0 exactly once, Store1, AddResidual and Mul at
// most once), e.g. ResNetV2 block end: Bias, AddResidual, Store0, Affine,
// Relu, Store1 (the next block's pre-activation BN+ReLU as a second
// output); ResNet v1: Bias, AddResidual, Relu, Store0; exclusive gating:
// Bias, Sigmoid, Store0, Scale(−1, 1), Mul, Store1 (g and x·(1−g)) and
// Bias, Mul, AddResidual, Relu, Store0 (F·g + x·(1−g)).
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
//     (PREFETCHT1) of the next chunk during the first row of each chunk.
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
// Measured 2026-11-27 on an otherwise idle machine (51 runs per layer):
//
//	layer                        n tiling  warm µs GFLOP/s  %peak   eff% | coldw µs GFLOP/s  %peak
//	stem 7x7/2 3->64             1 4x6/1     864.8   272.9 103.4% 101.8% |    883.8   267.1 101.2%
//	c2 1x1 64->64                1 4x6/4      99.3   258.6  98.0%  98.0% |    103.9   247.3  93.7%
//	c2 3x3 64                    2 4x6/4     878.2   263.3  99.7%  97.4% |    888.7   260.2  98.5%
//	c2 1x1 64->256               2 4x6/4     458.4   224.2  84.9%  84.9% |    462.9   222.0  84.1%
//	c2 1x1 256->64               2 4x6/16    393.0   261.5  99.1%  99.1% |    396.8   259.0  98.1%
//	c2 sc 64->256                1 4x6/4     397.1   258.8  98.0%  98.0% |    417.4   246.2  93.3%
//	c2 3x3/2 64 56->28           1 4x6/4     222.4   259.9  98.5%  96.1% |    234.3   246.7  93.5%
//	c2 1x1 64->256 @28 +res/2    1 4x6/4     113.7   226.0  85.6%  85.6% |    116.5   220.5  83.5%
//	c3 1x1 256->128              1 4x6/16    197.6   260.1  98.5%  98.5% |    205.0   250.7  94.9%
//	c3 3x3 128                   3 4x6/8     860.2   268.8 101.8%  97.0% |    873.2   264.8 100.3%
//	c3 1x1 128->512              3 4x6/8     419.0   245.2  92.9%  92.9% |    427.4   240.5  91.1%
//	c3 1x1 512->128              3 4x6/32    386.5   265.9 100.7% 100.7% |    400.0   256.9  97.3%
//	c3 sc 256->512               1 4x6/16    784.2   262.1  99.3%  99.3% |    811.7   253.2  95.9%
//	c3 3x3/2 128 28->14          1 2x7/8     214.0   270.1 102.3%  97.5% |    255.2   226.5  85.8%
//	c3 1x1 128->512 @14 +res/2   1 2x7/8     104.2   246.5  93.4%  93.4% |    115.6   222.2  84.2%
//	c4 1x1 512->256              1 2x7/32    196.3   261.7  99.1%  99.1% |    211.0   243.6  92.3%
//	c4 3x3 256                   5 2x7p/1    823.4   280.8 106.4%  96.5% |    886.7   260.8  98.8%
//	c4 1x1 256->1024             5 2x7/16    398.3   258.0  97.7%  97.7% |    443.2   231.9  87.8%
//	c4 1x1 1024->256             5 2x7/64    399.7   257.1  97.4%  97.4% |    423.1   242.9  92.0%
//	c4 sc 512->1024              1 2x7p/1    811.0   253.4  96.0%  96.0% |    818.0   251.3  95.2%
//	c4 3x3/2 256 14->7           1 2x7p/1    212.7   271.8 102.9%  93.4% |    300.2   192.5  72.9%
//	c4 1x1 256->1024 @7 +res/2   1 2x7p/1    105.7   242.9  92.0%  92.0% |    133.6   192.3  72.9%
//	c5 1x1 1024->512             1 2x7p/1    205.5   250.1  94.7%  94.7% |    221.2   232.3  88.0%
//	c5 3x3 512                   3 2x7p/1    775.0   298.3 113.0%  92.5% |   1147.0   201.6  76.4%
//	c5 1x1 512->2048             3 2x7p/1    412.8   248.9  94.3%  94.3% |    462.5   222.2  84.2%
//	c5 1x1 2048->512             2 2x7p/1    419.0   245.2  92.9%  92.9% |    434.0   236.8  89.7%
//	c5 sc 1024->2048             1 2x7p/1    831.8   247.1  93.6%  93.6% |    862.3   238.3  90.3%
//
//	warm:  26.33 ms/image (medians; 25.93 from minima), 264 GFLOP/s nominal (6.96 GFLOP),
//	       253 GFLOP/s executed (6.67 GFLOP without padding taps), 96% of peak
//	coldw: 28.75 ms/image (28.00 from minima), 242 GFLOP/s nominal, 232 executed, 88% of peak
//
// "%peak" uses the nominal FLOPs; "eff%" only the taps inside the image
// (some rows exceed 100%: the core clocks above the 4.1 GHz behind the
// 264 GFLOP/s figure). ResNet50V2's 53 conv layers take ≈ 26.3 ms (warm)
// to ≈ 28.8 ms (weights from DRAM) per image on one core, against ONNX
// Runtime's 31 ms for the whole model. Under load from other processes on
// the 2-core machine the medians vary by ±10% (the minima much less).
//
// What limits the 7×7 layers: at batch 1 each weight is used by only 49
// output pixels (24.5 FLOP per weight byte) and, in a network run, comes
// from DRAM (1–9.4 MiB per layer; ResNet50V2 has 89 MiB of conv weights,
// 3× the L3). With cached weights these layers run at 92–95% of peak
// (executed FLOPs); with weights from DRAM at 73–90%: the weight stream
// reaches only ≈ 8–9 GB/s on one core (c5 3×3: 9.4 MiB in 1.15 ms against
// 0.78 ms of compute; memmove on this machine reads ≈ 22 GB/s), because
// the demand is bursty — a chunk's weights are needed at FMA speed
// (≈ 18 B/cycle) in its first row and not at all in the other six. The
// chunked order with one input block per chunk plus PREFETCHT1 of the next
// chunk during the first row is 10–14% faster than the plain order there.
// Remaining fixes lie outside a single kernel: stream the next layer's
// weights during the compute-bound 56×56/28×28 layers (they leave the
// memory bus idle), spread the prefetch evenly over all rows, or batch > 1.
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
