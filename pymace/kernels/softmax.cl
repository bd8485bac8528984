/* Softmax of an (outer, K, inner) view along K: y = exp(x - max) / sum(exp(x - max)), in float. `rows` is
 * outer * inner; row r's elements lie `inner` apart from (r / inner) * K * inner + r % inner. */

/* One work-item per row: three passes (max, sum, write), neighbouring work-items on neighbouring columns. */
#ifdef KERNEL_softmax_serial
__kernel void softmax_serial(__global const store_t *x, __global store_t *y, int k, int inner, int rows) {
  const int r = get_global_id(0);
  if (r >= rows) return;
  const int base = (r / inner) * k * inner + r % inner;
  float m = -INFINITY, s = 0.0f;
  for (int j = 0; j < k; ++j) m = max_nan(m, LOAD(x, base + j * inner));
  for (int j = 0; j < k; ++j) s += exp(LOAD(x, base + j * inner) - m);
  const float inv = 1.0f / s;
  for (int j = 0; j < k; ++j) STORE(y, base + j * inner, exp(LOAD(x, base + j * inner) - m) * inv);
}
#endif

#ifdef WG
/* One work-group of WG (a power of two) per row: max and sum are tree reductions in local memory. */
#ifdef KERNEL_softmax_wg
__kernel void softmax_wg(__global const store_t *x, __global store_t *y, int k, int inner, int rows) {
  __local float part[WG];
  const int lid = get_local_id(0), r = get_global_id(1);
  const int base = (r / inner) * k * inner + r % inner;
  const bool live = r < rows;  /* every work-item must reach the barriers */
  float m = -INFINITY;
  if (live)
    for (int j = lid; j < k; j += WG) m = max_nan(m, LOAD(x, base + j * inner));
  part[lid] = m;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = WG / 2; s > 0; s >>= 1) {
    if (lid < s) part[lid] = max_nan(part[lid], part[lid + s]);
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  m = part[0];
  barrier(CLK_LOCAL_MEM_FENCE);  /* everyone has read the max before part[] is reused */
  float sum = 0.0f;
  if (live)
    for (int j = lid; j < k; j += WG) sum += exp(LOAD(x, base + j * inner) - m);
  part[lid] = sum;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = WG / 2; s > 0; s >>= 1) {
    if (lid < s) part[lid] += part[lid + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  const float inv = 1.0f / part[0];
  if (live)
    for (int j = lid; j < k; j += WG) STORE(y, base + j * inner, exp(LOAD(x, base + j * inner) - m) * inv);
}
#endif
#endif
