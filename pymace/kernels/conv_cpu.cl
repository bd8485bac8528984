/* Conv on CPUs (PoCL), NCHW, host code in ops/conv_cpu.py: explicit vectors, one work-item a work-group.
 * PoCL turns mad() into a multiply and an add and keeps per-work-item arrays in memory unless loops over them
 * unroll, which slows the portable kernels of conv.cl on CPUs (benchmarks/NOTES.md). With one work-item per
 * work-group PoCL has no work-item loop to vectorise, so the code runs as written and branches cost nothing.
 *   conv1x1_cpu, conv_direct_cpu, conv_rows_cpu   vectors of VW output pixels of one channel (a row or the
 *                                                 flattened map), MB channels a work-item, each weight broadcast
 *   conv_cvec_cpu                                 vectors of 8 output channels (MV of them) at PX pixels of a row,
 *                                                 each input value broadcast: any stride, no lanes lost on narrow maps
 * The accumulators of a work-item must fit the register file (16 ymm registers with AVX2: MB x PB x VW / 8 and
 * PX x MV at most ~12, benchmarks/NOTES.md), or the compiler spills them around every FMA.
 * Pixel-vector kernels: blocks of VW pixels that would run past the end start VW earlier instead (they overlap the
 * previous block and write the same values), so no load or store is partial unless the row or map is shorter
 * than VW. Build options: VW, MB (PB; CGB ROWS BUFW) or MV, PX, and the conv's (conv.cl). */
#ifdef VW
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
typedef CAT(float, VW) vec_t;
#ifndef PB
#define PB 1
#endif
#ifdef FP16_STORAGE
#define LOADV(p) CAT(load_half, VW)(p)
#define STOREV(p, v) CAT(store_half, VW)((p), (v))
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
                          SLOPE_PARAM RES_PARAM __global store_t *y, int C, int M, int P, int b0,
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
    FLOATS(wc, wp + c * MB, MB);
#pragma unroll
    for (int j = 0; j < MB; ++j) {
      const vec_t wv = (vec_t)(wc[j]);
#pragma unroll
      for (int i = 0; i < PB; ++i) acc[i][j] = fma(wv, xv[i], acc[i][j]);
    }
  }
#pragma unroll
  for (int j = 0; j < MB; ++j) {
    const int m = mb * MB + j;
    if (m >= M) break;
#pragma unroll
    for (int i = 0; i < PB; ++i) store_block(y, RES_ARG((size_t)n * M + m) * P + p0[i], acc[i][j], SLOPE(m), VW);
  }
}

/* 1x1, stride 1, no padding, one group, P >= VW pixels: MB channels x PB blocks of VW consecutive pixels of the
 * flattened map in registers (each weight broadcast serves PB vectors, each input vector MB channels), NB blocks a
 * work-item (fewer work-groups when C is small: each costs PoCL time).
 * Weights packed [ceil(M/MB)][C][MB], bias and slope [ceil(M/MB)][MB] (zero-padded). */
#ifdef KERNEL_conv1x1_cpu
__kernel void conv1x1_cpu(__global const store_t *x, __global const store_t *w, __global const store_t *bias,
                          SLOPE_PARAM RES_PARAM __global store_t *y, int N, int C, int M, int P,
                          int NB) {
  const int mb = get_global_id(1), n = get_global_id(2);
  for (int b = get_global_id(0) * NB; b < (get_global_id(0) + 1) * NB && b * VW < P; b += PB)
    conv1x1_block(x, w, bias, SLOPE_ARG RES_ARG y, C, M, P, b, mb, n);
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
                              SLOPE_PARAM RES_PARAM __global store_t *y, int N, int CG, int MG,
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
    FLOATS(wc, wp + c * KH * KW * MB, KH * KW * MB);
    for (int kh = 0; kh < KH; ++kh) {
      const int ih = oh * SH - PT + kh * DH;
      if (ih < 0 || ih >= H) continue;
      __global const store_t *row = xg + ((size_t)c * H + ih) * W;
#pragma unroll
      for (int kw = 0; kw < KW; ++kw) {
        const vec_t xv = load_row(row, iw0 + kw * DW, W);
#pragma unroll
        for (int j = 0; j < MB; ++j) acc[j] = fma((vec_t)(wc[(kh * KW + kw) * MB + j]), xv, acc[j]);
      }
    }
  }
  const int valid = min(VW, OW);
