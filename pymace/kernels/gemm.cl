/* Gemm / MatMul: Y[bt] = alpha * A'[bt] B'[bt] + beta * C, then the fused activation.
 * Transposes arrive as strides (A'[i][k] = a[i*SAM + k*SAK], B'[k][j] = b[k*SBK + j*SBN]), batch broadcasting
 * as per-batch offset tables, and C's broadcasting as strides that may be 0 (C is a 1-element dummy with
 * beta = 0 when absent). A work-item computes 4 adjacent columns of one row. Build options: B_ROWS (SBN == 1,
 * B' rows contiguous: read 4 columns with one LOAD4), ACT. The PRelu slope comes broadcast to Y's shape. */

/* The kernels' sizes, strides and scales, each set one by-value argument (ops/kernel_args.py says why). */
typedef struct { int BATCH, M, N, K, SAM, SAK, SBK, SBN, SCM, SCN; float alpha, beta; } gemm_sizes;
typedef struct { int SPLITS, BATCH, M, N, SCM, SCN; float alpha, beta; } sum_sizes;
#define GEMM_SIZES                                                                                                \
  const int BATCH = sizes.BATCH, M = sizes.M, N = sizes.N, K = sizes.K, SAM = sizes.SAM, SAK = sizes.SAK;        \
  const int SBK = sizes.SBK, SBN = sizes.SBN, SCM = sizes.SCM, SCN = sizes.SCN;                                  \
  const float alpha = sizes.alpha, beta = sizes.beta;

/* Both kernels' epilogue: columns j0 .. j0+nj of row i (at `base` in Y) = act(alpha * s + beta * C). */
inline void store_columns(float4 s, int nj, int j0, int i, size_t base, __global const store_t *c, int SCM,
                          int SCN, SLOPE_PARAM __global store_t *y, float alpha, float beta) {
  const float r[4] = {s.x, s.y, s.z, s.w};
  for (int j = 0; j < nj; ++j) {
    const float v = alpha * r[j] + beta * LOAD(c, i * SCM + (j0 + j) * SCN);
#if ACT == 7
    STORE(y, base + j0 + j, activate(v, SLOPE(base + j0 + j)));
#else
    STORE(y, base + j0 + j, activate(v, 0.0f));
#endif
  }
}

#ifdef KERNEL_gemm
__kernel void gemm(__global const store_t *a, __global const store_t *b, __global const store_t *c,
                   SLOPE_PARAM __global store_t *y, __global const int *a_off,
                   __global const int *b_off, const gemm_sizes sizes) {
  GEMM_SIZES
  const int j0 = get_global_id(0) * 4, i = get_global_id(1), bt = get_global_id(2);
  if (j0 >= N || i >= M || bt >= BATCH) return;
  const int nj = min(4, N - j0);
  /* columns past N repeat the last one so no load leaves B */
  const int j1 = j0 + min(1, nj - 1), j2 = j0 + min(2, nj - 1), j3 = j0 + min(3, nj - 1);
  __global const store_t *ap = a + a_off[bt] + (size_t)i * SAM;
  __global const store_t *bp = b + b_off[bt];
  float4 acc = 0.0f;
#if B_ROWS
  if (nj == 4) {
    for (int k = 0; k < K; ++k) acc = mad(LOAD(ap, k * SAK), LOAD4(bp + (size_t)k * SBK + j0, 0), acc);
  } else
#endif
  {
    for (int k = 0; k < K; ++k) {
      __global const store_t *row = bp + (size_t)k * SBK;
      const float4 bv =
          (float4)(LOAD(row, j0 * SBN), LOAD(row, j1 * SBN), LOAD(row, j2 * SBN), LOAD(row, j3 * SBN));
      acc = mad(LOAD(ap, k * SAK), bv, acc);
    }
  }
  store_columns(acc, nj, j0, i, ((size_t)bt * M + i) * N, c, SCM, SCN, SLOPE_ARG y, alpha, beta);
}
#endif

