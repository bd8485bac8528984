/* Expand and Tile: output element i reads input element (i_0 mod d_0, …) — a broadcast axis has d = 1.
 * table = [output dims (RANK), input dims right-aligned with 1s (RANK), input strides (RANK)]. */
__kernel void tile(__global const elem_t *x, __global elem_t *y, __global const int *table, int n) {
  const int i = get_global_id(0);
  if (i >= n) return;
  int rest = i;
  size_t src = 0;
  for (int d = RANK - 1; d >= 0; --d) {
    src += (size_t)((rest % table[d]) % table[RANK + d]) * table[2 * RANK + d];
    rest /= table[d];
  }
  y[i] = x[src];
}
