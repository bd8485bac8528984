/* Gather a Pad: output element `i` maps, axis by axis, to an index `j` of the kept (cropped) input, or falls
 * outside it. table = [out dims, begin pads (>= 0), kept dims, crop offsets, input strides], RANK each.
 * MODE: 0 constant (outside -> value), 1 reflect (period 2*(kept-1)), 2 edge (clamp), 3 wrap. */
__kernel void pad_gather(__global const store_t *in, __global store_t *out, __global const int *table,
                         float value, int n) {
  const int i = get_global_id(0);
  if (i >= n) return;
  int rest = i, src = 0;
  for (int d = RANK - 1; d >= 0; --d) {
    const int dim = table[d], kept = table[2 * RANK + d];
    int j = rest % dim - table[RANK + d];
    rest /= dim;
#if MODE == 0
    if (j < 0 || j >= kept) {
      STORE(out, i, value);
      return;
    }
#elif MODE == 1
    const int period = 2 * (kept - 1);
    j = period > 0 ? abs(j) % period : 0;
    if (j >= kept) j = period - j;
#elif MODE == 2
    j = clamp(j, 0, kept - 1);
#else
    j = ((j % kept) + kept) % kept;
#endif
    src += (j + table[3 * RANK + d]) * table[4 * RANK + d];
  }
  STORE(out, i, LOAD(in, src));
}