/* GPU, few rows (a classifier's 1 x K x N): the plain kernel above gives N/4 work-items that each walk all of K,
 * too little parallelism to stream the weights. Here a work-group of CQ x KS work-items computes 4*CQ columns of
 * one row (z = bt*M + i): each work-item sums every KS-th k (the CQ column quads of one k row are adjacent, so
 * a warp reads whole 32-byte sectors of B), then a __local tree adds up the KS partial sums. B rows are
 * contiguous (B_ROWS). Build options: CQ, KS (a power of two), ACT. */
#ifdef KS
#ifdef KERNEL_gemm_splitk
__kernel __attribute__((reqd_work_group_size(CQ, KS, 1)))
void gemm_splitk(__global const store_t *a, __global const store_t *b, __global const store_t *c,
                 SLOPE_PARAM __global store_t *y, __global const int *a_off,
                 __global const int *b_off, const gemm_sizes sizes) {
  GEMM_SIZES
  __local float4 red[KS][CQ];
  const int lx = get_local_id(0), ly = get_local_id(1);
  const int j0 = get_global_id(0) * 4, z = get_group_id(2), i = z % M, bt = z / M;
  const int nj = min(4, N - j0); /* <= 0: a padding quad; it still takes part in the barriers */
  __global const store_t *ap = a + a_off[bt] + (size_t)i * SAM;
  __global const store_t *bp = b + b_off[bt] + j0;
  float4 acc = 0.0f;
  if (nj == 4) {
    for (int k = ly; k < K; k += KS) acc = mad(LOAD(ap, k * SAK), LOAD4(bp + (size_t)k * SBK, 0), acc);
  } else if (nj > 0) {
    for (int k = ly; k < K; k += KS) {
      __global const store_t *row = bp + (size_t)k * SBK;
      const float4 bv = (float4)(LOAD(row, 0), LOAD(row, min(1, nj - 1)), LOAD(row, min(2, nj - 1)),
                                 LOAD(row, min(3, nj - 1)));
      acc = mad(LOAD(ap, k * SAK), bv, acc);
    }
  }
  red[ly][lx] = acc;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int h = KS / 2; h > 0; h >>= 1) {
    if (ly < h) red[ly][lx] += red[ly + h][lx];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (ly != 0 || nj <= 0) return;
  store_columns(red[0][lx], nj, j0, i, ((size_t)bt * M + i) * N, c, SCM, SCN, SLOPE_ARG y, alpha, beta);
}
#endif
#endif

/* GPU, many rows (a transformer's token x feature products, attention): a work-group computes a TM x TN tile of
 * one batch's Y with (TN/4) x (TM/RM) work-items, each an RM x 4 register block (RM 4 or 8), so each value
 * loaded from __local memory feeds 4 or more FMAs instead of 1. K advances TK at a time through __local memory;
 * the next slice's global loads are issued before the current slice's arithmetic so that their latency hides
 * behind it. Tiles are read through the operands' strides with bounds checks (zeros past M, N and K), so any
 * transposes and shapes work. Consecutive work-items load consecutive k of an A row when A_KFAST (SAK == 1), else
 * consecutive rows; consecutive columns of B when B_ROWS, else consecutive k. Split K (SPLIT > 1, group id 2 =
 * bt * SPLIT + s): split s sums its share of the K slices into fp32 partials part[s][bt][M][N], and
 * gemm_sum_splits adds them up in split order and applies the epilogue; with SPLIT == 1 the epilogue is fused
 * here. Build options: TM TN RM TK SPLIT A_KFAST B_ROWS ACT. */
#ifdef TM
#ifdef KERNEL_gemm_tiled
#define WGT ((TM / RM) * (TN / 4))
#define A_PER (TM * TK / WGT)
#define B_PER (TK * TN / WGT)

/* Element e of a slice: its (row of the tile, k) for A, (k, column of the tile) for B. */
#if A_KFAST
#define A_AT(e, ii, kk) const int kk = (e) % TK, ii = (e) / TK
#else
#define A_AT(e, ii, kk) const int ii = (e) % TM, kk = (e) / TM
#endif
#if B_ROWS
#define B_AT(e, kk, jj) const int jj = (e) % TN, kk = (e) / TN
#else
#define B_AT(e, kk, jj) const int kk = (e) % TK, jj = (e) / TK
#endif

