/* conv_gemm (host code: ops/conv_gemm.py): any one-group conv as a tiled implicit GEMM, the GPUs' conv kernel.
 * Y[n][m][p] = sum_k A[k][m] * B[k][p], k = (c, kh, kw) over C*KH*KW, p = (oh, ow) over OH*OW, and
 * B[k][p] = X[n][c][oh*SH - PT + kh*DH][ow*SW - PL + kw*DW] (0 in the padding) gathered on the fly (im2col
 * without the copy). A work-group computes a TM (channels) x TN (pixels) tile of Y with (TM/4)*(TN/4)
 * work-items, each a 4x4 register block; K advances TK at a time through __local memory, the next slice's
 * global loads issued before the current slice's arithmetic so that their latency hides behind it.
 * Weights come packed on the host as A[K_pad][M_pad] (zero-padded to whole tiles), so A loads need no bounds
 * checks and are coalesced 4-wide along m. Split-K (group id 2 = n*S + s, S = SPLIT): split s sums its share of
 * the K slices and writes fp32 partials to part[n][s][M][P]; conv_splitk_reduce adds them up (bias,
 * activation), or with -DSPLIT_LAST each tile's last work-group does. With S == 1 the epilogue is fused here.
 * Build options: TM TN TK SPLIT and the conv's KH.. ACT.
 *
 * What a GPU plan fuses around the GEMM (ops/conv_fusion.py; all arguments, defaults the plain layout):
 *   input view     the conv reads channels XC0.. of an input of XCT channels (a channel Slice fused)
 *   -DPROLOGUE     each input value becomes v * ps[n*PSN + c] + pt[c] (Relu after it with -DPRO_RELU) before
 *                  the GEMM reads it: a BatchNormalization (+ ReLU) before the conv (PSN = 0), or a
 *                  squeeze-excitation scale per image and channel (PSN = C); the padding stays 0
 *   output layout  conv channel m is channel j = YC0 + m of an output of YCT channels, stored at channel
 *                  (j % (YCT/YG)) * YG + j / (YCT/YG): YG = 2 is ShuffleNet's channel shuffle, YG = 1 none
 *   -DPRO_POOL=k   (a 1x1 conv) each input value is the max over the k x k window around it, stride 1
 *   -DPREFIX       channels PC0 .. PC0+PC-1 of `pre` (PCT channels) are copied to output channels 0 .. PC-1
 *                  (through the same layout) by every work-item a share: a Concat whose last input is this
 *                  conv, without its launch */
/* The kernels' sizes and offsets, each set one by-value argument (ops/kernel_args.py says why). */
typedef struct { int C, H, W, M, MP, OW, P, K, KT, PT, PL, XC0, XCT, YC0, YCT, YG; } conv_gemm_sizes;
typedef struct { int S, M, P, N, YC0, YCT, YG; } splitk_sizes;

/* Where output channel j (of YCT, shuffled in YG groups) of image n at pixel p is stored. */
inline size_t out_index(int n, int j, int p, int P, int YCT, int YG) {
  const int cg = YCT / YG;
  return ((size_t)n * YCT + (j % cg) * YG + j / cg) * P + p;
}

#ifdef TM
#define WG ((TM / 4) * (TN / 4))
#define KK (KH * KW)

/* -DDW_FUSED: SeparableConv (ops/separable_conv.py), a depthwise conv whose output only a 1x1 conv reads. The
 * GEMM is then the 1x1 conv (K = C channels) and its B tile is the depthwise output, computed while it is loaded:
 * B[c][p] = clip_nan(dwb[c] + sum over taps of dww[c][tap] * x[c][tap's pixel], DW_LO, DW_HI), where KH KW SH SW DH
 * DW PT PL are the depthwise conv's. One launch and no round trip of the expanded tensor through memory; each
 * tile row of output channels recomputes its slice of the depthwise output (9 or 25 FMAs an element). */
#ifdef DW_FUSED
#define DW_PARAM __global const store_t *dww, __global const store_t *dwb,
#ifndef DW_LO
#define DW_LO -INFINITY
#endif
#ifndef DW_HI
#define DW_HI INFINITY
#endif
#else
#define DW_PARAM
#endif

#ifdef PROLOGUE
#define PRO_PARAM __global const store_t *ps, __global const store_t *pt, int PSN,
#else
#define PRO_PARAM
#endif
#ifdef PREFIX
#define PRE_PARAM __global const store_t *pre, int PC, int PC0, int PCT,
#else
#define PRE_PARAM
#endif


