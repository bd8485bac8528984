/* MaxPool / AveragePool on CPUs (PoCL), host code in ops/pool.py: one work-item a work-group (PoCL runs the code
 * as written; kernels/conv_cpu.cl says why), each computing ROWS output rows of one plane (id 0 * ROWS, id 1),
 * 8 output columns a vector. A block of 8 whose taps all lie inside the row loads them as vectors (stride 1: one
 * load, stride 2: two loads of 8 and their even and odd lanes, else 8 scalars); a block that touches the left or
 * right padding loads lane by lane (a max pool's still as a vector) or runs output by output (an average's). Build options as pool.cl's pool2d (KH KW SH SW DH DW PT PL PB PR MODE_MAX COUNT_PAD). */
#if MODE_MAX
#define POOL_INIT (-INFINITY)
#define POOL_ACC(a, v) select((v), (a), ((a) > (v)) | isnan(a)) /* NaN propagates: common.h max_nan, lane by lane */
#else
#define POOL_INIT 0.0f
#define POOL_ACC(a, v) ((a) + (v))
#endif
#ifdef FP16_STORAGE
#define PLOAD8(p) load_half8(p)
#define PSTORE8(p, v) store_half8((p), (v))
#else
#define PLOAD8(p) vload8(0, (p))
#define PSTORE8(p, v) vstore8((v), 0, (p))
#endif
#define SPAN (7 * SW + 1) /* input columns a block's loads of one tap read */

/* the 8 values at columns i, i + SW, ... of `row` (all inside the row) */
inline float8 pool_load(__global const store_t *row, int i) {
#if SW == 1
  return PLOAD8(row + i);
#elif SW == 2 /* columns i .. i+14: no read past the window's last, which may be the row's */
  const float8 a = PLOAD8(row + i), b = PLOAD8(row + i + 7);
  return (float8)(a.even, b.odd);
#else
  return (float8)(LOAD(row, i), LOAD(row, i + SW), LOAD(row, i + 2 * SW), LOAD(row, i + 3 * SW),
                  LOAD(row, i + 4 * SW), LOAD(row, i + 5 * SW), LOAD(row, i + 6 * SW), LOAD(row, i + 7 * SW));
#endif
}

#if MODE_MAX
/* the 8 values at columns i, i + SW, ... of `row`, -inf (which a max ignores) where a column lies outside [0, w) */
inline float8 pool_load_masked(__global const store_t *row, int i, int w) {
  float t[8];
  for (int j = 0; j < 8; ++j) {
    const int c = i + j * SW;
    t[j] = c >= 0 && c < w ? LOAD(row, c) : -INFINITY;
  }
  return vload8(0, t);
}
#endif

/* the pooled value of output column ox whose window starts at input row y0 (rows [ky0, ky1) inside) */
inline float pool_one(__global const store_t *xp, int y0, int ky0, int ky1, int ox, int h, int w) {
  const int x0 = ox * SW - PL;
  float acc = POOL_INIT;
  int count = 0;
  for (int ky = ky0; ky < ky1; ++ky) {
    for (int kx = 0; kx < KW; ++kx) {
      const int ix = x0 + kx * DW;
      if (ix < 0 || ix >= w) continue;
      acc = POOL_ACC(acc, LOAD(xp, (y0 + ky * DH) * w + ix));
      ++count;
    }
  }
#if !MODE_MAX
#if COUNT_PAD
  count = min(KH, (h + PB - y0 + DH - 1) / DH) * min(KW, (w + PR - x0 + DW - 1) / DW);
#endif
  acc = count > 0 ? acc / (float)count : 0.0f;
#endif
  return acc;
}

#ifdef KERNEL_pool2d_cpu
__kernel void pool2d_cpu(__global const store_t *x, __global store_t *y, int h, int w, int oh, int ow, int planes) {
  const int p = get_global_id(1);
  __global const store_t *xp = x + (size_t)p * h * w;
  for (int oy = get_global_id(0) * ROWS; oy < min(oh, (int)(get_global_id(0) + 1) * ROWS); ++oy) {
    const int y0 = oy * SH - PT;
    const int ky0 = y0 < 0 ? (-y0 + DH - 1) / DH : 0, ky1 = min(KH, (h - y0 + DH - 1) / DH);
    __global store_t *yp = y + ((size_t)p * oh + oy) * ow;
#if !MODE_MAX
#if COUNT_PAD
    const float inv = 1.0f / (float)(min(KH, (h + PB - y0 + DH - 1) / DH) * KW);
#else
    const float inv = 1.0f / (float)max(1, (ky1 - ky0) * KW);
#endif
#endif
    for (int b = 0; b < ow; b += 8) {
      const int ox = ow >= 8 ? min(b, ow - 8) : 0, x0 = ox * SW - PL;
      if (ow >= 8 && x0 >= 0 && x0 + (KW - 1) * DW + SPAN <= w) {
        float8 acc = (float8)(POOL_INIT);
        for (int ky = ky0; ky < ky1; ++ky) {
          __global const store_t *row = xp + (y0 + ky * DH) * w + x0;
#pragma unroll
          for (int kx = 0; kx < KW; ++kx) acc = POOL_ACC(acc, pool_load(row, kx * DW));
        }
#if !MODE_MAX
        acc *= inv;
#endif
        PSTORE8(yp + ox, acc);
#if MODE_MAX
      } else if (ow >= 8) { /* a block that touches the padding: lane by lane loads, the padding ignored */
        float8 acc = (float8)(POOL_INIT);
        for (int ky = ky0; ky < ky1; ++ky) {
          __global const store_t *row = xp + (y0 + ky * DH) * w;
          for (int kx = 0; kx < KW; ++kx) acc = POOL_ACC(acc, pool_load_masked(row, x0 + kx * DW, w));
        }
        PSTORE8(yp + ox, acc);
#endif
      } else {
        for (int j = 0; j < min(8, ow - ox); ++j) STORE(yp, ox + j, pool_one(xp, y0, ky0, ky1, ox + j, h, w));
      }
    }
  }
}
#endif
