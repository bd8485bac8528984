/* ConvTranspose, NCHW, as a gather: output pixel (oh, ow) receives input pixel (ih, iw) through tap (kh, kw)
 * when oh + PT - kh*DH == ih*SH (and likewise for columns), so no atomics are needed.
 * Build options: KH KW SH SW DH DW, ACT. Weights are packed on the host as [G][ceil(Mg/4)][KH][KW][Cg][4]
 * (bias, PRelu slope as [G][ceil(Mg/4)][4]): a work-item computes 4 output channels of one group at one pixel,
 * z = (n*G + g)*MBG + block. */
__kernel void conv_transpose(__global const store_t *x, __global const store_t *w, __global const store_t *bias,
                             SLOPE_PARAM __global store_t *y, int N, int CG, int MG, int MBG,
                             int G, int H, int W, int OH, int OW, int PT, int PL) {
  const int ow = get_global_id(0), oh = get_global_id(1), z = get_global_id(2);
  if (ow >= OW || oh >= OH || z >= N * G * MBG) return;
  const int gb = z % (G * MBG), n = z / (G * MBG), g = gb / MBG, mb = gb % MBG;
  float4 acc = LOAD4(bias, gb);
  __global const store_t *xg = x + ((size_t)n * G + g) * CG * H * W;
  for (int kh = 0; kh < KH; ++kh) {
    const int th = oh + PT - kh * DH;
    if (th < 0 || th % SH != 0 || th / SH >= H) continue;
    for (int kw = 0; kw < KW; ++kw) {
      const int tw = ow + PL - kw * DW;
      if (tw < 0 || tw % SW != 0 || tw / SW >= W) continue;
      __global const store_t *xp = xg + (th / SH) * W + tw / SW;
      const int wbase = ((gb * KH + kh) * KW + kw) * CG;
      for (int c = 0; c < CG; ++c) acc = mad(LOAD(xp, (size_t)c * H * W), LOAD4(w, wbase + c), acc);
    }
  }
  const float4 s = SLOPE4(gb);
  float a[4] = {acc.x, acc.y, acc.z, acc.w}, sl[4] = {s.x, s.y, s.z, s.w};
  for (int i = 0; i < 4 && mb * 4 + i < MG; ++i) {
    const size_t m = (size_t)g * MG + mb * 4 + i;
    STORE(y, ((n * (size_t)G * MG + m) * OH + oh) * OW + ow, activate(a[i], sl[i]));
  }
}
