/* Conv, NCHW: three kernel families, their host code in ops/conv_direct.py, conv_gemm.py and conv_cpu.py;
 * ops/conv_variants.py picks a kernel per node (and `pymace tune` among its candidates).
 *   conv1x1, conv_depthwise, conv_direct            portable: 4 output channels (depthwise: 1) x PX pixels
 *   conv_gemm, conv_splitk_reduce                   GPUs: tiled implicit GEMM through __local memory, split K
 *   conv1x1_cpu, conv_direct_cpu, conv_rows_cpu     CPUs (PoCL): explicit vectors, one work-item a work-group
 * Build options: KH KW (kernel), SH SW (stride), DH DW (dilation), the epilogue's ACT (ACT_A, ACT_B) and HAS_RES
 * (common.h), and each kernel's own (PX; TM TN TK SPLIT; VW MB …). Shapes and channel counts are arguments rather
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

/* ---- CPU (PoCL): explicit vectors, one work-item a work-group ----
 * PoCL turns mad() into a multiply and an add and keeps per-work-item arrays in memory unless loops over them
 * unroll, which slows the kernels above on CPUs (benchmarks/NOTES.md). These work-items hold VW output pixels of MB
 * output channels as MB vectors of VW floats (one zmm register each for VW = 16), stream the input one vector
 * at a time and multiply it by each channel's weight broadcast from memory: one vector load per MB fma()
 * (vfmadd231ps with a {1to16} broadcast operand). With one work-item per work-group PoCL has no work-item loop
 * to vectorise, so the code runs as written and branches cost nothing. Build options: VW, MB (+ the conv's).
 * Blocks of VW pixels that would run past the end start VW earlier instead (they overlap the previous block and
 * write the same values), so no load or store is partial unless the row or map is shorter than VW. */
#ifdef VW
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
typedef CAT(float, VW) vec_t;
#ifndef PB
#define PB 1
#endif
#ifdef FP16_STORAGE
#define LOADV(p) CAT(vload_half, VW)(0, (p))
#define STOREV(p, v) CAT(vstore_half, VW)((v), 0, (p))
#else
#define LOADV(p) CAT(vload, VW)(0, (p))
#define STOREV(p, v) CAT(vstore, VW)((v), 0, (p))
#endif

/* activate(acc + bias-free residual) for the `n` valid lanes (n <= VW) of y[at..], channel slope `s` */
inline void store_block(__global store_t *y, RES_PARAM size_t at, vec_t v, float s, int n) {
  float t[VW];
  if (n == VW) {
#ifdef HAS_RES
    v += LOADV(res + at);
#endif
    CAT(vstore, VW)(v, 0, t);
#pragma unroll
    for (int j = 0; j < VW; ++j) t[j] = activate(t[j], s);
    STOREV(y + at, CAT(vload, VW)(0, t));
  } else {
    CAT(vstore, VW)(v, 0, t);
    for (int j = 0; j < n; ++j) STORE(y, at + j, activate(t[j] + residual1(RES_ARG at + j), s));
  }
}

inline void conv1x1_block(__global const store_t *x, __global const store_t *w, __global const store_t *bias,
                          __global const store_t *slope, RES_PARAM __global store_t *y, int C, int M, int P, int b0,
                          int mb, int n) {
  vec_t acc[PB][MB];
  int p0[PB];
#pragma unroll
  for (int i = 0; i < PB; ++i) {
    p0[i] = min((b0 + i) * VW, P - VW); /* past the end: the last block again */
#pragma unroll
    for (int j = 0; j < MB; ++j) acc[i][j] = (vec_t)(LOAD(bias, mb * MB + j));
  }
  __global const store_t *xp = x + (size_t)n * C * P;
  __global const store_t *wp = w + (size_t)mb * C * MB;
  for (int c = 0; c < C; ++c) {
    vec_t xv[PB];
#pragma unroll
    for (int i = 0; i < PB; ++i) xv[i] = LOADV(xp + (size_t)c * P + p0[i]);
#pragma unroll
    for (int j = 0; j < MB; ++j) {
      const vec_t wv = (vec_t)(LOAD(wp, c * MB + j));
#pragma unroll
      for (int i = 0; i < PB; ++i) acc[i][j] = fma(wv, xv[i], acc[i][j]);
    }
  }
#pragma unroll
  for (int j = 0; j < MB; ++j) {
    const int m = mb * MB + j;
    if (m >= M) break;
#pragma unroll
    for (int i = 0; i < PB; ++i) store_block(y, RES_ARG((size_t)n * M + m) * P + p0[i], acc[i][j], LOAD(slope, m), VW);
  }
}

