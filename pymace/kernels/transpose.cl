/* Gather a Transpose: output element `i` (row-major over the output dims) reads `sum(idx_d * stride_d)`.
 * table = [out dims (RANK), the input's stride of the axis each output axis comes from (RANK)]. */
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