__kernel __attribute__((reqd_work_group_size(TN / 4, TM / RM, 1)))
void gemm_tiled(__global const store_t *a, __global const store_t *b, __global const store_t *c,
                SLOPE_PARAM __global store_t *y, PART_PARAM __global const int *a_off,
                __global const int *b_off, const gemm_sizes sizes) {
  GEMM_SIZES
  __local float as[TK][TM + 4]; /* A' slice stored k-major: a work-item reads its 4 rows as one float4 */
  __local float bs[TK][TN + 4];
  const int tx = get_local_id(0), ty = get_local_id(1), l = ty * (TN / 4) + tx;
  const int i0 = get_group_id(1) * TM, j0 = get_group_id(0) * TN, bt = get_group_id(2) / SPLIT;
  const int per = (K + TK * SPLIT - 1) / (TK * SPLIT) * TK, k_begin = get_group_id(2) % SPLIT * per;
  const int k_end = min(K, k_begin + per);
  __global const store_t *ap = a + a_off[bt];
  __global const store_t *bp = b + b_off[bt];
  float ra[A_PER], rb[B_PER];
  float4 acc[RM];
  for (int r = 0; r < RM; ++r) acc[r] = 0.0f;
  for (int k0 = k_begin; k0 < k_end + TK; k0 += TK) {
    if (k0 > k_begin) { /* the slice loaded last round goes to __local memory */
      barrier(CLK_LOCAL_MEM_FENCE);
      for (int r = 0; r < A_PER; ++r) {
        A_AT(l + r * WGT, ii, kk);
        as[kk][ii] = ra[r];
      }
      for (int r = 0; r < B_PER; ++r) {
        B_AT(l + r * WGT, kk, jj);
        bs[kk][jj] = rb[r];
      }
      barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (k0 < k_end) { /* this slice's global loads, in flight during the arithmetic below */
      for (int r = 0; r < A_PER; ++r) {
        A_AT(l + r * WGT, ii, kk);
        const int gi = i0 + ii, gk = k0 + kk;
        ra[r] = gi < M && gk < k_end ? LOAD(ap, (size_t)gi * SAM + (size_t)gk * SAK) : 0.0f;
      }
      for (int r = 0; r < B_PER; ++r) {
        B_AT(l + r * WGT, kk, jj);
        const int gk = k0 + kk, gj = j0 + jj;
        rb[r] = gk < k_end && gj < N ? LOAD(bp, (size_t)gk * SBK + (size_t)gj * SBN) : 0.0f;
      }
    }
    if (k0 > k_begin) {
      for (int kk = 0; kk < TK; ++kk) {
        const float4 bv = vload4(0, &bs[kk][tx * 4]);
        for (int r = 0; r < RM; r += 4) {
          const float4 av = vload4(0, &as[kk][ty * RM + r]);
          acc[r] = mad(av.x, bv, acc[r]);
          acc[r + 1] = mad(av.y, bv, acc[r + 1]);
          acc[r + 2] = mad(av.z, bv, acc[r + 2]);
          acc[r + 3] = mad(av.w, bv, acc[r + 3]);
        }
      }
    }
  }
  const int j = j0 + tx * 4, nj = min(4, N - j);
  for (int r = 0; r < RM; ++r) {
    const int i = i0 + ty * RM + r;
    if (i >= M || nj <= 0) continue;
#if SPLIT > 1
    const float v[4] = {acc[r].x, acc[r].y, acc[r].z, acc[r].w};
    __global float *row = part + ((size_t)get_group_id(2) % SPLIT * BATCH + bt) * M * N + (size_t)i * N;
    for (int q = 0; q < nj; ++q) row[j + q] = v[q];
#else
    store_columns(acc[r], nj, j, i, ((size_t)bt * M + i) * N, c, SCM, SCN, SLOPE_ARG y, alpha, beta);
#endif
  }
}
#endif
#endif

/* gemm_tiled's split K: element (bt, i, j) of Y is the sum of its SPLIT partials, in split order, then the
 * epilogue. A work-item takes 4 adjacent columns. */
#ifdef KERNEL_gemm_sum_splits
__kernel void gemm_sum_splits(__global const float *part, __global const store_t *c, SLOPE_PARAM
                              __global store_t *y, const sum_sizes sizes) {
  const int SPLITS = sizes.SPLITS, BATCH = sizes.BATCH, M = sizes.M, N = sizes.N, SCM = sizes.SCM;
  const int SCN = sizes.SCN;
  const float alpha = sizes.alpha, beta = sizes.beta;
  const int j0 = get_global_id(0) * 4, i = get_global_id(1), bt = get_global_id(2);
  if (j0 >= N || i >= M || bt >= BATCH) return;
  const int nj = min(4, N - j0);
  const size_t at = ((size_t)bt * M + i) * N + j0, stride = (size_t)BATCH * M * N;
  float r[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int s = 0; s < SPLITS; ++s)
    for (int q = 0; q < nj; ++q) r[q] += part[s * stride + at + q];
  store_columns((float4)(r[0], r[1], r[2], r[3]), nj, j0, i, ((size_t)bt * M + i) * N, c, SCM, SCN, SLOPE_ARG y,
                alpha, beta);
}
#endif

/* CPU (PoCL), B rows contiguous, N >= 16: a work-item computes RB rows x 16 columns in explicit float16 vectors
 * (one 512-bit register with AVX-512, two 256-bit ones with AVX2), each value of A broadcast over a B row (one work-item a work-group: PoCL runs the code as
 * written, kernels/conv_cpu.cl says why; fma, since PoCL splits mad). A column block that would run past N starts
 * 16 before it (it overlaps the previous block and writes the same values); rows past M repeat the last row and
 * are not stored. Build options: RB, A_KFAST (A's rows contiguous), ACT. */
#ifdef KERNEL_gemm_rows_cpu
#ifdef FP16_STORAGE
#define GLOAD8(p) load_half8(p)
#define GLOAD16(p) load_half16(p)
#else
#define GLOAD8(p) vload8(0, (p))
#define GLOAD16(p) vload16(0, (p))
#endif
__kernel void gemm_rows_cpu(__global const store_t *a, __global const store_t *b, __global const store_t *c,
                            SLOPE_PARAM __global store_t *y, __global const int *a_off,
                            __global const int *b_off, const gemm_sizes sizes) {
  GEMM_SIZES
  /* the row blocks of one column block are neighbours (id 0): its strip of B stays in cache between them */
  const int i0 = get_global_id(0) * RB, j0 = min((int)get_global_id(1) * 16, N - 16), bt = get_global_id(2);
  __global const store_t *bp = b + b_off[bt] + j0;
  int arow[RB];
  float16 acc[RB];
#pragma unroll
  for (int r = 0; r < RB; ++r) {
    arow[r] = a_off[bt] + min(i0 + r, M - 1) * SAM;
    acc[r] = (float16)(0.0f);
  }
  int k = 0;
#if A_KFAST /* A's rows contiguous: 8 of a row's values a load (fp16 storage converts 8 at a time, not one) */
  for (; k + 8 <= K; k += 8) {
    float at[RB][8];
#pragma unroll
    for (int r = 0; r < RB; ++r) vstore8(GLOAD8(a + arow[r] + k), 0, at[r]);
#pragma unroll
    for (int q = 0; q < 8; ++q) {
      const float16 bv = GLOAD16(bp + (size_t)(k + q) * SBK);
#pragma unroll
      for (int r = 0; r < RB; ++r) acc[r] = fma((float16)(at[r][q]), bv, acc[r]);
    }
  }
#endif
  for (; k < K; ++k) {
    const float16 bv = GLOAD16(bp + (size_t)k * SBK);
#pragma unroll
    for (int r = 0; r < RB; ++r) acc[r] = fma((float16)(LOAD(a, arow[r] + k * SAK)), bv, acc[r]);
  }
#pragma unroll
  for (int r = 0; r < RB; ++r) {
    const int i = i0 + r;
    if (i >= M) break;
    float t[16];
    vstore16(acc[r], 0, t);
    const size_t base = ((size_t)bt * M + i) * N + j0;
    for (int j = 0; j < 16; ++j) {
      const float v = alpha * t[j] + beta * LOAD(c, i * SCM + (j0 + j) * SCN);
#if ACT == 7
      STORE(y, base + j, activate(v, SLOPE(base + j)));
#else
      STORE(y, base + j, activate(v, 0.0f));
#endif
    }
  }
}
#endif
