/* Gather and GatherElements copy elements (elem_t, common.h); indices are int32, negative ones count from the
 * end, and an index outside the axis is clamped to it so that no read leaves the buffer. */
inline int axis_index(int index, int dim) { return clamp(index < 0 ? index + dim : index, 0, dim - 1); }

#ifdef KERNEL_gather
/* Output element o = (outer, p, r): data[outer][indices[p]][r], with DIM the gathered axis, INNER the product of
 * the dims after it and COUNT the number of indices. */
__kernel void gather(__global const elem_t *data, __global const int *indices, __global elem_t *y, int n, int DIM,
                     int INNER, int COUNT) {
  const int o = get_global_id(0);
  if (o >= n) return;
  const int r = o % INNER, p = (o / INNER) % COUNT, outer = o / (INNER * COUNT);
  y[o] = data[((size_t)outer * DIM + axis_index(indices[p], DIM)) * INNER + r];
}
#endif

#ifdef KERNEL_gather_elements
/* Output element o has the coordinates of indices[o]; the one along AXIS is replaced by the index.
 * table = [output dims (RANK), data strides (RANK)]. */
__kernel void gather_elements(__global const elem_t *data, __global const int *indices, __global elem_t *y,
                              __global const int *table, int n, int AXIS, int DIM) {
  const int o = get_global_id(0);
  if (o >= n) return;
  int rest = o;
  size_t src = 0;
  for (int d = RANK - 1; d >= 0; --d) {
    const int coord = rest % table[d];
    rest /= table[d];
    src += (size_t)(d == AXIS ? axis_index(indices[o], DIM) : coord) * table[RANK + d];
  }
  y[o] = data[src];
}
#endif
