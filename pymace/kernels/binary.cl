/* Broadcast elementwise y = activate(op(a, b), slope); see pymace/ops/binary.py for how shapes are grouped.
 * OP: 0 add, 1 sub, 2 mul, 3 div, 4 y = a (PRelu). HAS_B / HAS_S: operand b / fused-PRelu slope present.
 * binary3: one work-item writes 4 consecutive elements of a row of the (outer, mid, inner) output; an operand
 * with <X>_VEC=1 spans the row (4 loads), otherwise it is broadcast along it (1 load). ALIGNED: inner % 4 == 0,
 * so rows start on 4-element boundaries and vector loads/stores can be used. */
#ifndef HAS_B
#define HAS_B 0
#endif
#ifndef HAS_S
#define HAS_S 0
#endif

#define COMBINE(a, b) (OP == 0 ? (a) + (b) : OP == 1 ? (a) - (b) : OP == 2 ? (a) * (b) : OP == 3 ? (a) / (b) : (a))

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
    float4 v = activate4(COMBINE(va, vb), vs);
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
    STORE(y, yi + j, activate(COMBINE(va, vb), vs));
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
  STORE(y, i, activate(COMBINE(va, vb), vs));
}
#endif
#endif
