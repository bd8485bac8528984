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
