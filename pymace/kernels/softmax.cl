/* Softmax of an (outer, K, inner) view along K: y = exp(x - max) / sum(exp(x - max)), in float; with LOG_SOFTMAX
 * y = x - max - log(sum(exp(x - max))); with HARDMAX y = 1 at the row's first maximum (a NaN counts as the
 * maximum, as numpy's argmax has it), 0 elsewhere. `rows` is outer * inner; row r's elements lie `inner` apart
 * from (r / inner) * K * inner + r % inner. */
#ifdef LOG_SOFTMAX
#define NORMALISE(v, m, sum) ((v) - (m) - log(sum))
#else
#define NORMALISE(v, m, sum) (exp((v) - (m)) / (sum))
#endif

/* CPU (PoCL), rows contiguous (inner == 1), K >= 8: one row a work-item (one work-item a work-group: PoCL runs the
 * code as written, kernels/conv_cpu.cl says why), 8 values a vector, the last K % 8 one by one. */
#ifdef KERNEL_softmax_rows_cpu
#ifdef FP16_STORAGE
#define SLOAD8(p) load_half8(p)
#define SSTORE8(p, v) store_half8((p), (v))
#else
#define SLOAD8(p) vload8(0, (p))
#define SSTORE8(p, v) vstore8((v), 0, (p))
#endif
__kernel void softmax_rows_cpu(__global const store_t *x, __global store_t *y, int k, int inner, int rows) {
  const int r = get_global_id(0), kv = k & ~7;
  if (r >= rows) return;
  __global const store_t *xr = x + (size_t)r * k;
  __global store_t *yr = y + (size_t)r * k;
  float8 mv = (float8)(-INFINITY);
  for (int j = 0; j < kv; j += 8) {
    const float8 v = SLOAD8(xr + j);
    mv = select(v, mv, (mv > v) | isnan(mv)); /* NaN propagates, as max_nan */
  }
  float lanes[8];
  vstore8(mv, 0, lanes);
  float m = -INFINITY;
  for (int j = 0; j < 8; ++j) m = max_nan(m, lanes[j]);
  for (int j = kv; j < k; ++j) m = max_nan(m, LOAD(xr, j));
  float8 sv = (float8)(0.0f);
  for (int j = 0; j < kv; j += 8) sv += exp(SLOAD8(xr + j) - m);
  float s = sv.s0 + sv.s1 + sv.s2 + sv.s3 + sv.s4 + sv.s5 + sv.s6 + sv.s7;
  for (int j = kv; j < k; ++j) s += exp(LOAD(xr, j) - m);
  for (int j = 0; j < kv; j += 8) SSTORE8(yr + j, NORMALISE(SLOAD8(xr + j), m, s));
  for (int j = kv; j < k; ++j) STORE(yr, j, NORMALISE(LOAD(xr, j), m, s));
}
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
  for (int j = 0; j < k; ++j) m = max_nan(m, LOAD(x, base + j * inner));
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
  const float total = part[0];
  if (live)
    for (int j = lid; j < k; j += WG) STORE(y, base + j * inner, NORMALISE(LOAD(x, base + j * inner), m, total));
}
#endif
#endif