#ifdef KERNEL_conv_gemm
#ifdef SPLIT_LAST
#define COUNT_PARAM __global int *count, /* per output tile: how many of its splits are done (0 between runs) */
#ifdef PTX_FENCE /* NVIDIA's OpenCL takes inline PTX */
#define DEVICE_FENCE() __asm__ volatile("membar.gl;" ::: "memory")
#else
#define DEVICE_FENCE()
#endif
#else
#define COUNT_PARAM
#endif

#ifdef PROLOGUE
#ifdef PRO_RELU
#define PRO_ACT(v) max_nan((v), 0.0f)
#else
#define PRO_ACT(v) (v)
#endif
#define PRO_ARGS ps, pt, n * PSN,
#define PRO_FORMALS __global const store_t *ps, __global const store_t *pt, int ps0,
#define PRO_APPLY(v, c) PRO_ACT((v) * LOAD(ps, ps0 + (c)) + LOAD(pt, (c)))
#else
#define PRO_ARGS
#define PRO_FORMALS
#define PRO_APPLY(v, c) (v)
#endif

/* Row k of the implicit im2col matrix at the work-item's pixel: input channel k / KK, tap k % KK, through the
 * prologue; 0 off the map and past K. */
inline float im2col_value(__global const store_t *xn, PRO_FORMALS int k, int K, int H, int W, int ih0, int iw0) {
  const int c = k / KK, r = k % KK;
  const int ih = ih0 + (r / KW) * DH, iw = iw0 + (r % KW) * DW;
  const bool ok = k < K && ih >= 0 && ih < H && iw >= 0 && iw < W;
  const float v = LOAD(xn, ok ? ((size_t)c * H + ih) * W + iw : 0);
  return ok ? PRO_APPLY(v, c) : 0.0f;
}

#ifdef PRO_POOL
/* -DPRO_POOL=k (a 1x1 conv, stride 1, no padding): its input is the max over the k x k window (stride 1, the
 * window centred, the padding ignored) of x: GoogLeNet's max pool before each inception's fourth branch. */
inline float pooled_value(__global const store_t *xn, int k, int K, int H, int W, int ih0, int iw0) {
  if (k >= K) return 0.0f;
  __global const store_t *xc = xn + (size_t)k * H * W;
  float v = -INFINITY;
  for (int dy = 0; dy < PRO_POOL; ++dy) {
    const int ih = ih0 + dy - PRO_POOL / 2;
    for (int dx = 0; dx < PRO_POOL; ++dx) {
      const int iw = iw0 + dx - PRO_POOL / 2;
      const bool ok = ih >= 0 && ih < H && iw >= 0 && iw < W;
      const float xv = LOAD(xc, ok ? ih * W + iw : 0);
      v = ok ? max_nan(v, xv) : v;
    }
  }
  return v;
}
#endif

#ifdef PREFIX
/* This work-item's share of the prefix copy: channels PC0.. of `pre` to output channels 0 .. PC-1. */
inline void copy_prefix(__global const store_t *pre, __global store_t *y, int PC, int PC0, int PCT, int P, int YCT,
                        int YG) {
  const size_t items = get_global_size(0) * get_global_size(1) * get_global_size(2);
  const size_t id = (get_global_id(2) * get_global_size(1) + get_global_id(1)) * get_global_size(0) +
                    get_global_id(0);
  const size_t plane = (size_t)PC * P, total = plane * (get_num_groups(2) / SPLIT);
  for (size_t e = id; e < total; e += items) {
    const int n = e / plane, c = (e % plane) / P, p = e % P;
    STORE(y, out_index(n, c, p, P, YCT, YG), LOAD(pre, ((size_t)n * PCT + PC0 + c) * P + p));
  }
}
#endif

#ifdef DW_FUSED
/* The depthwise conv's output of channel k at the work-item's pixel (0 past K). */
inline float dw_value(__global const store_t *xn, __global const store_t *dww, __global const store_t *dwb, int k,
                      int K, int H, int W, int ih0, int iw0) {
  if (k >= K) return 0.0f;
  float v = LOAD(dwb, k);
  __global const store_t *xc = xn + (size_t)k * H * W;
  for (int r = 0; r < KK; ++r) {
    const int ih = ih0 + (r / KW) * DH, iw = iw0 + (r % KW) * DW;
    const bool ok = ih >= 0 && ih < H && iw >= 0 && iw < W;
    const float xv = LOAD(xc, ok ? ih * W + iw : 0);
    v = mad(ok ? xv : 0.0f, LOAD(dww, k * KK + r), v);
  }
  return clip_nan(v, DW_LO, DW_HI);
}
#endif

