/* BatchNormalization (inference) as y = x * mul[c] + shift[c], factors folded on the host in fp32.
 * A work-item handles 4 consecutive pixels of one (n, c) plane of P pixels. Build options: ACT. */
__kernel void batch_norm(__global const store_t *x, __global const store_t *mul, __global const store_t *shift,
                         __global const store_t *slope, __global store_t *y, int N, int C, int P) {
  const int p0 = get_global_id(0) * 4, c = get_global_id(1), n = get_global_id(2);
  if (p0 >= P || c >= C || n >= N) return;
  const float m = LOAD(mul, c), b = LOAD(shift, c), s = LOAD(slope, c);
  const size_t base = ((size_t)n * C + c) * P + p0;
  if (p0 + 4 <= P) {
    const float4 v = LOAD4(x + base, 0) * m + b;
    STORE4(y + base, 0, (float4)(activate(v.x, s), activate(v.y, s), activate(v.z, s), activate(v.w, s)));
  } else {
    for (int j = 0; j < P - p0; ++j) STORE(y, base + j, activate(LOAD(x, base + j) * m + b, s));
  }
}
