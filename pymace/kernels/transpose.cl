/* Gather a Transpose, host code in ops/transpose.py: output element `i` (row-major over the output dims) reads
 * `sum(idx_d * stride_d)`. table = [out dims (RANK), the input's stride of the axis each output axis comes from].
 *   transpose_gather  one output element a work-item (GPUs)
 *   transpose_rows    ROWS output rows (the last axis) a work-item (CPUs: the divisions once a row) */
#ifdef KERNEL_transpose_rows
__kernel void transpose_rows(__global const store_t *restrict in, __global store_t *restrict out,
                             __global const int *table, int rows) {
  const int last = RANK - 1, ow = table[last], step = table[RANK + last];
  for (int r = get_global_id(0) * ROWS; r < min(rows, (int)(get_global_id(0) + 1) * ROWS); ++r) {
    int rest = r, src = 0;
    for (int d = last - 1; d >= 0; --d) {
      const int dim = table[d];
      src += (rest % dim) * table[RANK + d];
      rest /= dim;
    }
    __global store_t *y = out + (size_t)r * ow;
    for (int x = 0; x < ow; ++x) STORE(y, x, LOAD(in, src + x * step));
  }
}
#endif

#ifdef KERNEL_transpose_gather
__kernel void transpose_gather(__global const store_t *in, __global store_t *out, __global const int *table,
                               int n) {
  const int i = get_global_id(0);
  if (i >= n) return;
  int rest = i, src = 0;
  for (int d = RANK - 1; d >= 0; --d) {
    const int dim = table[d];
    src += (rest % dim) * table[RANK + d];
    rest /= dim;
  }
  STORE(out, i, LOAD(in, src));
}
#endif
