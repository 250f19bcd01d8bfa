// Package winograd generates shape-specialized AVX-512 Winograd F(4×4, 3×3)
// kernels (Go assembly, via avo used as a library) for the stride-1 3×3
// convolutions of ResNet, with the conventions of package avx512: NCHW16c
// activations, physical registers only, NOSPLIT, no CALL, every
// shape-dependent constant an immediate, the same epilogue steps.
//
// # Algorithm
//
// With interpolation points 0, 1, −1, 2, −2, ∞ (Lavin & Gray 2016; NNPACK,
// oneDNN's wino_4x3), one 4×4 output tile of one (input, output) channel
// pair is Y = Aᵀ [U ⊙ V] A with U = G g Gᵀ (the 3×3 kernel g, transformed
// once at load time by runtime.PackWinograd in float64) and V = Bᵀ d B (the
// 6×6 input tile d, overlapping its neighbours by 2):
//
//	Bᵀ = [4  0 −5  0 1 0]    G = [ 1/4     0    0]    Aᵀ = [1 1  1 1  1 0]
//	     [0 −4 −4  1 1 0]        [−1/6 −1/6 −1/6]         [0 1 −1 2 −2 0]
//	     [0  4 −4 −1 1 0]        [−1/6  1/6 −1/6]         [0 1  1 4  4 0]
//	     [0 −2 −1  2 1 0]        [1/24 1/12  1/6]         [0 1 −1 8 −8 1]
//	     [0  2 −1 −2 1 0]        [1/24 −1/12 1/6]
//	     [0  4  0 −5 0 1]        [   0    0    1]
//
// Summed over input channels, the 36 positions ξ = 6a+b of the transformed
// tile are 36 independent GEMMs M_ξ[tile][oc] = Σ_ic V_ξ[tile][ic] ·
// U_ξ[ic][oc]: 36·IC·OC multiply-adds per tile instead of 144·IC·OC, a 4×
// reduction of the arithmetic. The transforms run in fp32 (FMA).
//
// # Data layouts
//
//   - Input and outputs: NCHW16c per image, as in package avx512 (channels
//     padded to 16 with zeros). bias, scale, shift: OC rounded up to 16.
//     Residual: NCHW16c of ResH × ResW read at (oh*rs, ow*rs).
//   - U (runtime.PackWinograd, runtime.WinogradShape): [OCB][36][ICp][16],
//     element (ocb, ξ, i, o) at ((ocb*36 + ξ)*ICp + i)*16 + o, zero-padded.
//     For one ξ and a group of NB output blocks the GEMM reads NB streams of
//     ICp contiguous 64-byte lines (a "panel"); consecutive ξ continue each
//     stream linearly, which suits the hardware prefetcher. U is 36/9 = 4×
//     the direct kernel's weights.
//   - Workspace ws (runtime.WinogradWorkspace floats per thread): V of the
//     current strip [ξ][ICB][S][16] (S = Rows × TW tiles, tile t = row in
//     strip × TW + column), then M of one output group [ξ][NB][S][16]
//     (sized for min(4, OCB) blocks).
//
// # Kernel API
//
// Generate(ctx, name, spec) emits one function with Signature
//
//	func name(in, u, bias, res, mul, scale, shift, out0, out1, ws *float32, t0, t1 int)
//
// (ABI0, NOSPLIT, 40-byte frame, no CALL). It computes output tile rows
// [t0, t1) — tile row r is output rows 4r … 4r+3, clipped at the bottom;
// TH = ⌈OH/4⌉ rows, t0/t1 are clamped to [0, TH] — for all output channels
// of one image. Calls on disjoint tile-row ranges write disjoint output
// rows and, each with its own workspace, may run concurrently: a driver
// splits a layer over threads by tile rows. res may alias out0 (in-place
// residual, ResStride 1) when AddResidual precedes Store→out0 in the epilogue:
// every residual element is read just before the same out0 element is
// written and out0 is never read otherwise. in, u, ws and the outputs must
// not overlap otherwise. Unused pointers may be nil. Print with Print
// (the printer of every kernel generator, codegen/internal/goasm; or
// avo's pass.Compile and printers).
//
// # Loop nest (everything but t0, t1 and the pointers is an immediate)
//
//	for each strip of n = min(Rows, t1 − t) tile rows:
//	  input transform:  for each row, icb, tile column: load the 6×6×16 tile
//	                    (columns outside the image: a zero register, chosen
//	                    at generate time; rows outside: a run-time row mask,
//	                    zero vectors), V = Bᵀ d B, 36 stores into V
//	  for each group of NB output blocks:
//	    GEMM (one copy of this code per n):
//	      for ξ in 0..35:                         // runtime loop
//	        for each register block of w ≤ U tiles (runs of equal width loop):
//	          acc[NB][w] = 0
//	          for icb: for lane in 0..15:         // runtime × unrolled
//	            u[j] = U panel line (ξ, ic, block j)           j < NB
//	            b = vbroadcastss V[ξ][ic][t+p]; acc[j][p] += b·u[j]   p < w
//	          store acc to M
//	    output transform: for each row, block, tile column: Y = Aᵀ M A, the
//	                      epilogue on each 16-channel vector, store the
//	                      columns and rows inside the output
//
// No padded copy of the image is made. The 2-D transforms are done in two
// halves (transformed columns 0–2 and 3–5 of the input tile, output rows 0–1
// and 2–3) so that the intermediate 6×6 (resp. 2×6) values stay in
// registers: the tile is loaded twice but only V, M and the outputs go
// through memory.
//
// Registers: GEMM accumulators Z0..Z(NB·w−1), U vectors Z31, Z30, …,
// broadcasts rotate over the rest (≥ 2); transforms: constants Z28–Z31,
// epilogue vectors Z25–Z27. GP registers are assigned per phase (see
// inputPhase, gemm, outputPhase); the strip and group state lives in five
// stack slots.
//
// # Tiling (ChooseTiling; Spec.NB/U/Rows/Prefetch override)
//
//   - Rows (tile rows per strip, runtime.WinogradStripRows): U ≤ 1 MiB
//     stays in L2 across strips, so strips of 2 rows (measured: 1–3 rows
//     equal, ≥ 4 rows 15% slower at 56×56); larger U is re-read once per
//     strip, so one strip per call (all rows) unless the workspace would
//     exceed 2 MiB (minima: 28×28×128 warm 7 rows 248 µs, 2 rows 269 µs,
//     1 row 296 µs; 14×14×256 coldw 4 rows 355 µs, 2 rows ≈ 540 µs).
//   - NB | OCB (≤ 4) and the widest register block U ≤ 6/8/8/12 for
//     NB = 4/3/2/1 minimize avx512's per-lane-step cost model over the
//     balanced partition of a strip's tiles into blocks, ×1.15 when a
//     strip has several blocks per ξ and the U panel (NB·ICp·64 bytes)
//     exceeds 32 KiB and so cannot stay in L1 between them. ResNet50V2:
//     4×6 at 56×56 and 28×28, 2×8 at 14×14, 4×4 at 7×7, each within 3% of
//     the best measured alternative.
//   - Prefetch (on unless Prefetch = −1; only when a ξ has ≥ 2 register
//     blocks): every k-th lane step of each of the k blocks of a ξ issues
//     PREFETCHT1 for one line of each of the NB streams of the next ξ's
//     panel, so the next panel is fetched into L2 evenly over the current
//     ξ. Against no prefetch (minima): 28×28×128 coldw 245 vs 289 µs,
//     14×14×256 coldw 355 vs 496 µs, warm ±3%. A first version that
//     prefetched the whole next panel into L1 (PREFETCHT0) during the ξ's
//     first block was 5–14% slower than no prefetch.
//
// # Measured (Zen 5 EPYC, 1 core, peak 264 GFLOP/s)
//
// Command (both kernels of each layer generated into one module, whole
// image per call, 101 runs, median µs; "coldw": a different copy of the
// weights — U for Winograd — every run, ≥ 96 MiB of copies, so weights come
// from DRAM while activations stay cached):
//
//	go test ./codegen/winograd -run TestBenchLayers -v -bench-layers -bench-reps 101 [-bench-mode warm,coldw] [-bench-min] [-bench-variants] [-bench-filter RE]
//
// GFLOP/s count the direct convolution's FLOPs (2·OH·OW·9·IC·OC) for both;
// epilogue [Bias, Relu, Store→out0]; measured 2026-11-27:
//
//	layer (ResNet50V2)  n tiling   |  warm: direct  winograd  GF/s dir/win  speedup | coldw: direct  winograd  GF/s dir/win  speedup
//	c2 3x3 64  @56      2 4x6p/r2  |        886.8     276.8    261 /  835    3.20x  |         893.3     297.8    259 /  776    3.00x
//	c3 3x3 128 @28      3 4x6p/r7  |        853.6     249.7    271 /  926    3.42x  |         895.5     270.8    258 /  854    3.31x
//	c4 3x3 256 @14      5 2x8p/r4  |        816.1     348.0    283 /  664    2.35x  |         903.5     391.9    256 /  590    2.31x
//	c5 3x3 512 @7       3 4x4/r2   |        792.0     826.5    292 /  280    0.96x  |        1113.4     973.5    208 /  238    1.14x
//
//	the 13 stride-1 3×3 layers: warm 10.79 ms/image direct → 5.52 ms Winograd (1.95×);
//	                            coldw 12.33 ms → 6.29 ms (1.96×)
//
// A second run gave 3.04/3.41/2.30/1.00× warm and 3.05/3.37/2.33/1.19×
// coldw; medians vary by ±5% on this shared 2-core VM. Breakdown at 56×56
// (minima, by generating kernels without some phases): GEMM 217 µs
// (266 GFLOP/s of Winograd arithmetic, ≈ the FMA peak), input transform
// ≈ 30 µs, output transform and epilogue ≈ 21 µs.
//
// The 7×7 layer: U is 36 MiB (larger than the 32 MiB L3, so even "warm" it
// streams from DRAM), each U element serves only the 2×2 tiles of the
// image (64 computed outputs for 49), and the kernel is bound by that
// stream: it ties with the direct kernel with cached weights and is 14–19%
// faster with weights from DRAM (U is read as linear streams, the direct
// kernel's weight demand is bursty). Splitting it over threads by tile
// rows makes every thread read all of U (r1 variant: 1170 µs for half the
// image) — the compiler should keep the direct kernel there, and choose per
// layer by measured cost in general. F(2×2, 3×3) (U 16/9 of the weights)
// would suit 7×7 better.
//
// # Numerics
//
// Against a float64-accumulated direct convolution (conv.RefConv) the
// worst error of the test sweep is 1.05e−5 × max(1, max|ref|) (7×7, 512→512;
// ≤ 9e−6 at ≤ 128 channels), ≈ 10× the direct kernel's; the test bound is
// 2e−4.
//
// # Limitations
//
//   - Stride 1, 3×3, pads 0..2 per side only (anything else: avx512).
//   - NB must divide OCB: an OCB with no divisor in 2..4 (e.g. 5 or 7
//     blocks) runs 1-block groups (1×12 measured 10–17% slower on the
//     ResNet layers).
//   - One kernel call covers all output channels: no oc-block split for
//     threads, so layers with few tile rows (7×7: 2) parallelize at most
//     TH ways, and each thread reads all of U.
//   - One GEMM code copy per strip height: the 28×28 kernel (7 rows per
//     strip) is 57 KB of machine code (the direct kernel: 30 KB); only one
//     copy is hot at a time.
//   - The workspace is per thread: up to 2 MiB (28×28×128: 1.3 MiB).
//
// # Tests
//
// TestKernels generates ~190 kernels (IC, OC ∈ {16, 24, 64, 128} × sizes
// 4×4, 5×7, 7×7, 14×14, 28×28, 30×29 with the ResNetV2 epilogue; every
// other epilogue — residual stride 1 and 2, Affine + Store→out1, reordered —
// and pads (0..2, asymmetric) on random shapes; forced tilings incl. strips
// taller than the image and 1×1 register blocks; 256→256 @14 and 512→512
// @7; odd channel counts 3, 8, 40, 200) into one standalone module, builds
// it once and runs it: inputs against PROT_NONE guard pages (after, then
// before them), the workspace against a guard page and refilled with NaNs
// before every call, outputs between NaN-payload sentinels, each kernel
// called over several tile-row ranges (incl. empty and out-of-range ones
// that must be clamped), in-place residual runs (res == out0) compared bit
// for bit, and the result compared with conv.RefConv on the same HWIO
// kernel (max abs diff ≤ 2e−4 × max(1, max|ref|)). Instruction checks:
// every kernel has VFMADD231PS and no CALL. TestWorkspace checks the
// generator's workspace against runtime.WinogradWorkspace.
package winograd
