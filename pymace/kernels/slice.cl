/* Gather a Slice: output element `i` (row-major over the output dims) reads `base + sum(idx_d * stride_d)`.
 * table = [out dims (RANK), input strides scaled by the steps (RANK)]; negative steps give negative strides. */
__kernel void slice_gather(__global const store_t *in, __global store_t *out, __global const int *table,
                           int base, int n) {
  const int i = get_global_id(0);
  if (i >= n) return;
  int rest = i, src = base;
  for (int d = RANK - 1; d >= 0; --d) {
    const int dim = table[d];
    src += (rest % dim) * table[RANK + d];
    rest /= dim;
  }
  STORE(out, i, LOAD(in, src));
}
