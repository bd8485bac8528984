/* LSTM and GRU, one time step per launch (GRU: gru_gates then gru_state) over (hidden unit j, batch b,
 * direction d). Weights come transposed with the gates of one unit side by side, so a work-item reads them with
 * one vector load and neighbouring work-items read neighbouring vectors: LSTM wt [D][I][H][4] and rt [D][H][H][4]
 * (gates i, o, f, c), bias [D][2][H][4] (W biases, R biases); GRU wzr [D][K][H][2] (z, r) and wh [D][K][H] for
 * K = I (W) and K = H (R), bias [D][2][3H] as in ONNX. step[2d], step[2d+1]: this step's t for direction d and the previous t
 * (-1: read initial_h / initial_c). Y is [T][D][B][H]; the previous hidden state is Y's row at the previous t, so
 * no launch reads what it writes. Build options: CLIP (a float: gate inputs clamped to ±CLIP), INPUT_FORGET,
 * LINEAR_BEFORE_RESET. */
#ifdef CLIP
#define CUT(v) clamp((v), -(CLIP), (CLIP))
#else
#define CUT(v) (v)
#endif

inline float sigmoid(float v) { return 1.0f / (1.0f + exp(-v)); }

#ifdef FP16_STORAGE
#define LOAD2(p, i) vload_half2((i), (p))
#else
#define LOAD2(p, i) vload2((i), (p))
#endif

/* The hidden state this step starts from. */
inline __global const store_t *previous(__global const store_t *h0, __global const store_t *y, int tp, int d, int b,
                                        int D, int NB, int H) {
  return tp < 0 ? h0 + ((size_t)d * NB + b) * H : y + (((size_t)tp * D + d) * NB + b) * H;
}

#ifdef KERNEL_lstm_step
/* Gates i, o, f, c (ONNX order); peep = [D][3H] (i, o, f). */
__kernel void lstm_step(__global const store_t *x, __global const store_t *wt, __global const store_t *rt,
                        __global const store_t *bias, __global const store_t *peep, __global const store_t *h0,
                        __global const store_t *c0, __global store_t *y, __global store_t *yh, __global store_t *yc,
                        __global const int *step, int D, int NB, int I, int H) {
  const int j = get_global_id(0), b = get_global_id(1), d = get_global_id(2);
  if (j >= H || b >= NB || d >= D) return;
  const int t = step[2 * d], tp = step[2 * d + 1], G = 4 * H;
  const size_t s = ((size_t)d * NB + b) * H + j;
  float4 acc = LOAD4(bias, (size_t)d * 2 * H + j) + LOAD4(bias, ((size_t)d * 2 + 1) * H + j);
  __global const store_t *xt = x + ((size_t)t * NB + b) * I, *hp = previous(h0, y, tp, d, b, D, NB, H);
  for (int k = 0; k < I; ++k) acc = mad((float4)LOAD(xt, k), LOAD4(wt, ((size_t)d * I + k) * H + j), acc);
  for (int k = 0; k < H; ++k) acc = mad((float4)LOAD(hp, k), LOAD4(rt, ((size_t)d * H + k) * H + j), acc);
  const float cp = tp < 0 ? LOAD(c0, s) : LOAD(yc, s);
  __global const store_t *p = peep + (size_t)d * 3 * H + j;
  const float i = sigmoid(CUT(acc.x + LOAD(p, 0) * cp));
#ifdef INPUT_FORGET
  const float f = 1.0f - i;
#else
  const float f = sigmoid(CUT(acc.z + LOAD(p, 2 * H) * cp));
#endif
  const float c = f * cp + i * tanh(CUT(acc.w));
  const float h = sigmoid(CUT(acc.y + LOAD(p, H) * c)) * tanh(c);
  STORE(y, (((size_t)t * D + d) * NB + b) * H + j, h);
  STORE(yh, s, h);
  STORE(yc, s, c);
}
#endif

