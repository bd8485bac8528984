/* Reduce K of an (outer, K, inner) view: y[o * inner + i] = mean or max (OP_MAX) of x[(o * K + k) * inner + i].
 * `rows` = outer * inner outputs. Accumulation is in float whatever the storage type. */
#if OP_MAX
#define INIT (-INFINITY)
#define ACC(a, v) max_nan(a, v)
#define FINISH(a, k) (a)
#else
#define INIT 0.0f
#define ACC(a, v) ((a) + (v))
#define FINISH(a, k) ((a) / (float)(k))
#endif

/* One work-item per output row, reading K values `inner` apart (neighbouring work-items read neighbours). */
#ifdef KERNEL_reduce_serial
__kernel void reduce_serial(__global const store_t *x, __global store_t *y, int k, int inner, int rows) {
  const int r = get_global_id(0);
  if (r >= rows) return;
  const int base = (r / inner) * k * inner + r % inner;
  float acc = INIT;
  for (int j = 0; j < k; ++j) acc = ACC(acc, LOAD(x, base + j * inner));
  STORE(y, r, FINISH(acc, k));
}
#endif

#ifdef WG
/* One work-group of WG (a power of two) per output row: strided partial results, then a tree in local memory. */
#ifdef KERNEL_reduce_wg
__kernel void reduce_wg(__global const store_t *x, __global store_t *y, int k, int inner, int rows) {
  __local float part[WG];
  const int lid = get_local_id(0), r = get_global_id(1);
  const int base = (r / inner) * k * inner + r % inner;
  float acc = INIT;
  if (r < rows)
    for (int j = lid; j < k; j += WG) acc = ACC(acc, LOAD(x, base + j * inner));
  part[lid] = acc;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = WG / 2; s > 0; s >>= 1) {
    if (lid < s) part[lid] = ACC(part[lid], part[lid + s]);
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (lid == 0 && r < rows) STORE(y, r, FINISH(part[0], k));
}
#endif
#endif
