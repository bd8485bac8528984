/* Row normalisation (pymace/ops/normalization.py): `rows` contiguous rows of k elements; row r, element j:
 * y = (x - mean_r) * inv_r * scale[p] + bias[p], inv_r = 1 / sqrt(var_r + EPSILON), p = (r % groups) * stride +
 * j / span. The mean comes first and the variance is summed around it (two passes, no cancellation), in float.
 * HAS_BIAS: a bias input; STATS: the row's mean and inv_r are written too (LayerNormalization's Mean, InvStdDev). */
#if HAS_BIAS
#define BIAS_PARAM __global const store_t *bias,
#define BIAS(i) LOAD(bias, i)
#else
#define BIAS_PARAM
#define BIAS(i) 0.0f
#endif
#if STATS
#define STATS_PARAM __global store_t *mean_out, __global store_t *inv_out,
#else
#define STATS_PARAM
#endif
#define NORM_PARAMS __global const store_t *x, __global const store_t *scale, BIAS_PARAM __global store_t *y, \
  STATS_PARAM int k, int rows, int groups, int stride, int span

inline void write_row(__global const store_t *x, __global const store_t *scale, BIAS_PARAM __global store_t *y,
                      int r, int k, int first, int step, float mean, float inv, int groups, int stride,
                      int span) {
  const int base = r * k, p0 = (r % groups) * stride;
  for (int j = first; j < k; j += step) {
    const int p = p0 + j / span;
    STORE(y, base + j, (LOAD(x, base + j) - mean) * inv * LOAD(scale, p) + BIAS(p));
  }
}

#ifdef KERNEL_norm_serial
/* One work-item per row. */
__kernel void norm_serial(NORM_PARAMS) {
  const int r = get_global_id(0);
  if (r >= rows) return;
  const int base = r * k;
  float sum = 0.0f;
  for (int j = 0; j < k; ++j) sum += LOAD(x, base + j);
  const float mean = sum / (float)k;
  float sq = 0.0f;
  for (int j = 0; j < k; ++j) {
    const float d = LOAD(x, base + j) - mean;
    sq += d * d;
  }
  const float inv = 1.0f / sqrt(sq / (float)k + EPSILON);
#if HAS_BIAS
  write_row(x, scale, bias, y, r, k, 0, 1, mean, inv, groups, stride, span);
#else
  write_row(x, scale, y, r, k, 0, 1, mean, inv, groups, stride, span);
#endif
#if STATS
  STORE(mean_out, r, mean);
  STORE(inv_out, r, inv);
#endif
}
#endif

#if defined(WG) && defined(KERNEL_norm_wg)
/* The sum of `v` over the work-group (a tree in local memory); every work-item gets it. */
inline float group_sum(__local float *part, float v) {
  const int lid = get_local_id(0);
  part[lid] = v;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = WG / 2; s > 0; s >>= 1) {
    if (lid < s) part[lid] += part[lid + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  const float total = part[0];
  barrier(CLK_LOCAL_MEM_FENCE);  /* everyone has read it before part[] is reused */
  return total;
}

/* One work-group of WG (a power of two) per row. */
__kernel void norm_wg(NORM_PARAMS) {
  __local float part[WG];
  const int lid = get_local_id(0), r = get_global_id(1);
  const bool live = r < rows;  /* every work-item must reach the barriers */
  const int base = r * k;
  float sum = 0.0f;
  if (live)
    for (int j = lid; j < k; j += WG) sum += LOAD(x, base + j);
  const float mean = group_sum(part, sum) / (float)k;
  float sq = 0.0f;
  if (live)
    for (int j = lid; j < k; j += WG) {
      const float d = LOAD(x, base + j) - mean;
      sq += d * d;
    }
  const float inv = 1.0f / sqrt(group_sum(part, sq) / (float)k + EPSILON);
  if (!live) return;
#if HAS_BIAS
  write_row(x, scale, bias, y, r, k, lid, WG, mean, inv, groups, stride, span);
#else
  write_row(x, scale, y, r, k, lid, WG, mean, inv, groups, stride, span);
#endif
#if STATS
  if (lid == 0) {
    STORE(mean_out, r, mean);
    STORE(inv_out, r, inv);
  }
#endif
}
#endif

#ifdef KERNEL_lrn
/* LRN: y = x / (LRN_BIAS + LRN_ALPHA * sum of x^2 over channels c - LRN_LOW .. c + LRN_HIGH)^LRN_BETA, with
 * LRN_ALPHA = alpha / size. One work-item per (spatial position, channel, batch). */
__kernel void lrn(__global const store_t *x, __global store_t *y, int c, int spatial, int n) {
  const int s = get_global_id(0), ch = get_global_id(1), b = get_global_id(2);
  if (s >= spatial || ch >= c || b >= n) return;
  const int base = b * c * spatial + s;
  float sum = 0.0f;
  for (int q = max(ch - LRN_LOW, 0); q <= min(ch + LRN_HIGH, c - 1); ++q) {
    const float v = LOAD(x, base + q * spatial);
    sum += v * v;
  }
  STORE(y, base + ch * spatial, LOAD(x, base + ch * spatial) / pow(LRN_BIAS + LRN_ALPHA * sum, LRN_BETA));
}
#endif
