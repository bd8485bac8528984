/* Resize over the last two axes: input [outer, ih, iw] -> output [outer, oh, ow]. The host's table says, per
 * output row y and column x, the two input rows/columns to read and the weight of the second:
 * [y_lo(oh), y_hi(oh), y_w(oh), x_lo(ow), x_hi(ow), x_w(ow)], weights as fp32 bit patterns (as_float) so that
 * fp16 storage does not round them. LINEAR=0 (nearest) reads only the low index. */
__kernel void resize_2d(__global const store_t *in, __global store_t *out, __global const int *table, int ih,
                        int iw, int oh, int ow, int outer) {
  const int x = get_global_id(0), y = get_global_id(1), o = get_global_id(2);
  if (x >= ow || y >= oh || o >= outer) return;
  __global const int *xt = table + 3 * oh;
  __global const store_t *src = in + o * ih * iw;
  const int r0 = table[y] * iw, c0 = xt[x];
#if LINEAR
  const int r1 = table[oh + y] * iw, c1 = xt[ow + x];
  const float wy = as_float(table[2 * oh + y]), wx = as_float(xt[2 * ow + x]);
  const float top = (1.0f - wx) * LOAD(src, r0 + c0) + wx * LOAD(src, r0 + c1);
  const float bottom = (1.0f - wx) * LOAD(src, r1 + c0) + wx * LOAD(src, r1 + c1);
  STORE(out, (o * oh + y) * ow + x, (1.0f - wy) * top + wy * bottom);
#else
  STORE(out, (o * oh + y) * ow + x, LOAD(src, r0 + c0));
#endif
}

/* CPUs: a work-item an output row (y, o), the table's two rows and weight read once, the columns in a loop. */
#ifdef KERNEL_resize_2d_rows
__kernel void resize_2d_rows(__global const store_t *in, __global store_t *out, __global const int *table, int ih,
                             int iw, int oh, int ow, int outer) {
  const int y = get_global_id(0), o = get_global_id(1);
  if (y >= oh || o >= outer) return;
  __global const int *xt = table + 3 * oh;
  __global const store_t *src = in + (size_t)o * ih * iw, *row0 = src + (size_t)table[y] * iw;
  __global store_t *dst = out + ((size_t)o * oh + y) * ow;
#if LINEAR
  __global const store_t *row1 = src + (size_t)table[oh + y] * iw;
  const float wy = as_float(table[2 * oh + y]);
  for (int x = 0; x < ow; ++x) {
    const int c0 = xt[x], c1 = xt[ow + x];
    const float wx = as_float(xt[2 * ow + x]);
    const float top = (1.0f - wx) * LOAD(row0, c0) + wx * LOAD(row0, c1);
    const float bottom = (1.0f - wx) * LOAD(row1, c0) + wx * LOAD(row1, c1);
    STORE(dst, x, (1.0f - wy) * top + wy * bottom);
  }
#else
  for (int x = 0; x < ow; ++x) STORE(dst, x, LOAD(row0, xt[x]));
#endif
}
#endif
