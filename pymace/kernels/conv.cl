/* Conv, NCHW: two kernel families, their host code in ops/conv_direct.py and conv_gemm.py (the CPU family is in
 * conv_cpu.cl, ops/conv_cpu.py); ops/conv_variants.py picks a kernel per node (`pymace tune` among candidates).
 *   conv1x1, conv_depthwise, conv_direct            portable: 4 output channels (depthwise: 1) x PX pixels
 *   conv_gemm, conv_splitk_reduce                   GPUs: tiled implicit GEMM through __local memory, split K
 * Build options: KH KW (kernel), SH SW (stride), DH DW (dilation), the epilogue's ACT (ACT_A, ACT_B) and HAS_RES
 * (common.h), and each kernel's own (PX; TM TN TK SPLIT). Shapes and channel counts are arguments rather
 * than -D options so that the ~50 convs of a model share a few programs: fewer builds make a faster cold start,
 * and the inner loops are bounded by the channels anyway. conv1x1 and conv_direct take weights packed on the host
 * as [G][ceil(Mg/4)][Cg*KH*KW][4] (zero-padded), bias and PRelu slope as [G][ceil(Mg/4)][4], so that one LOAD4
 * fetches the values of 4 output channels. */

#ifndef PX
#define PX 4
#endif

/* 4 values of a row whose last n (1..4) are valid; the rest repeat the last valid one (never read past it). */
inline float4 load4_tail(__global const store_t *p, int n) {
  return (float4)(LOAD(p, 0), LOAD(p, min(1, n - 1)), LOAD(p, min(2, n - 1)), LOAD(p, min(3, n - 1)));
}

/* 1x1, stride 1, no padding, one group: Y[n] = W · X[n] as a GEMM over the flattened pixels P = H*W.
 * A work-item computes 4 output channels x 4 pixels; both its weight and its input loads are 4-wide. */
#ifdef KERNEL_conv1x1
__kernel void conv1x1(__global const store_t *x, __global const store_t *w, __global const store_t *bias,
                      __global const store_t *slope, RES_PARAM __global store_t *y, int N, int C, int M, int P) {
  const int pb = get_global_id(0), mb = get_global_id(1), n = get_global_id(2);
  const int p0 = pb * 4;
  if (p0 >= P || mb * 4 >= M || n >= N) return;
  const float4 b = LOAD4(bias, mb);
  float4 acc0 = b.x, acc1 = b.y, acc2 = b.z, acc3 = b.w; /* acc_i: channel mb*4+i at pixels p0..p0+3 */
  __global const store_t *xp = x + (size_t)n * C * P + p0;
  const int valid = min(4, P - p0);
#define CONV1X1_STEP(load_x)                       \
  for (int c = 0; c < C; ++c) {                     \
    const float4 xv = load_x;                       \
    const float4 wv = LOAD4(w, mb * C + c);         \
    acc0 = mad(wv.x, xv, acc0);                     \
    acc1 = mad(wv.y, xv, acc1);                     \
    acc2 = mad(wv.z, xv, acc2);                     \
    acc3 = mad(wv.w, xv, acc3);                     \
  }
  /* two loops rather than a branch inside one, so that the hot loop stays branch-free */
  if (valid == 4) {
    CONV1X1_STEP(LOAD4(xp + (size_t)c * P, 0))
  } else {
    CONV1X1_STEP(load4_tail(xp + (size_t)c * P, valid))
  }
  const float4 s = LOAD4(slope, mb);
  float4 out[4] = {acc0, acc1, acc2, acc3};
  float sl[4] = {s.x, s.y, s.z, s.w};
  for (int i = 0; i < 4 && mb * 4 + i < M; ++i) {
    const size_t at = ((size_t)n * M + mb * 4 + i) * P + p0;
    const float4 a = out[i] + residual4(RES_ARG at, valid);
    const float4 r = (float4)(activate(a.x, sl[i]), activate(a.y, sl[i]), activate(a.z, sl[i]),
                              activate(a.w, sl[i]));
    __global store_t *yp = y + at;
    if (valid == 4) {
      STORE4(yp, 0, r);
    } else {
      float rr[4] = {r.x, r.y, r.z, r.w};
      for (int j = 0; j < valid; ++j) STORE(yp, j, rr[j]);
    }
  }
}
#endif