#pragma unroll
  for (int j = 0; j < MB; ++j) {
    const int m = mb * MB + j;
    if (m >= MG) break;
    const size_t at = (((size_t)n * G * MG + g * MG + m) * OH + oh) * OW + ow0;
    store_block(y, RES_ARG at, acc[j], SLOPE(gb * MB + j), valid);
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
                            SLOPE_PARAM RES_PARAM __global store_t *y, int N, int CG, int MG,
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
  FLOATS(bv, bias + gb * MB, MB);
#if CGB * KH * KW * MB <= 1024 /* fp16: the work-item's weights converted once, not at every block of pixels */
  FLOATS(wall, wp, CGB * KH * KW * MB);
#endif
  for (int oh = oh0; oh < min(OH, oh0 + ROWS); ++oh) {
    for (int ob = 0; ob < OW; ob += VW) {
      const int ow0 = max(0, min(ob, OW - VW));
      vec_t acc[MB];
#pragma unroll
      for (int j = 0; j < MB; ++j) acc[j] = (vec_t)(bv[j]);
      for (int c = 0; c < CGB; ++c) {
#if CGB * KH * KW * MB <= 1024
        floats_t *wc = wall + c * KH * KW * MB;
#else
        FLOATS(wc, wp + c * KH * KW * MB, KH * KW * MB);
#endif
        for (int kh = 0; kh < KH; ++kh) {
#if SW == 2
          const float *br = buf[c][(oh - oh0) * SH + kh * DH] + ow0;
#else
          const float *br = buf[c][(oh - oh0) * SH + kh * DH] + ow0 * SW;
#endif
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
            for (int j = 0; j < MB; ++j) acc[j] = fma((vec_t)(wc[(kh * KW + kw) * MB + j]), xv, acc[j]);
          }
        }
      }
#pragma unroll
      for (int j = 0; j < MB; ++j) {
        const int m = mb * MB + j;
        if (m >= MG) break;
        const size_t at = (((size_t)n * G * MG + g * MG + m) * OH + oh) * OW + ow0;
        store_block(y, RES_ARG at, acc[j], SLOPE(gb * MB + j), min(VW, OW));
      }
    }
  }
}
#endif
#endif
#endif

/* Any conv whose groups have several output channels (dense, strided, dilated, grouped, 1x1 strided): a work-item
 * computes RB output rows (from id 0 * RB) of CV = MV*8 output channels of one group (id 1: z = (n*G + g)*MBG +
 * block), in tiles of PX pixels of a row. A tile holds PX x MV float8 accumulators (8 channels at one pixel each);
 * a tap loads MV weight vectors and broadcasts PX input values, so the stride costs nothing and no lane idles on a
 * narrow map. The last tile of a row starts earlier when it would run past the row (host: PX <= OW).
 * A segment is the work-item's rows (or TC tiles of one row, when a row has more than SEGT tiles); the input
 * channels go CB at a time over a segment, so that the block's weights stay in L1 while every tile of the segment
 * uses them, and between blocks a tile's sums wait in private memory. With STAGE, each block's input rows are
 * first copied with their zero padding into private memory (NRB rows of BW floats a channel), so that no tap
 * tests the map's edges; without (no padding), taps read the input directly.
 * Weights packed [G][MBG][CG*KH*KW][CV], bias and slope [G][MBG][CV] (zero-padded). Build options: MV, PX, STAGE. */
#ifdef KERNEL_conv_cvec_cpu
#define CV (MV * 8)
#define SEGT 32
#define STAGE_FLOATS 4096
#ifdef FP16_STORAGE
#define LOAD8(p) load_half8(p)
#else
#define LOAD8(p) vload8(0, (p))
#endif
#if STAGE
typedef const float src_t; /* taps read the staged rows */
#else
typedef __global const store_t src_t;
#endif

