/* 2-D max or average pooling of NCHW planes; geometry is compiled in (KH KW SH SW DH DW, pads PT PL PB PR) so
 * the tap loops unroll. One work-item per output element, consecutive work-items on consecutive columns.
 * COUNT_PAD: AveragePool divides by the taps inside the padded input rather than the in-bounds taps. */
__kernel void pool2d(__global const store_t *x, __global store_t *y, int h, int w, int oh, int ow, int planes) {
  const int ox = get_global_id(0), oy = get_global_id(1), p = get_global_id(2);
  if (ox >= ow || oy >= oh || p >= planes) return;
  const int y0 = oy * SH - PT, x0 = ox * SW - PL;
  const int base = p * h * w;
  float acc = MODE_MAX ? -INFINITY : 0.0f;
  int count = 0;
  for (int ky = 0; ky < KH; ++ky) {
    const int iy = y0 + ky * DH;
    if (iy < 0 || iy >= h) continue;
    for (int kx = 0; kx < KW; ++kx) {
      const int ix = x0 + kx * DW;
      if (ix < 0 || ix >= w) continue;
      const float v = LOAD(x, base + iy * w + ix);
      acc = MODE_MAX ? max_nan(acc, v) : acc + v;
      ++count;
    }
  }
#if !MODE_MAX
#if COUNT_PAD
  /* taps before the end padding's edge; every window starts inside the input or its begin padding */
  count = min(KH, (h + PB - y0 + DH - 1) / DH) * min(KW, (w + PR - x0 + DW - 1) / DW);
#endif
  acc = count > 0 ? acc / (float)count : 0.0f;
#endif
  STORE(y, (p * oh + oy) * ow + ox, acc);
}