/* Depthwise (group == C_in == C_out): a work-item computes PX adjacent output pixels of one channel. */
#ifdef KERNEL_conv_depthwise
__kernel void conv_depthwise(__global const store_t *x, __global const store_t *w, __global const store_t *bias,
                             __global const store_t *slope, RES_PARAM __global store_t *y, int N, int C, int H, int W,
                             int OH, int OW, int PT, int PL) {
  const int ow0 = get_global_id(0) * PX, oh = get_global_id(1), z = get_global_id(2); /* z = n*C + c */
  if (ow0 >= OW || oh >= OH || z >= N * C) return;
  const int c = z % C;
  float acc[PX];
  for (int j = 0; j < PX; ++j) acc[j] = LOAD(bias, c);
  const int iw0 = ow0 * SW - PL;
  /* Branch-free padding: clamped loads times a zero weight or a zero mask, so that PoCL can vectorise across
   * work-items (divergent branches make it fall back to scalar code) and GPU threads do not diverge. */
  for (int kh = 0; kh < KH; ++kh) {
    const int ih = oh * SH - PT + kh * DH;
    const float hmask = ih >= 0 && ih < H ? 1.0f : 0.0f;
    __global const store_t *row = x + ((size_t)z * H + clamp(ih, 0, H - 1)) * W;
    for (int kw = 0; kw < KW; ++kw) {
      const float wv = hmask * LOAD(w, c * KH * KW + kh * KW + kw);
      for (int j = 0; j < PX; ++j) {
        const int iw = iw0 + j * SW + kw * DW;
        const float v = LOAD(row, clamp(iw, 0, W - 1));
        acc[j] = mad(iw >= 0 && iw < W ? v : 0.0f, wv, acc[j]);
      }
    }
  }
  const float s = LOAD(slope, c);
  const size_t row0 = ((size_t)z * OH + oh) * OW;
  for (int j = 0; j < PX && ow0 + j < OW; ++j)
    STORE(y, row0 + ow0 + j, activate(acc[j] + residual1(RES_ARG row0 + ow0 + j), s));
}
#endif

/* Any other conv (grouped, strided, dilated, padded): a work-item computes 4 output channels of one group
 * (z = (n*G + g)*MBG + block) at PX adjacent output pixels of one row. */
#ifdef KERNEL_conv_direct
__kernel void conv_direct(__global const store_t *x, __global const store_t *w, __global const store_t *bias,
                          __global const store_t *slope, RES_PARAM __global store_t *y, int N, int CG, int MG, int MBG,
                          int G, int H, int W, int OH, int OW, int PT, int PL) {
  const int ow0 = get_global_id(0) * PX, oh = get_global_id(1), z = get_global_id(2);
  if (ow0 >= OW || oh >= OH || z >= N * G * MBG) return;
  const int gb = z % (G * MBG), n = z / (G * MBG), g = gb / MBG, mb = gb % MBG;
  float4 acc[PX];
  const float4 b = LOAD4(bias, gb);
  for (int j = 0; j < PX; ++j) acc[j] = b;
  const int iw0 = ow0 * SW - PL;
  __global const store_t *xg = x + ((size_t)n * G + g) * CG * H * W;
  const int wbase = gb * CG * KH * KW;
  for (int c = 0; c < CG; ++c) {
    for (int kh = 0; kh < KH; ++kh) { /* branch-free padding, as in conv_depthwise */
      const int ih = oh * SH - PT + kh * DH;
      const float hmask = ih >= 0 && ih < H ? 1.0f : 0.0f;
      __global const store_t *row = xg + ((size_t)c * H + clamp(ih, 0, H - 1)) * W;
      for (int kw = 0; kw < KW; ++kw) {
        const float4 wv = hmask * LOAD4(w, wbase + (c * KH + kh) * KW + kw);
        for (int j = 0; j < PX; ++j) {
          const int iw = iw0 + j * SW + kw * DW;
          const float v = LOAD(row, clamp(iw, 0, W - 1));
          acc[j] = mad(iw >= 0 && iw < W ? v : 0.0f, wv, acc[j]);
        }
      }
    }
  }
  const float4 s = LOAD4(slope, gb);
  float sl[4] = {s.x, s.y, s.z, s.w};
  for (int j = 0; j < PX && ow0 + j < OW; ++j) {
    float a[4] = {acc[j].x, acc[j].y, acc[j].z, acc[j].w};
    for (int i = 0; i < 4 && mb * 4 + i < MG; ++i) {
      const size_t m = (size_t)g * MG + mb * 4 + i;
      const size_t at = ((n * (size_t)G * MG + m) * OH + oh) * OW + ow0 + j;
      STORE(y, at, activate(a[i] + residual1(RES_ARG at), sl[i]));
    }
  }
}
#endif

