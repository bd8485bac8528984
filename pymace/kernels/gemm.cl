/* Gemm / MatMul: Y[bt] = alpha * A'[bt] B'[bt] + beta * C, then the fused activation.
 * Transposes arrive as strides (A'[i][k] = a[i*SAM + k*SAK], B'[k][j] = b[k*SBK + j*SBN]), batch broadcasting
 * as per-batch offset tables, and C's broadcasting as strides that may be 0 (C is a 1-element dummy with
 * beta = 0 when absent). A work-item computes 4 adjacent columns of one row. Build options: B_ROWS (SBN == 1,
 * B' rows contiguous: read 4 columns with one LOAD4), ACT. The PRelu slope comes broadcast to Y's shape. */

/* Both kernels' epilogue: columns j0 .. j0+nj of row i (at `base` in Y) = act(alpha * s + beta * C). */
inline void store_columns(float4 s, int nj, int j0, int i, size_t base, __global const store_t *c, int SCM,
                          int SCN, __global const store_t *slope, __global store_t *y, float alpha, float beta) {
  const float r[4] = {s.x, s.y, s.z, s.w};
  for (int j = 0; j < nj; ++j) {
    const float v = alpha * r[j] + beta * LOAD(c, i * SCM + (j0 + j) * SCN);
#if ACT == 7
    STORE(y, base + j0 + j, activate(v, LOAD(slope, base + j0 + j)));
#else
    STORE(y, base + j0 + j, activate(v, 0.0f));
#endif
  }
}

#ifdef KERNEL_gemm
__kernel void gemm(__global const store_t *a, __global const store_t *b, __global const store_t *c,
                   __global const store_t *slope, __global store_t *y, __global const int *a_off,
                   __global const int *b_off, int BATCH, int M, int N, int K, int SAM, int SAK, int SBK, int SBN, int SCM,
                   int SCN, float alpha, float beta) {
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
  store_columns(acc, nj, j0, i, ((size_t)bt * M + i) * N, c, SCM, SCN, slope, y, alpha, beta);
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
                 __global const store_t *slope, __global store_t *y, __global const int *a_off,
                 __global const int *b_off, int BATCH, int M, int N, int K, int SAM, int SAK, int SBK, int SBN,
                 int SCM, int SCN, float alpha, float beta) {
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
  store_columns(red[0][lx], nj, j0, i, ((size_t)bt * M + i) * N, c, SCM, SCN, slope, y, alpha, beta);
}
#endif
#endif
