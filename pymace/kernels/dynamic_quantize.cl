/* DynamicQuantizeLinear (ops/dynamic_quantize.py) in three launches: partial min/max per work-group, the
 * parameters from them, then the quantization. `stats` is scratch memory read as floats whatever the storage
 * type: [3 per group: min, max, NaN seen] then [scale, zero point] for the last launch. y and the zero point are
 * uint8 tensors, int32 on the device. */

#ifdef KERNEL_dq_minmax
/* Work-group g of `groups` (WG items each) folds x[g*WG + lid], stepping by groups*WG. */
__kernel void dq_minmax(__global const store_t *x, __global float *stats, int n) {
  __local float lo[WG], hi[WG], bad[WG];
  const int lid = get_local_id(0), g = get_group_id(0), step = get_num_groups(0) * WG;
  float mn = INFINITY, mx = -INFINITY, nan = 0.0f;
  for (int i = g * WG + lid; i < n; i += step) {
    const float v = LOAD(x, i);
    mn = fmin(mn, v);
    mx = fmax(mx, v);
    nan = isnan(v) ? 1.0f : nan;
  }
  lo[lid] = mn;
  hi[lid] = mx;
  bad[lid] = nan;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = WG / 2; s > 0; s >>= 1) {
    if (lid < s) {
      lo[lid] = fmin(lo[lid], lo[lid + s]);
      hi[lid] = fmax(hi[lid], hi[lid + s]);
      bad[lid] = fmax(bad[lid], bad[lid + s]);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (lid == 0) {
    stats[3 * g] = lo[0];
    stats[3 * g + 1] = hi[0];
    stats[3 * g + 2] = bad[0];
  }
}
#endif

#ifdef KERNEL_dq_params
/* One work-item: ONNX's parameters from the `groups` partials; the range always holds 0. NaN in x: scale NaN. */
__kernel void dq_params(__global float *stats, __global store_t *scale, __global int *zero, int groups) {
  if (get_global_id(0) != 0) return;
  float mn = 0.0f, mx = 0.0f, nan = 0.0f;
  for (int g = 0; g < groups; ++g) {
    mn = fmin(mn, stats[3 * g]);
    mx = fmax(mx, stats[3 * g + 1]);
    nan = fmax(nan, stats[3 * g + 2]);
  }
  const float s = nan > 0.0f ? NAN : (mx == mn ? 1.0f : mx - mn) / 255.0f;
  const float zp = nan > 0.0f ? 0.0f : rint(clamp(0.0f - mn / s, 0.0f, 255.0f));
  stats[3 * groups] = s;
  stats[3 * groups + 1] = zp;
  STORE(scale, 0, s);
  zero[0] = (int)zp;
}
#endif

#ifdef KERNEL_dq_quantize
__kernel void dq_quantize(__global const store_t *x, __global const float *stats, __global int *y, int groups,
                          int n) {
  const int i = get_global_id(0);
  if (i >= n) return;
  const float v = rint(LOAD(x, i) / stats[3 * groups]) + stats[3 * groups + 1];  /* rint: half to even */
  y[i] = isnan(v) ? 0 : (int)clamp(v, 0.0f, 255.0f);
}
#endif