/* 1x1, stride 1, no padding, one group, P >= VW pixels: MB channels x PB blocks of VW consecutive pixels of the
 * flattened map in registers (each weight broadcast serves PB vectors, each input vector MB channels), NB blocks a
 * work-item (fewer work-groups when C is small: each costs PoCL time).
 * Weights packed [ceil(M/MB)][C][MB], bias and slope [ceil(M/MB)][MB] (zero-padded). */
#ifdef KERNEL_conv1x1_cpu
__kernel void conv1x1_cpu(__global const store_t *x, __global const store_t *w, __global const store_t *bias,
                          __global const store_t *slope, RES_PARAM __global store_t *y, int N, int C, int M, int P,
                          int NB) {
  const int mb = get_global_id(1), n = get_global_id(2);
  for (int b = get_global_id(0) * NB; b < (get_global_id(0) + 1) * NB && b * VW < P; b += PB)
    conv1x1_block(x, w, bias, slope, RES_ARG y, C, M, P, b, mb, n);
}
#endif

/* VW output pixels of one row from input row `row` starting at input column iw (stride SW), zeros outside
 * [0, W): one or two vector loads when the span lies inside the row, else lane by lane. */
inline vec_t load_row(__global const store_t *row, int iw, int W) {
#if SW == 1
  if (iw >= 0 && iw + VW <= W) return LOADV(row + iw);
#elif SW == 2
  if (iw >= 0 && iw + 2 * VW <= W) return (vec_t)(LOADV(row + iw).even, LOADV(row + iw + VW).even);
#endif
  float t[VW];
  for (int j = 0; j < VW; ++j) {
    const int i = iw + j * SW;
    t[j] = i >= 0 && i < W ? LOAD(row, i) : 0.0f;
  }
  return CAT(vload, VW)(0, t);
}

/* Any conv (depthwise included: MB = 1): MB output channels of one group (z = (n*G + g)*MBG + block) at VW
 * adjacent output pixels of one row. Weights packed [G][MBG][CG*KH*KW][MB], bias and slope [G][MBG][MB]. */
#ifdef KERNEL_conv_direct_cpu
__kernel void conv_direct_cpu(__global const store_t *x, __global const store_t *w, __global const store_t *bias,
                              __global const store_t *slope, RES_PARAM __global store_t *y, int N, int CG, int MG,
                              int MBG, int G, int H, int W, int OH, int OW, int PT, int PL) {
  const int ow0 = max(0, min((int)get_global_id(0) * VW, OW - VW)), oh = get_global_id(1), z = get_global_id(2);
  const int gb = z % (G * MBG), n = z / (G * MBG), g = gb / MBG, mb = gb % MBG;
  vec_t acc[MB];
#pragma unroll
  for (int j = 0; j < MB; ++j) acc[j] = (vec_t)(LOAD(bias, gb * MB + j));
  const int iw0 = ow0 * SW - PL;
  __global const store_t *xg = x + ((size_t)n * G + g) * CG * H * W;
  __global const store_t *wp = w + (size_t)gb * CG * KH * KW * MB;
  for (int c = 0; c < CG; ++c) {
    for (int kh = 0; kh < KH; ++kh) {
      const int ih = oh * SH - PT + kh * DH;
      if (ih < 0 || ih >= H) continue;
      __global const store_t *row = xg + ((size_t)c * H + ih) * W;
      __global const store_t *wk = wp + ((c * KH + kh) * KW) * MB;
#pragma unroll
      for (int kw = 0; kw < KW; ++kw) {
        const vec_t xv = load_row(row, iw0 + kw * DW, W);
#pragma unroll
        for (int j = 0; j < MB; ++j) acc[j] = fma((vec_t)(LOAD(wk, kw * MB + j)), xv, acc[j]);
      }
    }
  }
  const int valid = min(VW, OW);
#pragma unroll
  for (int j = 0; j < MB; ++j) {
    const int m = mb * MB + j;
    if (m >= MG) break;
    const size_t at = (((size_t)n * G * MG + g * MG + m) * OH + oh) * OW + ow0;
    store_block(y, RES_ARG at, acc[j], LOAD(slope, gb * MB + j), valid);
  }
}
#endif
/* Like conv_direct_cpu, but a work-item computes ROWS whole output rows (from oh0 = id 0 * ROWS) of MB channels
 * of one group (id 1 as z there), with the NR input rows of each of its CGB input channels that they need first
 * copied into private memory with their zero padding (BUFW floats a row, each input row copied once): every tap
 * is then a plain vector load, where conv_direct_cpu loads the blocks that touch the padding lane by lane (slower,
 * benchmarks/NOTES.md). Build options: CGB (input channels a group), ROWS, BUFW (>= PL + W
 * and >= SW * max(OW, VW) + (KW - 1) * DW, a multiple of VW). With stride 2 the rows are staged deinterleaved
 * (even padded columns, then odd), so that every tap is one vector load rather than two and a shuffle. */