/* ---- GPU: any one-group conv as a tiled implicit GEMM ----
 * Y[n][m][p] = sum_k A[k][m] * B[k][p], k = (c, kh, kw) over C*KH*KW, p = (oh, ow) over OH*OW, and
 * B[k][p] = X[n][c][oh*SH - PT + kh*DH][ow*SW - PL + kw*DW] (0 in the padding) gathered on the fly (im2col
 * without the copy). A work-group computes a TM (channels) x TN (pixels) tile of Y with (TM/4)*(TN/4)
 * work-items, each a 4x4 register block; K advances TK at a time through __local memory, the next slice's
 * global loads issued before the current slice's arithmetic so that their latency hides behind it.
 * Weights come packed on the host as A[K_pad][M_pad] (zero-padded to whole tiles), so A loads need no bounds
 * checks and are coalesced 4-wide along m. Split-K (group id 2 = n*S + s, S = SPLIT): split s sums its share of
 * the K slices and writes fp32 partials to part[n][s][M][P]; conv_splitk_reduce adds them up (bias,
 * activation). With S == 1 the epilogue is fused here. Build options: TM TN TK SPLIT and the conv's KH.. ACT. */
#ifdef TM
#define WG ((TM / 4) * (TN / 4))
#define KK (KH * KW)

/* -DDW_FUSED: SeparableConv (ops/separable_conv.py), a depthwise conv whose output only a 1x1 conv reads. The
 * GEMM is then the 1x1 conv (K = C channels) and its B tile is the depthwise output, computed while it is loaded:
 * B[c][p] = clamp(dwb[c] + sum over taps of dww[c][tap] * x[c][tap's pixel], DW_LO, DW_HI), where KH KW SH SW DH
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

#ifdef KERNEL_conv_gemm
#ifdef SPLIT_LAST
#define COUNT_PARAM __global int *count, /* per output tile: how many of its splits are done (0 between runs) */
#else
#define COUNT_PARAM
#endif

/* Row k of the implicit im2col matrix at the work-item's pixel: input channel k / KK, tap k % KK; 0 off the map
 * and past K. */
inline float im2col_value(__global const store_t *xn, int k, int K, int H, int W, int ih0, int iw0) {
  const int c = k / KK, r = k % KK;
  const int ih = ih0 + (r / KW) * DH, iw = iw0 + (r % KW) * DW;
  const bool ok = k < K && ih >= 0 && ih < H && iw >= 0 && iw < W;
  const float v = LOAD(xn, ok ? ((size_t)c * H + ih) * W + iw : 0);
  return ok ? v : 0.0f;
}

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
  return clamp(v, DW_LO, DW_HI);
}
#endif

