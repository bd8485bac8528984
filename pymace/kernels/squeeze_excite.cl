/* SqueezeExcite (host code: ops/squeeze_excite.py): s[n][c] = gate(b2[c] + sum_r W2[c][r] * h[n][r]),
 * h[n][r] = act(b1[r] + sum_c W1[r][c] * mean_p x[n][c][p]). Weights come transposed, w1t [C][R] and w2t [R][C],
 * so that neighbouring work-items (neighbouring rows of FC1, neighbouring channels of FC2) read neighbouring
 * weights; `pooled` [N][C] and `hid` [N][R] are fp32 scratch. Build options: WGS (work-group size), the FC1
 * activation's ACT (common.h), GATE (4 HardSigmoid with GATE_A GATE_B, 5 Sigmoid), and se_fc's SE_POOL /
 * se_pool's LANES. Every sum runs in a fixed order: the same inputs give the same bits. */

/* The mean of each channel of image n: WGS / LANES channels a work-group, LANES work-items a channel striding
 * over its pixels (neighbours read neighbours), then a tree in local memory. */
#ifdef KERNEL_se_pool
__kernel __attribute__((reqd_work_group_size(WGS, 1, 1)))
void se_pool(__global const store_t *x, __global float *pooled, int C, int HW) {
  __local float part[WGS];
  const int t = get_local_id(0), lane = t % LANES, n = get_global_id(2);
  const int c = get_group_id(1) * (WGS / LANES) + t / LANES;
  float acc = 0.0f;
  if (c < C) {
    __global const store_t *xc = x + ((size_t)n * C + c) * HW;
    for (int p = lane; p < HW; p += LANES) acc += LOAD(xc, p);
  }
  part[t] = acc;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = LANES / 2; s > 0; s >>= 1) {
    if (lane < s) part[t] += part[t + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (lane == 0 && c < C) pooled[(size_t)n * C + c] = part[t] / HW;
}
#endif

#ifdef KERNEL_se_fc
inline float gate(float v) {
#if GATE == 4
  return clamp(GATE_A * v + GATE_B, 0.0f, 1.0f);
#else
  return 1.0f / (1.0f + exp(-v));
#endif
}

/* G work-groups per image (ids 0 and 1), each computing all of FC1 (the weights come from L2 for every one
 * after the first) and FC2 with the gate for its WGS channels, so that FC2 is spread over the device and no
 * work-group waits on another. With SE_POOL, each work-group first takes the channel means itself, a work-item a
 * channel; `pooled` and `hid` then hold a slice per work-group. FC1: each row of W1 summed by WGS / R work-items
 * (at least one; neighbouring work-items take neighbouring rows), their partial sums added in local memory. The
 * dot products keep four partial sums, so four loads are in flight at once: a lone work-group's loads are its
 * time. The barriers on global memory order this work-group's scratch writes before its reads. */
inline float dot_strided(__global const store_t *w, size_t w_step, __global const float *v, int v_step, int n) {
  float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    a0 = mad(LOAD(w, i * w_step), v[i * v_step], a0);
    a1 = mad(LOAD(w, (i + 1) * w_step), v[(i + 1) * v_step], a1);
    a2 = mad(LOAD(w, (i + 2) * w_step), v[(i + 2) * v_step], a2);
    a3 = mad(LOAD(w, (i + 3) * w_step), v[(i + 3) * v_step], a3);
  }
  for (; i < n; ++i) a0 = mad(LOAD(w, i * w_step), v[i * v_step], a0);
  return (a0 + a1) + (a2 + a3);
}

__kernel __attribute__((reqd_work_group_size(WGS, 1, 1)))
void se_fc(__global const store_t *x, __global float *pooled, __global float *hid, __global const store_t *w1t,
           __global const store_t *b1, __global const store_t *w2t, __global const store_t *b2, __global store_t *s,
           int C, int R, int HW) {
  __local float part[WGS];
  const int t = get_local_id(0), g = get_group_id(0), G = get_num_groups(0), n = get_global_id(1);
  __global float *hn = hid + ((size_t)n * G + g) * R;
#ifdef SE_POOL
  __global float *pn = pooled + ((size_t)n * G + g) * C;
  for (int c = t; c < C; c += WGS) {
    __global const store_t *xc = x + ((size_t)n * C + c) * HW;
    float acc = 0.0f;
    for (int p = 0; p < HW; ++p) acc += LOAD(xc, p);
    pn[c] = acc / HW;
  }
  barrier(CLK_GLOBAL_MEM_FENCE);
#else
  __global const float *pn = pooled + (size_t)n * C;
#endif
  const int lanes = max(1, WGS / R), rows = WGS / lanes, row = t % rows, lane = t / rows;
  for (int r0 = 0; r0 < R; r0 += rows) {
    const int r = r0 + row;
    float acc = 0.0f;
    if (t < rows * lanes && r < R && lane < C)
      acc = dot_strided(w1t + (size_t)lane * R + r, (size_t)lanes * R, pn + lane, lanes,
                        (C - lane + lanes - 1) / lanes);
    part[t] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lane == 0 && r < R) {
      float v = LOAD(b1, r);
      for (int j = 0; j < lanes; ++j) v += part[row + j * rows];
      hn[r] = activate(v, 0.0f);
    }
    barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
  }
  const int c = g * WGS + t;
  if (c < C) STORE(s, (size_t)n * C + c, gate(LOAD(b2, c) + dot_strided(w2t + c, (size_t)C, hn, 1, R)));
}
#endif
