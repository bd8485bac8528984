/* Pad, host code in ops/pad.py. Output index `j` of an axis maps to an index of the kept (cropped) input, or falls
 * outside it. table = [out dims, begin pads (>= 0), kept dims, crop offsets, input strides], RANK each.
 * MODE: 0 constant (outside -> value), 1 reflect (period 2*(kept-1)), 2 edge (clamp), 3 wrap.
 *   pad_gather  one output element a work-item (GPUs)
 *   pad_rows    ROWS output rows (the last axis) a work-item (CPUs: the divisions once a row, not once an element,
 *               and a row's copy is one loop the compiler vectorises) */

/* j (an output index of an axis less its begin pad) as an index of the kept input, or -1 outside it (constant) */
inline int pad_source(int j, int kept) {
#if MODE == 0
  return j < 0 || j >= kept ? -1 : j;
#elif MODE == 1
  const int period = 2 * (kept - 1);
  j = period > 0 ? abs(j) % period : 0;
  return j >= kept ? period - j : j;
#elif MODE == 2
  return clamp(j, 0, kept - 1);
#else
  return ((j % kept) + kept) % kept;
#endif
}

#ifdef KERNEL_pad_rows
__kernel void pad_rows(__global const store_t *restrict in, __global store_t *restrict out,
                       __global const int *table, float value, int rows) {
  const int last = RANK - 1, ow = table[last], begin = table[RANK + last], kept = table[2 * RANK + last];
  const int crop = table[3 * RANK + last], step = table[4 * RANK + last];
  for (int r = get_global_id(0) * ROWS; r < min(rows, (int)(get_global_id(0) + 1) * ROWS); ++r) {
    __global store_t *y = out + (size_t)r * ow;
    int rest = r, src = 0;
    bool inside = true;
    for (int d = last - 1; d >= 0; --d) { /* the row's source, axis by axis: divisions once a row */
      const int dim = table[d];
      const int j = pad_source(rest % dim - table[RANK + d], table[2 * RANK + d]);
      rest /= dim;
      inside = inside && j >= 0;
      src += (j + table[3 * RANK + d]) * table[4 * RANK + d];
    }
    if (!inside) {
      for (int x = 0; x < ow; ++x) STORE(y, x, value);
      continue;
    }
    __global const store_t *row = in + src + (size_t)crop * step;
#if MODE == 0
    const int lo = clamp(begin, 0, ow), hi = clamp(begin + kept, lo, ow);
    for (int x = 0; x < lo; ++x) STORE(y, x, value);
    for (int x = lo; x < hi; ++x) STORE(y, x, LOAD(row, (x - begin) * step));
    for (int x = hi; x < ow; ++x) STORE(y, x, value);
#else
    for (int x = 0; x < ow; ++x) STORE(y, x, LOAD(row, pad_source(x - begin, kept) * step));
#endif
  }
}
#endif

#ifdef KERNEL_pad_gather
__kernel void pad_gather(__global const store_t *in, __global store_t *out, __global const int *table,
                         float value, int n) {
  const int i = get_global_id(0);
  if (i >= n) return;
  int rest = i, src = 0;
  for (int d = RANK - 1; d >= 0; --d) {
    const int dim = table[d], kept = table[2 * RANK + d];
    const int j = pad_source(rest % dim - table[RANK + d], kept);
    rest /= dim;
    if (j < 0) { /* constant mode, outside the kept input */
      STORE(out, i, value);
      return;
    }
    src += (j + table[3 * RANK + d]) * table[4 * RANK + d];
  }
  STORE(out, i, LOAD(in, src));
}
#endif