/* activate(acc + residual) of the tile's valid channels into y from out0 (channel mb*CV, the tile's pixel) */
inline void cvec_store(__global store_t *y, RES_PARAM SLOPE_PARAM int s0, float8 acc[PX][MV],
                       size_t out0, size_t plane, int first, int MG) {
#pragma unroll
  for (int v = 0; v < MV; ++v) {
    float a[PX][8];
#pragma unroll
    for (int j = 0; j < PX; ++j) vstore8(acc[j][v], 0, a[j]);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      if (first + v * 8 + i >= MG) return;
      const float s = SLOPE(s0 + v * 8 + i);
      const size_t at = out0 + (size_t)(v * 8 + i) * plane;
      float o[PX];
#ifdef HAS_RES
      FLOATS(r, res + at, PX);
#pragma unroll
      for (int j = 0; j < PX; ++j) o[j] = activate(a[j][i] + r[j], s);
#else
#pragma unroll
      for (int j = 0; j < PX; ++j) o[j] = activate(a[j][i], s);
#endif
      store_n(y + at, o, PX); /* the tile's PX pixels of the channel are adjacent */
    }
  }
}

/* acc += the taps of `nc` input channels: channel c's row kh at src + c * cstride + kh * DH * rstride, a tile's
 * input column j*SW + kw*DW from there; rows [kh0, kh1) only; weights from wc, KH*KW*CV a channel. Always inlined:
 * called out of line (LLVM's choice once fp16's conversions made it larger), acc lives in memory, not registers. */
__attribute__((always_inline)) inline void cvec_taps(float8 acc[PX][MV], src_t *src, __global const store_t *wc,
                                                     int nc, int cstride, int rstride, int kh0, int kh1) {
  for (int c = 0; c < nc; ++c) {
    for (int kh = kh0; kh < kh1; ++kh) {
#if STAGE
      src_t *row = src + (size_t)c * cstride + kh * DH * rstride;
#else /* no padding: the span lies inside the row */
      FLOATS(row, src + (size_t)c * cstride + kh * DH * rstride, (PX - 1) * SW + (KW - 1) * DW + 1);
#endif
      __global const store_t *wk = wc + (c * KH + kh) * KW * CV;
#pragma unroll
      for (int kw = 0; kw < KW; ++kw) {
        float8 wv[MV];
#pragma unroll
        for (int v = 0; v < MV; ++v) wv[v] = LOAD8(wk + kw * CV + v * 8);
#pragma unroll
        for (int j = 0; j < PX; ++j) {
          const float8 xv = (float8)(row[j * SW + kw * DW]);
#pragma unroll
          for (int v = 0; v < MV; ++v) acc[j][v] = fma(wv[v], xv, acc[j][v]);
        }
      }
    }
  }
}

#if STAGE
/* channels [c0, c1) of xg, rows ih_a.. (nr of them), columns iw_a.. (BW of them), zero outside the map, into buf */
inline void cvec_stage(float *buf, __global const store_t *xg, int c0, int c1, int ih_a, int nr, int iw_a, int NRB,
                       int BW, int H, int W) {
  const int lo = max(0, -iw_a), hi = min(BW, W - iw_a); /* columns of buf inside the map */
  for (int c = c0; c < c1; ++c) {
    for (int r = 0; r < nr; ++r) {
      float *b = buf + ((c - c0) * NRB + r) * BW;
      const int ih = ih_a + r;
      if (ih < 0 || ih >= H || hi <= lo) {
        for (int i = 0; i < BW; ++i) b[i] = 0.0f;
        continue;
      }
      __global const store_t *src = xg + ((size_t)c * H + ih) * W + iw_a;
      for (int i = 0; i < lo; ++i) b[i] = 0.0f;
      int i = lo;
      for (; i + 8 <= hi; i += 8) vstore8(LOAD8(src + i), 0, b + i);
      for (; i < hi; ++i) b[i] = LOAD(src, i);
      for (i = hi; i < BW; ++i) b[i] = 0.0f;
    }
  }
}
#endif

