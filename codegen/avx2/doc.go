// Package avx2 generates shape-specialized AVX2+FMA direct-convolution
// kernels (Go assembly, via avo used as a library) for the ResNet
// convolution layers, and holds their pure-Go twin (RefConv) used by the
// tests. It is the counterpart of package avx512 for CPUs without AVX-512
// (Haswell and later, Zen 1–3): same API shape, same loop nest, same
// epilogues, 8-wide channel blocks and the 16 ymm registers Y0–Y15 only.
//
// # Data layouts (per image; batch is looped by the caller)
//
// These are the layouts runtime.Pack produces ("OIhw8i8o", "Ohwi8o", "c8").
//
//   - Activations, NCHW8c: element (c, h, w) at ((c/8*H + h)*W + w)*8 + c%8.
//     Channel counts are padded to a multiple of 8; pad lanes hold zeros.
//     Kernels read pad lanes and write all 8 lanes of every output block
//     (pad lanes come out as zeros because padded weights, bias, scale and
//     shift are zero).
//   - Weights for blocked input, OIhw8i8o: (ocb, icb, kh, kw, i, o)
//     contiguous in that order, zero-padded. PackOIHW converts from OIHW.
//   - First layer (ConvSpec.FirstNHWC): input NHWC with IC ≤ 8 channels,
//     element (h, w, c) at (h*W + w)*IC + c, not padded; weights Ohwi8o:
//     (ocb, kh, kw, ic, o).
//   - bias, scale, shift: OC rounded up to 8 floats, zero-padded.
//   - Residual (AddResidual): NCHW8c with its own ResH × ResW, read at
//     (oh*rs, ow*rs), rs ∈ {1, 2} (ResNetV2's MaxPooling2D(1, 2) shortcut).
//
// # Types shared with avx512
//
// Step, StepKind (Bias, Relu, AddResidual, Store→out0, Affine, Store→out1,
// Sigmoid, Mul, Scale), Sizes and Args are aliases of the types of
// codegen/internal/conv, as avx512's are, Signature is the same string
// (codegen/internal/direct.Signature) and Print is the same printer
// (codegen/internal/goasm.Print), so a compiler builds one epilogue list
// and one call site for both targets; this package does not import
// avx512. ConvSpec and Tiling are this package's own: their blocks
// are 8 channels wide, and AVX2 has no embedded broadcast, so avx512's
// EmbedBcast is replaced by WMem (weights as FMA memory operands).
//
// # Epilogue
//
// ConvSpec.Epilogue is an ordered list of steps applied to each fp32
// accumulator before/between the stores: Bias (+bias[oc]), Relu,
// AddResidual, Store→out0 (to out0), Affine (x*scale[oc]+shift[oc], as VMULPS
// then VADDPS), Store→out1 (to out1), Sigmoid (codegen/internal/emit.Sigmoid;
// its two scratch registers Y13, Y14 cap the tile at 13 accumulators),
// Mul (×mul[oc, oh, ow]) and Scale (x*A + B; constants in the kernel's
// read-only table). Any order is allowed (Store→out0 exactly once, Store→out1,
// AddResidual and Mul at most once), e.g. ResNetV2 block end: Bias,
// AddResidual, Store→out0, Affine, Relu, Store→out1; ResNet v1: Bias,
// AddResidual, Relu, Store→out0; an exclusive gate: Bias, Sigmoid, Store→out0,
// Scale(−1, 1), Mul, Store→out1.
//
// # Kernel API, granularity and calling convention
//
// Generate(ctx, name, spec) emits one function into a caller-provided
// *build.Context (many kernels may share one file, also with avx512
// kernels under other names; no ctx.Package needed) and returns its
// Tiling. Print (or Compile + avo's printers) produces the .s file and the
// Go stubs. Every kernel has the Go signature
//
//	func name(in, wt, bias, res, mul, scale, shift, out0, out1 *float32, ocb0, ocb1, oh0, oh1 int)
//
// (ABI0, NOSPLIT, 96-byte frame, no CALL, VZEROUPPER before RET) and
// computes output rows [oh0, oh1) of output-channel blocks [ocb0, ocb1)
// (8 channels each) of one image; ocb0 and ocb1 must be multiples of
// Tiling.NB (which divides OCB). Unused pointers may be nil. Calls on
// disjoint (block range × row range) rectangles write disjoint memory, so
// a driver can split a layer over threads by oc-block groups and/or row
// ranges. res may alias out0 (in-place residual) unless the tiling is
// chunked (ICC < ICB): then out0 holds partial sums between reduction
// chunks. A kernel call is not preemptible; keep calls to a few ms (a
// whole ResNet layer is ≤ 2 ms here).
//
// Instructions: VBROADCASTSS, VFMADD231PS, VMOVUPS, VXORPS, VADDPS,
// VMULPS, VMAXPS, VZEROUPPER, PREFETCHT1 on ymm registers Y0–Y15 (VEX
// encodings; avo's header says "Requires: AVX, CMOV, FMA3"), plus scalar
// integer code.
//
// Loop nest inside a call (all sizes, strides and offsets are immediates):
//
//	for each group of NB oc blocks in [ocb0, ocb1):
//	  for each reduction chunk of ICC input blocks (one chunk unless chunked):
//	    for oh in [oh0, oh1):
//	      khLo, khHi = valid kernel rows of oh (runtime: top/bottom borders)
//	      for each tile of ≤ URW output pixels along the row (see borders):
//	        acc[NB][u] = 0 (or partial sums from out0, chunked)
//	        for icb in chunk:            // runtime loop
//	          for kh in [khLo, khHi):    // runtime loop (no loop for 1×1)
//	            for kw:                  // unrolled
//	              for lane in 0..7:      // unrolled (IC lanes for NHWC)
//	                w[j] = load weights (ocb+j, icb, kh, kw, lane, 0..7)   j < WR
//	                for p < u: b = vbroadcastss in[icb, ih, iw(p)+kw, lane]
//	                           acc[j][p] += b * w[j]                      j < WR
//	                           acc[j][p] += b * mem(weights of block j)   WR ≤ j < NB
//	        epilogue steps on acc (or store partial sums, chunked non-last)
//
// Registers are physical (avo cannot spill): accumulators Y0..Y(NB*u-1),
// weight registers Y15, Y14, ... (WR of them), broadcasts rotate over the
// rest (≥ 1; register renaming makes one enough). The weight vectors that
// do not fit in registers (NB−WR of them; one for the 4×3 tile) are read
// by each of their u FMAs as a memory operand (an L1 hit), as MLAS's
// SconvKernelFma3 does for all of them. GP registers: R8–R13 hot-loop
// pointers/counters, AX/BX/CX/DX tile pointers (input, out0, out1, res), SI
// tile counter, DI kh count, R14 row weights, R15 prefetch offset. Reuse:
// each weight vector in a register serves u pixels and each broadcast
// input scalar NB blocks. Across the tiles and rows of a call the group's
// weights are re-read from L1/L2, the input once per oc group.
//
// Borders are never copied to a padded buffer. Left/right: a row is split
// into the fewest tiles of ≤ URW pixels, as equal as possible, wider ones
// first (7 = 3+2+2, 28 = 8×3+2×2: a 1-pixel tail of 4 blocks would have
// only 4 accumulators, too few to hide the FMA latency; this measured
// 0.5–2% faster in total than URW-wide tiles plus a tail). A tile whose
// pixels all see the full kernel width is "interior" and runs of interior
// tiles of one width share a loop body; every other tile gets its own
// unrolled body in which the out-of-range (pixel, kw) taps are simply not
// emitted (and weight loads of a kw no pixel uses are dropped). Top/bottom:
// the row prologue computes khLo = max(0, PadT − oh*SH) and
// khHi = min(KH, H + PadT − oh*SH) and runs the kh loop over that range.
//
// # Tiling rule (ChooseTiling; ConvSpec.NB/URW/WMem/ICC/Prefetch override)
//
//   - Register budget: NB×URW accumulators + WR weight registers + ≥ 1
//     broadcast register ≤ 16, with WR = min(NB, 15 − NB×URW) (the rest of
//     the weights are FMA memory operands). Candidates: NB ∈ {4, 3, 2, 1}
//     dividing OCB, URW ≤ 3/4/7/14 for NB = 4/3/2/1 (≤ 14 accumulators,
//     at most one weight vector from memory); ≤ 13 accumulators when the
//     epilogue has a Sigmoid, whose scratch registers are Y13 and Y14 (Y15
//     is Relu's zero). Every tile claims its registers by role
//     (internal/emit.Phase): an overlap is a generation error.
//   - Each candidate's cost for one output row over all oc blocks is
//     modelled as (OCB/NB) × (Σ_tiles (max(NB*w/2, 5, loads/1.5) + 1) + 2
//     per narrower tile width), w the tile width and loads = WR + w +
//     (NB−WR)×w the vector loads of one lane step: two FMA pipes; ≥ 10
//     independent accumulators to hide the 4–5-cycle FMA latency; loads
//     sustain only ≈ 1.5 per cycle next to two FMAs (fitted: with 2/cycle
//     the model prefers 2×7 with 15 loads per 14 FMAs, measured 13% slower
//     than 4×3); per-tile overhead; extra unrolled bodies. The cheapest
//     wins; ties prefer larger NB (fewer broadcasts per FMA), then larger
//     URW. For every ResNet50V2 layer this picks 4×3 with one weight
//     vector from memory ("4x3m1": 12 accumulators, 3 weight registers,
//     1 broadcast register; 9 loads per 12 FMAs). Whole-network totals
//     with each layer's best ICC/prefetch (warm, ms/image, one run of
//     -bench-variants): 4×3m1 53.0, 2×6 55.9, 2×5 57.5, 4×2 60.4 (8
//     accumulators), 2×7m1 60.7, and MLAS's scheme of all weights from
//     memory, 4×3m4, 68.7 (+30%: 15 loads per 12 FMAs). oneDNN's
//     jit_avx2_conv uses the same register budget (ur_w × nb_oc ≤ 12).
//   - Reduction chunking (ICC < ICB): when a group's weights exceed 256 KiB
//     and its partial sums over all rows fit 64 KiB, chunks of ≤ 40 KiB of
//     weights are processed for all rows before the next chunk, so each
//     weight slice stays in L1/L2 for every row.
//   - Weight-streaming layers (weights ≥ 1 MiB and ≥ 10 KiB per output
//     pixel, i.e. ResNet's 7×7 layers, its 3×3 256 at 14×14 and the
//     512→1024 shortcut): one input block (8 channels) per chunk and
//     software prefetch (PREFETCHT1, one per 64-byte line) of the next
//     chunk during the first row of each chunk. With weights from DRAM
//     this was 1–14% faster on those layers than the plain unchunked order
//     (c5 3×3 512: 1.81 vs 1.97 ms; c5 1×1 512→2048: 0.84 vs 0.97 ms);
//     chunks of 2 or 4 blocks were up to 4% slower.
//   - 1×1 stride-1 convolutions use the same kernel (a GEMM whose N is the
//     row of OW pixels).
//
// # Measured (Zen 5 EPYC, 1 core, ≈ 4.1 GHz; AVX2 peak 132 GFLOP/s)
//
// The machine has AVX-512 but runs this AVX2 code as is; the peak used is
// half its zmm peak (two FMA pipes × 8 lanes × 2 FLOP × 4.1 GHz). Command:
//
//	go test ./codegen/avx2 -run TestBenchLayers -v -bench-layers [-bench-mode coldw] [-bench-variants] [-bench-filter RE] [-bench-reps N]
//
// It generates the kernels of the 27 distinct conv shapes of Keras
// ResNet50V2 (224×224, batch 1; 53 conv layers) into a temporary module,
// runs each over its whole output -bench-reps times and reports the median
// and minimum time, GFLOP/s = 2×MACs/time with MACs counted over the full
// KH×KW window (the usual model FLOP count; "eff" counts only taps inside
// the image), and the multiplicity-weighted total. Default mode: everything
// cached (weights warm). -bench-mode coldw: every run uses a different
// copy of the weights (≥ 96 MiB of copies), so weights come from DRAM
// while activations stay cached, as in a real network run.
//
// Measured 2026-11-27 (51 runs per layer; the machine was shared, so three
// runs of each mode were made — warm totals 53.5 / 54.5 / 55.6 ms, coldw
// 55.0 / 55.7 / 56.0 ms — and the table shows the run with the lowest
// total of minima for each mode):
//
//	layer                        n tiling    warm µs GFLOP/s  %peak   eff% | coldw µs GFLOP/s  %peak
//	stem 7x7/2 3->64             1 4x3m1/1    1825.9   129.3  97.9%  96.4% |   1803.5   130.9  99.1%
//	c2 1x1 64->64                1 4x3m1/8     201.5   127.5  96.6%  96.6% |    199.2   129.0  97.7%
//	c2 3x3 64                    2 4x3m1/8    1784.5   129.6  98.2%  95.8% |   1758.5   131.5  99.6%
//	c2 1x1 64->256               2 4x3m1/8     848.7   121.1  91.7%  91.7% |    827.5   124.2  94.1%
//	c2 1x1 256->64               2 4x3m1/32    798.6   128.7  97.5%  97.5% |    805.1   127.6  96.7%
//	c2 sc 64->256                1 4x3m1/8     806.6   127.4  96.5%  96.5% |    787.9   130.4  98.8%
//	c2 3x3/2 64 56->28           1 4x3m1/8     448.2   129.0  97.7%  95.4% |    448.2   129.0  97.7%
//	c2 1x1 64->256 @28 +res/2    1 4x3m1/8     214.9   119.5  90.6%  90.6% |    213.6   120.3  91.1%
//	c3 1x1 256->128              1 4x3m1/32    411.5   124.9  94.6%  94.6% |    407.4   126.1  95.5%
//	c3 3x3 128                   3 4x3m1/16   1766.7   130.9  99.1%  94.5% |   1769.3   130.7  99.0%
//	c3 1x1 128->512              3 4x3m1/16    827.1   124.2  94.1%  94.1% |    838.3   122.6  92.9%
//	c3 1x1 512->128              3 4x3m1/64    813.4   126.3  95.7%  95.7% |    830.5   123.7  93.7%
//	c3 sc 256->512               1 4x3m1/32   1620.0   126.9  96.1%  96.1% |   1655.4   124.2  94.1%
//	c3 3x3/2 128 28->14          1 4x3m1/16    427.9   135.1 102.3%  97.5% |    456.7   126.6  95.9%
//	c3 1x1 128->512 @14 +res/2   1 4x3m1/16    203.7   126.1  95.6%  95.6% |    218.9   117.4  88.9%
//	c4 1x1 512->256              1 4x3m1/64    399.0   128.8  97.6%  97.6% |    412.7   124.5  94.3%
//	c4 3x3 256                   5 4x3m1p/1   1663.8   139.0 105.3%  95.5% |   1688.4   136.9 103.7%
//	c4 1x1 256->1024             5 4x3m1/32    811.5   126.6  95.9%  95.9% |    853.4   120.4  91.2%
//	c4 1x1 1024->256             5 4x3m1/128    810.0   126.9  96.1%  96.1% |    837.5   122.7  93.0%
//	c4 sc 512->1024              1 4x3m1p/1   1667.3   123.3  93.4%  93.4% |   1655.4   124.2  94.1%
//	c4 3x3/2 256 14->7           1 4x3m1p/1    438.4   131.8  99.9%  90.6% |    495.7   116.6  88.3%
//	c4 1x1 256->1024 @7 +res/2   1 4x3m1p/1    215.3   119.3  90.4%  90.4% |    219.0   117.3  88.9%
//	c5 1x1 1024->512             1 4x3m1p/1    414.6   123.9  93.9%  93.9% |    420.7   122.1  92.5%
//	c5 3x3 512                   3 4x3m1p/1   1610.6   143.6 108.8%  89.0% |   1868.5   123.7  93.7%
//	c5 1x1 512->2048             3 4x3m1p/1    844.7   121.7  92.2%  92.2% |    860.6   119.4  90.5%
//	c5 1x1 2048->512             2 4x3m1p/1    839.4   122.4  92.7%  92.7% |    846.9   121.3  91.9%
//	c5 sc 1024->2048             1 4x3m1p/1   1683.9   122.1  92.5%  92.5% |   1725.3   119.1  90.2%
//
//	warm:  53.53 ms/image (medians; 52.45 from minima), 130.0 GFLOP/s nominal (6.96 GFLOP),
//	       124.6 GFLOP/s executed (6.67 GFLOP without padding taps), 94% of peak
//	coldw: 54.99 ms/image (53.69 from minima), 126.6 GFLOP/s nominal, 121.3 executed, 92% of peak
//
// That is 2.0× package avx512's 26.3 ms on the same core (half the vector
// width).
//
// "%peak" uses the nominal FLOPs; "eff%" only the taps inside the image
// (rows above 100% nominal are 3×3 layers whose padding taps are skipped,
// or runs where the core clocked above 4.1 GHz). Under load from other
// processes on the 2-core machine medians vary by up to ±5% (the minima
// much less; the 3×3/2 14→7 layer once took 0.92 ms in a coldw run).
//
// What limits the kernels: the 1×1 "expand" layers (64→256, 128→512 with
// the 6-step ResNetV2 block-end epilogue: 2 stores and 5 vector operations
// per accumulator against only ICB×8 = 64–128 lane steps of FMAs) lose
// 2–5% to it (c2 1×1 64→256: 91.7% of peak, the same shape as the
// shortcut with Bias, Store→out0: 96.5%); the 7-wide layers lose a few
// percent to 2-pixel tiles (8 accumulators); with weights from DRAM the
// c5 3×3 layer is bound by the weight stream (9.4 MiB in ≈ 1.87 ms, 16%
// slower than warm). At half the FMA throughput of AVX-512 the weight
// stream matters less than for package avx512 (coldw costs ≈ 3% in total
// here against ≈ 9% there).
//
// # Tests
//
// TestKernels generates ~270 kernels (channels 1–64 incl. 3/8/12/24/40,
// NHWC first layer with 1/3/4/8 channels, sizes 1×1 … 56×56 incl. odd
// ones, strides 1/2 and mixed, kernels 1/3/7, asymmetric pads, every
// epilogue above plus a reordered one, forced tilings incl. 15
// accumulators, all weights from memory, chunked, with and without
// prefetch) into one standalone module (module kt, stdlib only), builds
// it once and runs it: every input lies against a PROT_NONE guard page
// (after it, then before it), outputs are surrounded by NaN-payload
// sentinels that must survive (and start as NaN, so unwritten outputs
// fail), each kernel is called over several (block range × row range)
// pieces plus empty ranges, and the result is compared with RefConv (max
// abs diff ≤ 1e-5 × max(1, max|ref|)). Instruction checks on the .s: every
// kernel has VFMADD231PS, no CALL, no register outside Y0–Y15 (no zmm,
// Y16–Y31 or K masks), no EVEX-only syntax, only whitelisted vector
// instructions; and the machine code of every vector instruction (from
// "go tool asm -S") starts with a VEX prefix, never EVEX (0x62).
// TestRefConvPlain checks RefConv and PackOIHW against a plain CHW/HWC
// convolution; PackOIHW matches runtime.Pack("OIhw8i8o"/"Ohwi8o").
package avx2