#ifdef KERNEL_gru_gates
/* Gates z, r (ONNX order z, r, h): gates[s] = z, gates[D*NB*H + s] = r * h_prev (LINEAR_BEFORE_RESET: r). */
__kernel void gru_gates(__global const store_t *x, __global const store_t *wzr, __global const store_t *rzr,
                        __global const store_t *bias, __global const store_t *h0, __global const store_t *y,
                        __global store_t *gates, __global const int *step, int D, int NB, int I, int H) {
  const int j = get_global_id(0), b = get_global_id(1), d = get_global_id(2);
  if (j >= H || b >= NB || d >= D) return;
  const int t = step[2 * d], tp = step[2 * d + 1], G = 3 * H;
  const size_t s = ((size_t)d * NB + b) * H + j;
  __global const store_t *hp = previous(h0, y, tp, d, b, D, NB, H);
  __global const store_t *wb = bias + (size_t)d * 2 * G + j, *xt = x + ((size_t)t * NB + b) * I;
  float2 acc = (float2)(LOAD(wb, 0) + LOAD(wb, G), LOAD(wb, H) + LOAD(wb, G + H));
  for (int k = 0; k < I; ++k) acc = mad((float2)LOAD(xt, k), LOAD2(wzr, ((size_t)d * I + k) * H + j), acc);
  for (int k = 0; k < H; ++k) acc = mad((float2)LOAD(hp, k), LOAD2(rzr, ((size_t)d * H + k) * H + j), acc);
  const float r = sigmoid(CUT(acc.y));
  STORE(gates, s, sigmoid(CUT(acc.x)));
#ifdef LINEAR_BEFORE_RESET
  STORE(gates, (size_t)D * NB * H + s, r);
#else
  STORE(gates, (size_t)D * NB * H + s, r * LOAD(hp, j));
#endif
}
#endif

#ifdef KERNEL_gru_state
/* The candidate state and the new hidden state, from gru_gates' z and r. */
__kernel void gru_state(__global const store_t *x, __global const store_t *wh, __global const store_t *rh,
                        __global const store_t *bias, __global const store_t *h0, __global store_t *y,
                        __global store_t *yh, __global const store_t *gates, __global const int *step, int D, int NB,
                        int I, int H) {
  const int j = get_global_id(0), b = get_global_id(1), d = get_global_id(2);
  if (j >= H || b >= NB || d >= D) return;
  const int t = step[2 * d], tp = step[2 * d + 1], G = 3 * H;
  const size_t s = ((size_t)d * NB + b) * H + j;
  __global const store_t *hp = previous(h0, y, tp, d, b, D, NB, H);
  __global const store_t *xt = x + ((size_t)t * NB + b) * I;
  float xh = LOAD(bias, (size_t)d * 2 * G + 2 * H + j), hr = LOAD(bias, (size_t)d * 2 * G + G + 2 * H + j);
  for (int k = 0; k < I; ++k) xh = mad(LOAD(xt, k), LOAD(wh, ((size_t)d * I + k) * H + j), xh);
#ifdef LINEAR_BEFORE_RESET
  for (int k = 0; k < H; ++k) hr = mad(LOAD(hp, k), LOAD(rh, ((size_t)d * H + k) * H + j), hr);
  const float cand = tanh(CUT(xh + LOAD(gates, (size_t)D * NB * H + s) * hr));
#else /* r * h_prev of every unit, from gru_gates */
  __global const store_t *rhp = gates + (size_t)D * NB * H + ((size_t)d * NB + b) * H;
  for (int k = 0; k < H; ++k) hr = mad(LOAD(rhp, k), LOAD(rh, ((size_t)d * H + k) * H + j), hr);
  const float cand = tanh(CUT(xh + hr));
#endif
  const float z = LOAD(gates, s), h = (1.0f - z) * cand + z * LOAD(hp, j);
  STORE(y, (((size_t)t * D + d) * NB + b) * H + j, h);
  STORE(yh, s, h);
}
#endif