__kernel void conv_cvec_cpu(__global const store_t *x, __global const store_t *w, __global const store_t *bias,
                            SLOPE_PARAM RES_PARAM __global store_t *y, int N, int CG, int MG,
                            int MBG, int G, int H, int W, int OH, int OW, int PT, int PL, int CB, int RB, int TC,
                            int NRB, int BW) {
  const int oh_a = get_global_id(0) * RB, z = get_global_id(1);
  const int gb = z % (G * MBG), n = z / (G * MBG), g = gb / MBG, mb = gb % MBG;
  __global const store_t *xg = x + ((size_t)n * G + g) * CG * H * W;
  __global const store_t *wp = w + (size_t)gb * CG * KH * KW * CV;
  const size_t plane = (size_t)OH * OW;
  const size_t out0 = ((size_t)n * G * MG + g * MG + mb * CV) * plane;
  const int per_row = (OW + PX - 1) / PX, rows = min(RB, OH - oh_a);
#if STAGE
  float buf[STAGE_FLOATS];
#endif
  float8 held[SEGT][PX][MV]; /* a segment's partial sums between channel blocks */
  for (int t_a = 0; t_a < per_row; t_a += TC) {
    const int tc = min(TC, per_row - t_a), ow_a = min(t_a * PX, OW - PX);
    for (int c0 = 0; c0 < CG; c0 += CB) {
      const int c1 = min(CG, c0 + CB);
#if STAGE
      const int ih_a = oh_a * SH - PT, iw_a = ow_a * SW - PL;
      cvec_stage(buf, xg, c0, c1, ih_a, (rows - 1) * SH + (KH - 1) * DH + 1, iw_a, NRB, BW, H, W);
#endif
      for (int t = 0; t < rows * tc; ++t) {
        const int oh = oh_a + t / tc, ow0 = min((t_a + t % tc) * PX, OW - PX);
        const int ih0 = oh * SH - PT;
        const int kh0 = ih0 < 0 ? (-ih0 + DH - 1) / DH : 0, kh1 = min(KH, (H - ih0 + DH - 1) / DH);
        float8 acc[PX][MV];
#pragma unroll
        for (int v = 0; v < MV; ++v) {
          const float8 b = LOAD8(bias + gb * CV + v * 8);
#pragma unroll
          for (int j = 0; j < PX; ++j) acc[j][v] = c0 == 0 ? b : held[t][j][v];
        }
        __global const store_t *wc = wp + (size_t)c0 * KH * KW * CV;
#if STAGE
        cvec_taps(acc, buf + (ih0 - ih_a) * BW + (ow0 - ow_a) * SW, wc, c1 - c0, NRB * BW, BW, kh0, kh1);
#else
        cvec_taps(acc, xg + ((size_t)c0 * H + ih0) * W + ow0 * SW - PL, wc, c1 - c0, H * W, W, kh0, kh1);
#endif
        if (c1 < CG) {
#pragma unroll
          for (int j = 0; j < PX; ++j)
#pragma unroll
            for (int v = 0; v < MV; ++v) held[t][j][v] = acc[j][v];
        } else {
          cvec_store(y, RES_ARG SLOPE_ARG gb * CV, acc, out0 + (size_t)oh * OW + ow0, plane, mb * CV, MG);
        }
      }
    }
  }
}
#endif

/* A 1x1 conv's strided input for conv1x1_cpu: output row (oh, n·C + c) takes every SW-th value of input row
 * oh·SH (the values move as raw words). */
#ifdef KERNEL_subsample_cpu
__kernel void subsample_cpu(__global const elem_t *x, __global elem_t *y, int H, int W, int OH, int OW, int NC) {
  const int oh = get_global_id(0), nc = get_global_id(1);
  if (oh >= OH || nc >= NC) return;
  __global const elem_t *src = x + ((size_t)nc * H + (size_t)oh * SH) * W;
  __global elem_t *dst = y + ((size_t)nc * OH + oh) * OW;
  for (int ow = 0; ow < OW; ++ow) dst[ow] = src[(size_t)ow * SW];
}
#endif