__kernel __attribute__((reqd_work_group_size(TN / 4, TM / 4, 1)))
void conv_gemm(__global const store_t *x, DW_PARAM __global const store_t *a, __global const store_t *bias,
               __global const store_t *slope, RES_PARAM __global store_t *y, __global float *part, COUNT_PARAM
               int C, int H, int W,
               int M, int MP, int OW, int P, int K, int KT, int PT, int PL) {
  __local float4 As[TK][TM / 4];
  __local float4 Bs4[TK][TN / 4];
  __local float *Bs = (__local float *)Bs4;
  const int tx = get_local_id(0), ty = get_local_id(1), t = ty * (TN / 4) + tx;
  const int p0 = get_group_id(0) * TN, m0 = get_group_id(1) * TM;
  const int n = get_group_id(2) / SPLIT, s = get_group_id(2) % SPLIT;
  /* this split's K slices: [kt0, kt1) of KT */
  const int kt0 = s * KT / SPLIT, kt1 = (s + 1) * KT / SPLIT;

  /* B loads: this work-item always gathers pixel bp (WG is a multiple of TN), rows t/TN + j*(WG/TN) */
  const int bp = p0 + t % TN, brow = t / TN;
  const int pc = min(bp, P - 1); /* pixels past P load pixel P-1 and are never stored */
  const int ih0 = (pc / OW) * SH - PT, iw0 = (pc % OW) * SW - PL;
  __global const store_t *xn = x + (size_t)n * C * H * W;
#define B_PER (TK * TN / WG)
#define A_PER (TK * TM / 4 / WG)
  float breg[B_PER];
  float4 areg[A_PER];
#ifdef DW_FUSED
#define B_VALUE(k) dw_value(xn, dww, dwb, k, K, H, W, ih0, iw0)
#else
#define B_VALUE(k) im2col_value(xn, k, K, H, W, ih0, iw0)
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
   * conv_splitk_reduce, so the same bits) and applies the epilogue: no reduction launch. Each work-item fences
   * its partials before one work-item counts the tile; the last one puts the count back to 0 for the next run
   * and reads the others' partials through volatile loads, so that no cache line it holds from a neighbouring
   * tile serves a stale copy. OpenCL 1.2 orders only a work-item's own accesses, so whether the writers' fence
   * reaches the whole device is up to the compiler: ops/conv_gemm.py does not offer it (SPLIT_LAST_OFFERED). */
  __local int last;
  mem_fence(CLK_GLOBAL_MEM_FENCE);
  barrier(CLK_GLOBAL_MEM_FENCE | CLK_LOCAL_MEM_FENCE);
  const int tile = (n * get_num_groups(1) + get_group_id(1)) * get_num_groups(0) + get_group_id(0);
  if (t == 0) last = atomic_inc(count + tile) == SPLIT - 1;
  barrier(CLK_LOCAL_MEM_FENCE);
  if (!last) return;
  mem_fence(CLK_GLOBAL_MEM_FENCE);
  if (t == 0) count[tile] = 0;
  for (int i = 0; i < 4 && np > 0; ++i) {
    const int m = m0 + ty * 4 + i;
    if (m >= M) return;
    volatile __global const float *pp = part + ((size_t)n * SPLIT * M + m) * P + pb;
    const float b = LOAD(bias, m), sl = LOAD(slope, m);
    const size_t at = ((size_t)n * M + m) * P + pb;
    for (int j = 0; j < np; ++j) {
      float v = b;
      for (int q = 0; q < SPLIT; ++q) v += pp[(size_t)q * M * P + j];
      STORE(y, at + j, activate(v + residual1(RES_ARG at + j), sl));
    }
  }
#endif
#else
  if (np <= 0) return;
  for (int i = 0; i < 4; ++i) {
    const int m = m0 + ty * 4 + i;
    if (m >= M) return;
    float4 v = acc[i];
    const float b = LOAD(bias, m), sl = LOAD(slope, m);
    const size_t at = ((size_t)n * M + m) * P + pb;
    v += b + residual4(RES_ARG at, np);
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

/* Split-K epilogue: Y[n][m][p] = activate(bias[m] + sum_s part[n][s][m][p]); one work-item per output value
 * (z = n*M + m), so that the reads of every split are coalesced along p. */
#ifdef KERNEL_conv_splitk_reduce
__kernel void conv_splitk_reduce(__global const float *part, __global const store_t *bias,
                                 __global const store_t *slope, RES_PARAM __global store_t *y, int S, int M, int P,
                                 int N) {
  const int p = get_global_id(0), z = get_global_id(1);
  if (p >= P || z >= N * M) return;
  const int n = z / M, m = z % M;
  __global const float *pp = part + ((size_t)n * S * M + m) * P + p;
  float v = LOAD(bias, m);
  for (int s = 0; s < S; ++s) v += pp[(size_t)s * M * P];
  STORE(y, (size_t)z * P + p, activate(v + residual1(RES_ARG(size_t)z * P + p), LOAD(slope, m)));
}
#endif
