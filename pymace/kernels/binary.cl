/* Broadcast elementwise y = activate(op(a, b, s), s); see pymace/ops/binary.py for how shapes are grouped, and
 * OP_CODES there for the codes of OP (0 add, 1 sub, 2 mul, 3 div, 4 y = a (PRelu), then Pow, Mod, Max/Min,
 * comparisons, logic and Where). HAS_B: operand b present. HAS_S: a third operand: the fused PRelu slope, or
 * Where's y (Where: a is the condition, b its x). Bools are stored as 0 / 1 in the storage type, and
 * comparisons and logic write 1.0 / 0.0.
 * binary3: one work-item writes 4 consecutive elements of a row of the (outer, mid, inner) output; an operand
 * with <X>_VEC=1 spans the row (4 loads), otherwise it is broadcast along it (1 load). ALIGNED: inner % 4 == 0,
 * so rows start on 4-element boundaries and vector loads/stores can be used. */
#ifndef HAS_B
#define HAS_B 0
#endif
#ifndef HAS_S
#define HAS_S 0
#endif

#if OP <= 4  /* arithmetic on whole vectors */
#define COMBINE(a, b) (OP == 0 ? (a) + (b) : OP == 1 ? (a) - (b) : OP == 2 ? (a) * (b) : OP == 3 ? (a) / (b) : (a))
#define COMBINE1(a, b, c) COMBINE(a, b)
#define COMBINE4(a, b, c) COMBINE(a, b)
#else
#define TRUTH(x) ((x) ? 1.0f : 0.0f)

/* a / b truncated toward zero for integers held as floats: OpenCL's division may be off by an ulp, so the
 * quotient is corrected by its remainder (exact for |a|, |b| < 2^24). */
inline float int_div(float a, float b) {
  float q = trunc(a / b);
  const float r = a - q * b, step = (a < 0.0f) != (b < 0.0f) ? -1.0f : 1.0f;
  if (r != 0.0f && (r < 0.0f) != (a < 0.0f)) q -= step;
  else if (fabs(r) >= fabs(b)) q += step;
  return q;
}

/* Comparisons are written so that NaN operands give ONNX's results: Max/Min return the NaN, == and < are false. */
inline float combine1(float a, float b, float c) {
#if OP == 5
  return pow(a, b);
#elif OP == 6  /* Mod, fmod=0: the remainder takes the divisor's sign */
  const float r = fmod(a, b);
  return r != 0.0f && (r < 0.0f) != (b < 0.0f) ? r + b : r;
#elif OP == 7
  return fmod(a, b);
#elif OP == 8
  return a >= b || a != a ? a : b;
#elif OP == 9
  return a <= b || a != a ? a : b;
#elif OP == 10
  return int_div(a, b);
#elif OP == 11  /* the last Add of a Mean */
  return (a + b) * SCALE;
#elif OP == 12
  return TRUTH(a == b);
#elif OP == 13
  return TRUTH(a < b);
#elif OP == 14
  return TRUTH(a > b);
#elif OP == 15
  return TRUTH(a <= b);
#elif OP == 16
  return TRUTH(a >= b);
#elif OP == 17
  return TRUTH(a != 0.0f && b != 0.0f);
#elif OP == 18
  return TRUTH(a != 0.0f || b != 0.0f);
#elif OP == 19
  return TRUTH((a != 0.0f) != (b != 0.0f));
#elif OP == 20
  return a != 0.0f ? b : c;
#elif OP == 21  /* Pow of integers: pow's last-ulp error must not survive a later truncation */
  return rint(pow(a, b));
#else
#error "binary.cl: unknown OP"
#endif
}
#define COMBINE1(a, b, c) combine1(a, b, c)
#define COMBINE4(a, b, c) \
  ((float4)(combine1((a).x, (b).x, (c).x), combine1((a).y, (b).y, (c).y), combine1((a).z, (b).z, (c).z), \
            combine1((a).w, (b).w, (c).w)))
#endif

