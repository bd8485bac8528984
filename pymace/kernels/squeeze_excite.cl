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

/* One work-group per image (id 1): (with SE_POOL) the channel means, a work-item a channel; FC1, each row of W1
 * summed by WGS / R work-items (at least one; neighbouring work-items take neighbouring rows) and their partial
 * sums added in local memory; FC2 and the gate, a work-item a channel. The barriers on global memory order this
 * work-group's scratch writes before its reads. */
__kernel __attribute__((reqd_work_group_size(WGS, 1, 1)))
void se_fc(__global const store_t *x, __global float *pooled, __global float *hid, __global const store_t *w1t,
           __global const store_t *b1, __global const store_t *w2t, __global const store_t *b2, __global store_t *s,
           int C, int R, int HW) {
  __local float part[WGS];
  const int t = get_local_id(0), n = get_global_id(1);
  __global float *pn = pooled + (size_t)n * C, *hn = hid + (size_t)n * R;
#ifdef SE_POOL
  for (int c = t; c < C; c += WGS) {
    __global const store_t *xc = x + ((size_t)n * C + c) * HW;
    float acc = 0.0f;
    for (int p = 0; p < HW; ++p) acc += LOAD(xc, p);
    pn[c] = acc / HW;
  }
  barrier(CLK_GLOBAL_MEM_FENCE);
#endif
  const int lanes = max(1, WGS / R), rows = WGS / lanes, row = t % rows, lane = t / rows;
  for (int r0 = 0; r0 < R; r0 += rows) {
    const int r = r0 + row;
    float acc = 0.0f;
    if (t < rows * lanes && r < R)
      for (int c = lane; c < C; c += lanes) acc = mad(LOAD(w1t, (size_t)c * R + r), pn[c], acc);
    part[t] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lane == 0 && r < R) {
      float v = LOAD(b1, r);
      for (int j = 0; j < lanes; ++j) v += part[row + j * rows];
      hn[r] = activate(v, 0.0f);
    }
    barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
  }
  for (int c = t; c < C; c += WGS) {
    float acc = LOAD(b2, c);
    for (int r = 0; r < R; ++r) acc = mad(LOAD(w2t, (size_t)r * C + c), hn[r], acc);
    STORE(s, (size_t)n * C + c, gate(acc));
  }
}
#endif