__kernel __attribute__((reqd_work_group_size(TN / 4, TM / 4, 1)))
void conv_gemm(__global const store_t *x, DW_PARAM PRO_PARAM __global const store_t *a, __global const store_t *bias,
               SLOPE_PARAM RES_PARAM PRE_PARAM __global store_t *y, PART_PARAM
               COUNT_PARAM const conv_gemm_sizes sizes) {
  const int C = sizes.C, H = sizes.H, W = sizes.W, M = sizes.M, MP = sizes.MP, OW = sizes.OW, P = sizes.P;
  const int K = sizes.K, KT = sizes.KT, PT = sizes.PT, PL = sizes.PL, XC0 = sizes.XC0, XCT = sizes.XCT;
  const int YC0 = sizes.YC0, YCT = sizes.YCT, YG = sizes.YG;
  __local float4 As[TK][TM / 4];
  __local float4 Bs4[TK][TN / 4];
  __local float *Bs = (__local float *)Bs4;
  const int tx = get_local_id(0), ty = get_local_id(1), t = ty * (TN / 4) + tx;
  const int p0 = get_group_id(0) * TN, m0 = get_group_id(1) * TM;
  const int n = get_group_id(2) / SPLIT, s = get_group_id(2) % SPLIT;
  /* this split's K slices: [kt0, kt1) of KT */
  const int kt0 = s * KT / SPLIT, kt1 = (s + 1) * KT / SPLIT;
#ifdef PREFIX
  copy_prefix(pre, y, PC, PC0, PCT, P, YCT, YG);
#endif

  /* B loads: this work-item always gathers pixel bp (WG is a multiple of TN), rows t/TN + j*(WG/TN) */
  const int bp = p0 + t % TN, brow = t / TN;
  const int pc = min(bp, P - 1); /* pixels past P load pixel P-1 and are never stored */
  const int ih0 = (pc / OW) * SH - PT, iw0 = (pc % OW) * SW - PL;
  __global const store_t *xn = x + ((size_t)n * XCT + XC0) * H * W;
#define B_PER (TK * TN / WG)
#define A_PER (TK * TM / 4 / WG)
  float breg[B_PER];
  float4 areg[A_PER];
#ifdef DW_FUSED
#define B_VALUE(k) dw_value(xn, dww, dwb, k, K, H, W, ih0, iw0)
#elif defined(PRO_POOL)
#define B_VALUE(k) pooled_value(xn, k, K, H, W, ih0, iw0)
#else
#define B_VALUE(k) im2col_value(xn, PRO_ARGS k, K, H, W, ih0, iw0)
#endif
#define LOAD_SLICE(kt)                                                                     \
  for (int j = 0; j < A_PER; ++j) {                                                        \
    const int i = t + j * WG; /* float4 index in the TK x TM/4 slice */                   \
    areg[j] = LOAD4(a, ((size_t)(kt) * TK + i / (TM / 4)) * (MP / 4) + m0 / 4 + i % (TM / 4)); \
  }                                                                                        \
  for (int j = 0; j < B_PER; ++j) {                                                        \
    const int k = (kt) * TK + brow + j * (WG / TN);                                        \
    breg[j] = B_VALUE(k);                                                                  \
  }

  float4 acc[4]; /* acc[i]: channel m0+ty*4+i at pixels p0+tx*4 .. +3 */
  for (int i = 0; i < 4; ++i) acc[i] = (float4)(0.0f);
  if (kt0 < kt1) {
    LOAD_SLICE(kt0)
  }
  for (int kt = kt0; kt < kt1; ++kt) {
    barrier(CLK_LOCAL_MEM_FENCE); /* the previous slice's arithmetic is done with As/Bs */
    for (int j = 0; j < A_PER; ++j) As[(t + j * WG) / (TM / 4)][(t + j * WG) % (TM / 4)] = areg[j];
    for (int j = 0; j < B_PER; ++j) Bs[(brow + j * (WG / TN)) * TN + t % TN] = breg[j];
    barrier(CLK_LOCAL_MEM_FENCE);
    if (kt + 1 < kt1) {
      LOAD_SLICE(kt + 1)
    }
    for (int kk = 0; kk < TK; ++kk) {
      const float4 av = As[kk][ty], bv = Bs4[kk][tx];
      acc[0] = mad(av.x, bv, acc[0]);
      acc[1] = mad(av.y, bv, acc[1]);
      acc[2] = mad(av.z, bv, acc[2]);
      acc[3] = mad(av.w, bv, acc[3]);
    }
  }

  const int pb = p0 + tx * 4, np = min(4, P - pb);
#if SPLIT > 1
  for (int i = 0; i < 4 && np > 0; ++i) {
    const int m = m0 + ty * 4 + i;
    if (m >= M) break;
    const float4 v = acc[i];
    __global float *pp = part + (((size_t)n * SPLIT + s) * M + m) * P + pb;
    if (np == 4) {
      vstore4(v, 0, pp);
    } else {
      float vv[4] = {v.x, v.y, v.z, v.w};
      for (int j = 0; j < np; ++j) pp[j] = vv[j];
    }
  }
#ifdef SPLIT_LAST
  /* The work-group that finishes a tile last sums the tile's splits, in split order (the same sums as
   * conv_splitk_reduce, so the same bits) and applies the epilogue: no reduction launch. Each work-item's
   * write_mem_fence orders its partial stores before the barrier, after which one work-item counts the tile (the
   * fence is cumulative: what the barrier made visible to that work-item is ordered before its atomic); the
   * last work-group's read_mem_fence orders the count before its reads of the partials, which are volatile so
   * that no cache line it holds from a neighbouring tile serves a stale copy; it puts the count back to 0 for
   * the next run. On NVIDIA (-DPTX_FENCE) both fences are backed by the device-scope membar.gl as inline PTX,
   * whatever the OpenCL fences compile to (mem_fence gives membar.cta, which orders nothing for other work-groups):
   * benchmarks/split_last_check.py shows the PTX and compares the sums bit for bit; ops/conv_gemm.py SPLIT_LAST
   * turns it on. */
  __local int last;
  write_mem_fence(CLK_GLOBAL_MEM_FENCE);
  DEVICE_FENCE();
  barrier(CLK_GLOBAL_MEM_FENCE | CLK_LOCAL_MEM_FENCE);
  const int tile = (n * get_num_groups(1) + get_group_id(1)) * get_num_groups(0) + get_group_id(0);
  if (t == 0) last = atomic_inc(count + tile) == SPLIT - 1;
  barrier(CLK_LOCAL_MEM_FENCE);
  if (!last) return;
  read_mem_fence(CLK_GLOBAL_MEM_FENCE);
  DEVICE_FENCE();
  if (t == 0) count[tile] = 0;
  for (int i = 0; i < 4 && np > 0; ++i) {
    const int m = m0 + ty * 4 + i;
    if (m >= M) return;
    volatile __global const float *pp = part + ((size_t)n * SPLIT * M + m) * P + pb;
    const float b = LOAD(bias, m), sl = SLOPE(m);
    const size_t at = out_index(n, YC0 + m, pb, P, YCT, YG), rat = ((size_t)n * M + m) * P + pb;
    for (int j = 0; j < np; ++j) {
      float v = b;
      for (int q = 0; q < SPLIT; ++q) v += pp[(size_t)q * M * P + j];
      STORE(y, at + j, activate(v + residual1(RES_ARG rat + j), sl));
    }
  }
#endif
#else
  if (np <= 0) return;
  for (int i = 0; i < 4; ++i) {
    const int m = m0 + ty * 4 + i;
    if (m >= M) return;
    float4 v = acc[i];
    const float b = LOAD(bias, m), sl = SLOPE(m);
    const size_t at = out_index(n, YC0 + m, pb, P, YCT, YG);
    v += b + residual4(RES_ARG((size_t)n * M + m) * P + pb, np);
    v = (float4)(activate(v.x, sl), activate(v.y, sl), activate(v.z, sl), activate(v.w, sl));
    __global store_t *yp = y + at;
    if (np == 4) {
      STORE4(yp, 0, v);
    } else {
      float vv[4] = {v.x, v.y, v.z, v.w};
      for (int j = 0; j < np; ++j) STORE(yp, j, vv[j]);
    }
  }
#endif
}
#endif
#endif

/* Split-K epilogue: Y[n][m][p] = activate(bias[m] + sum_s part[n][s][m][p]) into conv_gemm's output layout; one
 * work-item per output value (z = n*M + m), so that the reads of every split are coalesced along p. */
#ifdef KERNEL_conv_splitk_reduce
__kernel void conv_splitk_reduce(__global const float *part, __global const store_t *bias,
                                 SLOPE_PARAM RES_PARAM __global store_t *y, const splitk_sizes sizes) {
  const int S = sizes.S, M = sizes.M, P = sizes.P, N = sizes.N, YC0 = sizes.YC0, YCT = sizes.YCT, YG = sizes.YG;
  const int p = get_global_id(0), z = get_global_id(1);
  if (p >= P || z >= N * M) return;
  const int n = z / M, m = z % M;
  __global const float *pp = part + ((size_t)n * S * M + m) * P + p;
  float v = LOAD(bias, m);
  for (int s = 0; s < S; ++s) v += pp[(size_t)s * M * P];
  const float r = residual1(RES_ARG(size_t)z * P + p);
  STORE(y, out_index(n, YC0 + m, p, P, YCT, YG), activate(v + r, SLOPE(m)));
}
#endif
