/* ScatterND and ScatterElements (reduction none): the output starts as a copy of the data (copy_elements), then
 * one work-item per update element writes it. Indices are int32; negative ones count from the end and one outside
 * its axis is clamped to it, so no write leaves the buffer. Elements move as common.h's elem_t. */
inline int axis_index(int index, int dim) { return clamp(index < 0 ? index + dim : index, 0, dim - 1); }

#ifdef KERNEL_copy_elements
__kernel void copy_elements(__global const elem_t *x, __global elem_t *y, int n) {
  const int i = get_global_id(0);
  if (i < n) y[i] = x[i];
}
#endif

#ifdef KERNEL_scatter_nd
/* Update u = (p, r): index tuple p (K ints) addresses a slice of INNER elements; table = [dims (K), strides (K)]
 * of the data's first K axes. */
__kernel void scatter_nd(__global const int *indices, __global const elem_t *updates, __global elem_t *y,
                         __global const int *table, int count, int INNER) {
  const int u = get_global_id(0);
  if (u >= count) return;
  const int p = u / INNER, r = u % INNER;
  size_t dst = r;
  for (int d = 0; d < K; ++d) dst += (size_t)axis_index(indices[p * K + d], table[d]) * table[K + d];
  y[dst] = updates[u];
}
#endif

#ifdef KERNEL_scatter_elements
/* Update u has the coordinates of indices[u], the one along AXIS replaced by the index.
 * table = [update dims (RANK), data strides (RANK)]. */
__kernel void scatter_elements(__global const int *indices, __global const elem_t *updates, __global elem_t *y,
                               __global const int *table, int count, int AXIS, int DIM) {
  const int u = get_global_id(0);
  if (u >= count) return;
  int rest = u;
  size_t dst = 0;
  for (int d = RANK - 1; d >= 0; --d) {
    const int coord = rest % table[d];
    rest /= table[d];
    dst += (size_t)(d == AXIS ? axis_index(indices[u], DIM) : coord) * table[RANK + d];
  }
  y[dst] = updates[u];
}
#endif