#if ALIGNED
#define LD4(p, i) LOAD4(p, (i) >> 2)
#define ST4(p, i, v) STORE4(p, (i) >> 2, v)
#else
#define LD4(p, i) ((float4)(LOAD(p, i), LOAD(p, (i) + 1), LOAD(p, (i) + 2), LOAD(p, (i) + 3)))
#define ST4(p, i, v) \
  do { STORE(p, i, (v).x); STORE(p, (i) + 1, (v).y); STORE(p, (i) + 2, (v).z); STORE(p, (i) + 3, (v).w); } while (0)
#endif
/* 4 values of an operand at element index i: a row slice when it spans the row, else one broadcast value. */
#define OPERAND4(p, i, VEC) ((VEC) ? LD4(p, i) : (float4)(LOAD(p, i)))

inline float4 activate4(float4 v, float4 s) {
  return (float4)(activate(v.x, s.x), activate(v.y, s.y), activate(v.z, s.z), activate(v.w, s.w));
}

#ifndef RANK  /* each build holds one of the two kernels: RANK selects binary_nd */
#ifdef KERNEL_binary3
__kernel void binary3(__global const store_t *a, int a_outer, int a_mid,
#if HAS_B
                      __global const store_t *b, int b_outer, int b_mid,
#endif
#if HAS_S
                      __global const store_t *s, int s_outer, int s_mid,
#endif
                      __global store_t *y, int mid, int inner, int outer) {
  const int x = get_global_id(0) * 4, m = get_global_id(1), o = get_global_id(2);
  if (x >= inner || m >= mid || o >= outer) return;
  const int yi = (o * mid + m) * inner + x;
  const int ai = o * a_outer + m * a_mid + A_VEC * x;
#if HAS_B
  const int bi = o * b_outer + m * b_mid + B_VEC * x;
#endif
#if HAS_S
  const int si = o * s_outer + m * s_mid + S_VEC * x;
#endif
  if (x + 4 <= inner) {
    float4 va = OPERAND4(a, ai, A_VEC);
#if HAS_B
    float4 vb = OPERAND4(b, bi, B_VEC);
#else
    float4 vb = va;
#endif
#if HAS_S
    float4 vs = OPERAND4(s, si, S_VEC);
#else
    float4 vs = (float4)(0.0f);
#endif
    float4 v = activate4(COMBINE4(va, vb, vs), vs);
    ST4(y, yi, v);
    return;
  }
  for (int j = 0; x + j < inner; ++j) {  /* the row's last, partial group of 4 */
    float va = LOAD(a, ai + A_VEC * j);
#if HAS_B
    float vb = LOAD(b, bi + B_VEC * j);
#else
    float vb = va;
#endif
#if HAS_S
    float vs = LOAD(s, si + S_VEC * j);
#else
    float vs = 0.0f;
#endif
    STORE(y, yi + j, activate(COMBINE1(va, vb, vs), vs));
  }
}
#endif

#else
/* Any broadcast: table = sizes[RANK], then the strides of a, (b), (s), each RANK long (0 where broadcast). */
#ifdef KERNEL_binary_nd
__kernel void binary_nd(__global const store_t *a,
#if HAS_B
                        __global const store_t *b,
#endif
#if HAS_S
                        __global const store_t *s,
#endif
                        __global store_t *y, __global const int *table, int n) {
  const int i = get_global_id(0);
  if (i >= n) return;
  int rest = i, ai = 0, bi = 0, si = 0;
  for (int d = RANK - 1; d >= 0; --d) {
    const int c = rest % table[d];
    rest /= table[d];
    ai += c * table[RANK + d];
#if HAS_B
    bi += c * table[2 * RANK + d];
#endif
#if HAS_S
    si += c * table[(2 + HAS_B) * RANK + d];
#endif
  }
  float va = LOAD(a, ai);
#if HAS_B
  float vb = LOAD(b, bi);
#else
  float vb = va;
#endif
#if HAS_S
  float vs = LOAD(s, si);
#else
  float vs = 0.0f;
#endif
  STORE(y, i, activate(COMBINE1(va, vb, vs), vs));
}
#endif
#endif
