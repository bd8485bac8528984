/* Softmax of an (outer, K, inner) view along K: y = exp(x - max) / sum(exp(x - max)), in float; with LOG_SOFTMAX
 * y = x - max - log(sum(exp(x - max))); with HARDMAX y = 1 at the row's first maximum (a NaN counts as the
 * maximum, as numpy's argmax has it), 0 elsewhere. `rows` is outer * inner; row r's elements lie `inner` apart
 * from (r / inner) * K * inner + r % inner. */
#ifdef LOG_SOFTMAX
#define NORMALISE(v, m, sum) ((v) - (m) - log(sum))
#else
#define NORMALISE(v, m, sum) (exp((v) - (m)) / (sum))
#endif

/* One work-item per row: three passes (max, sum, write), neighbouring work-items on neighbouring columns. */
#ifdef KERNEL_softmax_serial
__kernel void softmax_serial(__global const store_t *x, __global store_t *y, int k, int inner, int rows) {
  const int r = get_global_id(0);
  if (r >= rows) return;
  const int base = (r / inner) * k * inner + r % inner;
#ifdef HARDMAX
  float m = -INFINITY;
  int at = 0;
  for (int j = 0; j < k; ++j) {
    const float v = LOAD(x, base + j * inner);
    if (v > m || (v != v && m == m)) { m = v; at = j; }
  }
  for (int j = 0; j < k; ++j) STORE(y, base + j * inner, j == at ? 1.0f : 0.0f);
#else
  float m = -INFINITY, s = 0.0f;
  for (int j = 0; j < k; ++j) m = fmax(m, LOAD(x, base + j * inner));
  for (int j = 0; j < k; ++j) s += exp(LOAD(x, base + j * inner) - m);
  for (int j = 0; j < k; ++j) STORE(y, base + j * inner, NORMALISE(LOAD(x, base + j * inner), m, s));
#endif
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
    for (int j = lid; j < k; j += WG) m = fmax(m, LOAD(x, base + j * inner));
  part[lid] = m;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = WG / 2; s > 0; s >>= 1) {
    if (lid < s) part[lid] = fmax(part[lid], part[lid + s]);
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
  const float total = part[0];
  if (live)
    for (int j = lid; j < k; j += WG) STORE(y, base + j * inner, NORMALISE(LOAD(x, base + j * inner), m, total));
}
#endif
#endif
