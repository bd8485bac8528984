/* y = activate(x) for the unary activation selected by ACT (see activate() in common.h); each work-item does 4
 * consecutive elements so loads and stores are vectorised, and the last one handles the n % 4 remainder. */
__kernel void unary(__global const store_t *x, __global store_t *y, int n) {
  const int i = get_global_id(0);
  if (i * 4 + 4 <= n) {
    const float4 v = LOAD4(x, i);
    STORE4(y, i, (float4)(activate(v.x, 0.0f), activate(v.y, 0.0f), activate(v.z, 0.0f), activate(v.w, 0.0f)));
    return;
  }
  for (int j = i * 4; j < n; ++j) STORE(y, j, activate(LOAD(x, j), 0.0f));
}
