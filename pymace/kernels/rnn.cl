/* LSTM and GRU, one time step per launch (GRU: gru_gates then gru_state) over (hidden unit j, batch b,
 * direction d). Weights come transposed, wt [D][I][G*H] and rt [D][H][G*H] (gate g of unit j in column g*H + j),
 * bias [D][2*G*H] = (W biases, R biases). step[2d], step[2d+1]: this step's t for direction d and the previous t
 * (-1: read initial_h / initial_c). Y is [T][D][B][H]; the previous hidden state is Y's row at the previous t, so
 * no launch reads what it writes. Build options: CLIP (a float: gate inputs clamped to ±CLIP), INPUT_FORGET,
 * LINEAR_BEFORE_RESET. */
#ifdef CLIP
#define CUT(v) clamp((v), -(CLIP), (CLIP))
#else
#define CUT(v) (v)
#endif

inline float sigmoid(float v) { return 1.0f / (1.0f + exp(-v)); }

/* acc[g] += sum_k v[k] * w[(d*K + k)*COLS + g*H + j] for the gates g0 .. g0+n-1 */
inline void accumulate(float *acc, int n, int g0, __global const store_t *v, __global const store_t *w, int K,
                       int COLS, int H, int j, int d) {
  for (int k = 0; k < K; ++k) {
    const float vk = LOAD(v, k);
    __global const store_t *row = w + ((size_t)d * K + k) * COLS + j;
    for (int g = 0; g < n; ++g) acc[g] = mad(vk, LOAD(row, (g0 + g) * H), acc[g]);
  }
}

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
  float acc[4];
  for (int g = 0; g < 4; ++g) acc[g] = LOAD(bias, (size_t)d * 2 * G + g * H + j) + LOAD(bias, (size_t)d * 2 * G + G + g * H + j);
  accumulate(acc, 4, 0, x + ((size_t)t * NB + b) * I, wt, I, G, H, j, d);
  accumulate(acc, 4, 0, previous(h0, y, tp, d, b, D, NB, H), rt, H, G, H, j, d);
  const float cp = tp < 0 ? LOAD(c0, s) : LOAD(yc, s);
  __global const store_t *p = peep + (size_t)d * 3 * H + j;
  const float i = sigmoid(CUT(acc[0] + LOAD(p, 0) * cp));
#ifdef INPUT_FORGET
  const float f = 1.0f - i;
#else
  const float f = sigmoid(CUT(acc[2] + LOAD(p, 2 * H) * cp));
#endif
  const float c = f * cp + i * tanh(CUT(acc[3]));
  const float h = sigmoid(CUT(acc[1] + LOAD(p, H) * c)) * tanh(c);
  STORE(y, (((size_t)t * D + d) * NB + b) * H + j, h);
  STORE(yh, s, h);
  STORE(yc, s, c);
}
#endif

#ifdef KERNEL_gru_gates
/* Gates z, r (ONNX order z, r, h): gates[s] = z, gates[D*NB*H + s] = r * h_prev (LINEAR_BEFORE_RESET: r). */
__kernel void gru_gates(__global const store_t *x, __global const store_t *wt, __global const store_t *rt,
                        __global const store_t *bias, __global const store_t *h0, __global const store_t *y,
                        __global store_t *gates, __global const int *step, int D, int NB, int I, int H) {
  const int j = get_global_id(0), b = get_global_id(1), d = get_global_id(2);
  if (j >= H || b >= NB || d >= D) return;
  const int t = step[2 * d], tp = step[2 * d + 1], G = 3 * H;
  const size_t s = ((size_t)d * NB + b) * H + j;
  __global const store_t *hp = previous(h0, y, tp, d, b, D, NB, H);
  float acc[2];
  for (int g = 0; g < 2; ++g) acc[g] = LOAD(bias, (size_t)d * 2 * G + g * H + j) + LOAD(bias, (size_t)d * 2 * G + G + g * H + j);
  accumulate(acc, 2, 0, x + ((size_t)t * NB + b) * I, wt, I, G, H, j, d);
  accumulate(acc, 2, 0, hp, rt, H, G, H, j, d);
  const float r = sigmoid(CUT(acc[1]));
  STORE(gates, s, sigmoid(CUT(acc[0])));
#ifdef LINEAR_BEFORE_RESET
  STORE(gates, (size_t)D * NB * H + s, r);
#else
  STORE(gates, (size_t)D * NB * H + s, r * LOAD(hp, j));
#endif
}
#endif

#ifdef KERNEL_gru_state
/* The candidate state and the new hidden state, from gru_gates' z and r. */
__kernel void gru_state(__global const store_t *x, __global const store_t *wt, __global const store_t *rt,
                        __global const store_t *bias, __global const store_t *h0, __global store_t *y,
                        __global store_t *yh, __global const store_t *gates, __global const int *step, int D, int NB,
                        int I, int H) {
  const int j = get_global_id(0), b = get_global_id(1), d = get_global_id(2);
  if (j >= H || b >= NB || d >= D) return;
  const int t = step[2 * d], tp = step[2 * d + 1], G = 3 * H;
  const size_t s = ((size_t)d * NB + b) * H + j;
  __global const store_t *hp = previous(h0, y, tp, d, b, D, NB, H);
  float xh = LOAD(bias, (size_t)d * 2 * G + 2 * H + j), hr = LOAD(bias, (size_t)d * 2 * G + G + 2 * H + j);
  accumulate(&xh, 1, 2, x + ((size_t)t * NB + b) * I, wt, I, G, H, j, d);
#ifdef LINEAR_BEFORE_RESET
  accumulate(&hr, 1, 2, hp, rt, H, G, H, j, d);
  const float cand = tanh(CUT(xh + LOAD(gates, (size_t)D * NB * H + s) * hr));
#else
  accumulate(&hr, 1, 2, gates + (size_t)D * NB * H + ((size_t)d * NB + b) * H, rt, H, G, H, j, d);
  const float cand = tanh(CUT(xh + hr));
#endif
  const float z = LOAD(gates, s), h = (1.0f - z) * cand + z * LOAD(hp, j);
  STORE(y, (((size_t)t * D + d) * NB + b) * H + j, h);
  STORE(yh, s, h);
}
#endif
