/* Conv, NCHW: the portable kernel family, its host code in ops/conv_direct.py; the GPU family (conv_gemm,
 * conv_splitk_reduce: tiled implicit GEMM) is in conv_gemm.cl (ops/conv_gemm.py), the CPU family in conv_cpu.cl
 * (ops/conv_cpu.py); ops/conv_variants.py picks a kernel per node (`pymace tune` among candidates).
 *   conv1x1, conv_depthwise, conv_direct            portable: 4 output channels (depthwise: 1) x PX pixels
 * Build options: KH KW (kernel), SH SW (stride), DH DW (dilation), the epilogue's ACT (ACT_A, ACT_B) and HAS_RES
 * (common.h), and each kernel's own (PX). Shapes and channel counts are arguments rather
 * than -D options so that the ~50 convs of a model share a few programs: fewer builds make a faster cold start,
 * and the inner loops are bounded by the channels anyway. conv1x1 and conv_direct take weights packed on the host
 * as [G][ceil(Mg/4)][Cg*KH*KW][4] (zero-padded), bias and PRelu slope as [G][ceil(Mg/4)][4], so that one LOAD4
 * fetches the values of 4 output channels. */

#ifndef PX
#define PX 4
#endif

/* Each kernel's sizes, one by-value argument (ops/kernel_args.py binds the fields by name). */
typedef struct { int N, C, M, P; } conv1x1_sizes;
typedef struct { int N, C, H, W, OH, OW, PT, PL; } depthwise_sizes;
typedef struct { int N, CG, MG, MBG, G, H, W, OH, OW, PT, PL; } direct_sizes;

/* 4 values of a row whose last n (1..4) are valid; the rest repeat the last valid one (never read past it). */
inline float4 load4_tail(__global const store_t *p, int n) {
  return (float4)(LOAD(p, 0), LOAD(p, min(1, n - 1)), LOAD(p, min(2, n - 1)), LOAD(p, min(3, n - 1)));
}

/* 1x1, stride 1, no padding, one group: Y[n] = W · X[n] as a GEMM over the flattened pixels P = H*W.
 * A work-item computes 4 output channels x 4 pixels; both its weight and its input loads are 4-wide. */
#ifdef KERNEL_conv1x1
__kernel void conv1x1(__global const store_t *x, __global const store_t *w, __global const store_t *bias,
                      SLOPE_PARAM RES_PARAM __global store_t *y, const conv1x1_sizes sizes) {
  const int N = sizes.N, C = sizes.C, M = sizes.M, P = sizes.P;
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
  const float4 s = SLOPE4(mb);
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
                             SLOPE_PARAM RES_PARAM __global store_t *y, const depthwise_sizes sizes) {
  const int N = sizes.N, C = sizes.C, H = sizes.H, W = sizes.W, OH = sizes.OH, OW = sizes.OW;
  const int PT = sizes.PT, PL = sizes.PL;
  const int ow0 = get_global_id(0) * PX, oh = get_global_id(1), z = get_global_id(2); /* z = n*C + c */
  if (ow0 >= OW || oh >= OH || z >= N * C) return;
  const int c = z % C;
  float acc[PX];
  for (int j = 0; j < PX; ++j) acc[j] = LOAD(bias, c);
  const int iw0 = ow0 * SW - PL;
  /* Branch-free padding: clamped loads, selected to 0 off the map, so that PoCL can vectorise across work-items
   * (divergent branches make it fall back to scalar code) and GPU threads do not diverge. The select, not a zero
   * weight: an edge value of inf or NaN times 0 would put a NaN where the padding is. */
  for (int kh = 0; kh < KH; ++kh) {
    const int ih = oh * SH - PT + kh * DH;
    const bool hin = ih >= 0 && ih < H;
    __global const store_t *row = x + ((size_t)z * H + clamp(ih, 0, H - 1)) * W;
    for (int kw = 0; kw < KW; ++kw) {
      const float wv = LOAD(w, c * KH * KW + kh * KW + kw);
      for (int j = 0; j < PX; ++j) {
        const int iw = iw0 + j * SW + kw * DW;
        const float v = LOAD(row, clamp(iw, 0, W - 1));
        acc[j] = mad(hin && iw >= 0 && iw < W ? v : 0.0f, wv, acc[j]);
      }
    }
  }
  const float s = SLOPE(c);
  const size_t row0 = ((size_t)z * OH + oh) * OW;
  for (int j = 0; j < PX && ow0 + j < OW; ++j)
    STORE(y, row0 + ow0 + j, activate(acc[j] + residual1(RES_ARG row0 + ow0 + j), s));
}
#endif

/* Any other conv (grouped, strided, dilated, padded): a work-item computes 4 output channels of one group
 * (z = (n*G + g)*MBG + block) at PX adjacent output pixels of one row. */
#ifdef KERNEL_conv_direct
__kernel void conv_direct(__global const store_t *x, __global const store_t *w, __global const store_t *bias,
                          SLOPE_PARAM RES_PARAM __global store_t *y, const direct_sizes sizes) {
  const int N = sizes.N, CG = sizes.CG, MG = sizes.MG, MBG = sizes.MBG, G = sizes.G, H = sizes.H, W = sizes.W;
  const int OH = sizes.OH, OW = sizes.OW, PT = sizes.PT, PL = sizes.PL;
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
      const bool hin = ih >= 0 && ih < H;
      __global const store_t *row = xg + ((size_t)c * H + clamp(ih, 0, H - 1)) * W;
      for (int kw = 0; kw < KW; ++kw) {
        const float4 wv = LOAD4(w, wbase + (c * KH + kh) * KW + kw);
        for (int j = 0; j < PX; ++j) {
          const int iw = iw0 + j * SW + kw * DW;
          const float v = LOAD(row, clamp(iw, 0, W - 1));
          acc[j] = mad(hin && iw >= 0 && iw < W ? v : 0.0f, wv, acc[j]);
        }
      }
    }
  }
  const float4 s = SLOPE4(gb);
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