#ifdef BUFW
#define NR ((ROWS - 1) * SH + (KH - 1) * DH + 1)
#ifdef KERNEL_conv_rows_cpu
__kernel void conv_rows_cpu(__global const store_t *x, __global const store_t *w, __global const store_t *bias,
                            __global const store_t *slope, RES_PARAM __global store_t *y, int N, int CG, int MG,
                            int MBG, int G, int H, int W, int OH, int OW, int PT, int PL) {
  const int oh0 = get_global_id(0) * ROWS, z = get_global_id(1);
  const int gb = z % (G * MBG), n = z / (G * MBG), g = gb / MBG, mb = gb % MBG;
  float buf[CGB][NR][BUFW];
  __global const store_t *xg = x + ((size_t)n * G + g) * CGB * H * W;
  for (int c = 0; c < CGB; ++c) {
    for (int r = 0; r < NR; ++r) {
      float *b = buf[c][r];
      for (int i = 0; i < BUFW; i += VW) CAT(vstore, VW)((vec_t)(0.0f), 0, b + i);
      const int ih = oh0 * SH - PT + r;
      if (ih < 0 || ih >= H) continue; /* a padding row */
      __global const store_t *row = xg + ((size_t)c * H + ih) * W;
      int i = 0;
#if SW == 2 /* deinterleaved: padded column t at b[t / 2] (even t) or b[BUFW / 2 + t / 2] (odd t) */
      for (; i < W && W >= 2 * VW; i += 2 * VW) {
        i = min(i, W - 2 * VW); /* the last chunk overlaps the one before it */
        const vec_t lo = LOADV(row + i), hi = LOADV(row + i + VW);
        const vec_t ev = (vec_t)(lo.even, hi.even), od = (vec_t)(lo.odd, hi.odd);
        const int t = i + PL;
        CAT(vstore, VW)(t % 2 ? od : ev, 0, b + (t + 1) / 2);
        CAT(vstore, VW)(t % 2 ? ev : od, 0, b + BUFW / 2 + t / 2);
      }
      for (; i < W; ++i) b[(i + PL) % 2 * (BUFW / 2) + (i + PL) / 2] = LOAD(row, i);
#else
      for (; i < W && W >= VW; i += VW) { /* the last chunk overlaps the one before it */
        i = min(i, W - VW);
        CAT(vstore, VW)(LOADV(row + i), 0, b + PL + i);
      }
      for (; i < W; ++i) b[PL + i] = LOAD(row, i);
#endif
    }
  }
  __global const store_t *wp = w + (size_t)gb * CGB * KH * KW * MB;
  for (int oh = oh0; oh < min(OH, oh0 + ROWS); ++oh) {
    for (int ob = 0; ob < OW; ob += VW) {
      const int ow0 = max(0, min(ob, OW - VW));
      vec_t acc[MB];
#pragma unroll
      for (int j = 0; j < MB; ++j) acc[j] = (vec_t)(LOAD(bias, gb * MB + j));
      for (int c = 0; c < CGB; ++c) {
        for (int kh = 0; kh < KH; ++kh) {
#if SW == 2
          const float *br = buf[c][(oh - oh0) * SH + kh * DH] + ow0;
#else
          const float *br = buf[c][(oh - oh0) * SH + kh * DH] + ow0 * SW;
#endif
          __global const store_t *wk = wp + (c * KH + kh) * KW * MB;
#pragma unroll
          for (int kw = 0; kw < KW; ++kw) {
#if SW == 1
            const vec_t xv = CAT(vload, VW)(0, br + kw * DW);
#elif SW == 2
            const vec_t xv = CAT(vload, VW)(0, br + (kw * DW) % 2 * (BUFW / 2) + kw * DW / 2);
#else
            float t[VW];
            for (int j = 0; j < VW; ++j) t[j] = br[kw * DW + j * SW];
            const vec_t xv = CAT(vload, VW)(0, t);
#endif
#pragma unroll
            for (int j = 0; j < MB; ++j) acc[j] = fma((vec_t)(LOAD(wk, kw * MB + j)), xv, acc[j]);
          }
        }
      }
#pragma unroll
      for (int j = 0; j < MB; ++j) {
        const int m = mb * MB + j;
        if (m >= MG) break;
        const size_t at = (((size_t)n * G * MG + g * MG + m) * OH + oh) * OW + ow0;
        store_block(y, RES_ARG at, acc[j], LOAD(slope, gb * MB + j), min(VW, OW));
      }
    }
  }
}
#endif
#endif
#endif
