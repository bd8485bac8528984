/* Broadcast elementwise y = activate(op(a, b, s), s); see pymace/ops/binary.py for how shapes are grouped, and
 * OP_CODES there for the codes of OP (0 add, 1 sub, 2 mul, 3 div, 4 y = a (PRelu), then Pow, Mod, Max/Min,
 * comparisons, logic and Where). HAS_B: operand b present. HAS_S: a third operand: the fused PRelu slope, or
 * Where's y (Where: a is the condition, b its x).
 * Element types: an operand or the output built with <X>_INT=1 (X = A, B, S, Y) is an int32 buffer (integer and
 * bool tensors, docs/ir.md), else the storage type. INT_MATH (every one of them int32) computes in int, exactly;
 * otherwise in float. Comparisons and logic give 1 / 0.
 * binary3: one work-item writes 4 consecutive elements of a row of the (outer, mid, inner) output; an operand
 * with <X>_VEC=1 spans the row (4 loads), otherwise it is broadcast along it (1 load). ALIGNED: inner % 4 == 0,
 * so rows start on 4-element boundaries and vector loads/stores can be used. */
#ifndef HAS_B
#define HAS_B 0
#endif
#ifndef HAS_S
#define HAS_S 0
#endif
#ifndef A_INT
#define A_INT 0
#endif
#ifndef B_INT
#define B_INT 0
#endif
#ifndef S_INT
#define S_INT 0
#endif
#ifndef Y_INT
#define Y_INT 0
#endif
#define INT_MATH (A_INT && (B_INT || !HAS_B) && (S_INT || !HAS_S) && Y_INT)

#if INT_MATH
typedef int calc_t;
typedef int4 calc4_t;
#define CALC4(v) convert_int4(v)
#define IS_NAN(v) 0
#else
typedef float calc_t;
typedef float4 calc4_t;
#define CALC4(v) convert_float4(v)
#define IS_NAN(v) isnan(v)
#endif

/* Loads and stores of operand X at element index i (calc_t, calc4_t); ALIGNED vector accesses use i / 4. */
#if ALIGNED
#define INT4_AT(p, i) vload4((i) >> 2, p)
#define STORE4_AT(p, i, v) STORE4(p, (i) >> 2, v)
#define STORE_INT4_AT(p, i, v) vstore4(v, (i) >> 2, p)
#else
#define INT4_AT(p, i) ((int4)((p)[i], (p)[(i) + 1], (p)[(i) + 2], (p)[(i) + 3]))
#define STORE4_AT(p, i, v) \
  do { STORE(p, i, (v).x); STORE(p, (i) + 1, (v).y); STORE(p, (i) + 2, (v).z); STORE(p, (i) + 3, (v).w); } while (0)
#define STORE_INT4_AT(p, i, v) \
  do { (p)[i] = (v).x; (p)[(i) + 1] = (v).y; (p)[(i) + 2] = (v).z; (p)[(i) + 3] = (v).w; } while (0)
#endif
#if ALIGNED
#define STORE4_LD(p, i) LOAD4(p, (i) >> 2)
#else
#define STORE4_LD(p, i) ((float4)(LOAD(p, i), LOAD(p, (i) + 1), LOAD(p, (i) + 2), LOAD(p, (i) + 3)))
#endif
#define LOAD1_0(p, i) ((calc_t)LOAD(p, i))
#define LOAD1_1(p, i) ((calc_t)(p)[i])
#define LOAD4_0(p, i) CALC4(STORE4_LD(p, i))
#define LOAD4_1(p, i) CALC4(INT4_AT(p, i))
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)  /* expands a and b first (A_INT → 0 or 1) */
#define LOAD1(IS_INT, p, i) CAT(LOAD1_, IS_INT)(p, i)
#define LOAD4V(IS_INT, p, i) CAT(LOAD4_, IS_INT)(p, i)
/* 4 values of an operand at element index i: a row slice when it spans the row, else one broadcast value. */
#define OPERAND4(IS_INT, p, i, VEC) ((VEC) ? LOAD4V(IS_INT, p, i) : (calc4_t)(LOAD1(IS_INT, p, i)))
#define PTR(IS_INT) CAT(PTR_, IS_INT)
#define PTR_0 __global const store_t *
#define PTR_1 __global const int *
#define OUT_PTR CAT(OUT_PTR_, Y_INT)
#define OUT_PTR_0 __global store_t *
#define OUT_PTR_1 __global int *
#if Y_INT
#define STORE_Y(p, i, v) ((p)[i] = (int)(v))
#define STORE4_Y(p, i, v) STORE_INT4_AT(p, i, convert_int4(v))
#else
#define STORE_Y(p, i, v) STORE(p, i, (float)(v))
#define STORE4_Y(p, i, v) STORE4_AT(p, i, convert_float4(v))
#endif

#if INT_MATH || Y_INT  /* fused activations apply to float results only */
#define ACTIVATE(v, s) (v)
#define ACTIVATE4(v, s) (v)
#else
#define ACTIVATE(v, s) activate(v, s)
#define ACTIVATE4(v, s) ((float4)(activate((v).x, (s).x), activate((v).y, (s).y), activate((v).z, (s).z), \
                                  activate((v).w, (s).w)))
#endif

#if OP <= 4  /* arithmetic on whole vectors; int / truncates toward zero as ONNX's integer Div does */
#define COMBINE(a, b) (OP == 0 ? (a) + (b) : OP == 1 ? (a) - (b) : OP == 2 ? (a) * (b) : OP == 3 ? (a) / (b) : (a))
#define COMBINE1(a, b, c) COMBINE(a, b)
#define COMBINE4(a, b, c) COMBINE(a, b)
#else
#define TRUTH(x) ((x) ? (calc_t)1 : (calc_t)0)

#if INT_MATH
/* a ** b for integers (b < 0 gives 0 unless |a| = 1, as the truncated float result would) */
inline int int_pow(int a, int b) {
  if (b < 0) return a == 1 ? 1 : a == -1 ? (b & 1 ? -1 : 1) : 0;
  int r = 1;
  for (; b > 0; b >>= 1, a *= a)
    if (b & 1) r *= a;
  return r;
}
#endif

/* Comparisons are written so that NaN operands give ONNX's results: Max/Min return the NaN, == and < are false. */
inline calc_t combine1(calc_t a, calc_t b, calc_t c) {
#if OP == 5 && INT_MATH
  return int_pow(a, b);
#elif OP == 5
  return pow(a, b);
#elif OP == 6 && INT_MATH  /* Mod, fmod=0: the remainder takes the divisor's sign */
  const int r = a % b;
  return r != 0 && (r < 0) != (b < 0) ? r + b : r;
#elif OP == 6
  const float r = fmod(a, b);
  return r != 0.0f && (r < 0.0f) != (b < 0.0f) ? r + b : r;
#elif OP == 7 && INT_MATH
  return a % b;
#elif OP == 7
  return fmod(a, b);
#elif OP == 8
  return a >= b || IS_NAN(a) ? a : b;
#elif OP == 9
  return a <= b || IS_NAN(a) ? a : b;
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
  return TRUTH(a != 0 && b != 0);
#elif OP == 18
  return TRUTH(a != 0 || b != 0);
#elif OP == 19
  return TRUTH((a != 0) != (b != 0));
#elif OP == 20
  return a != 0 ? b : c;
#else
#error "binary.cl: unknown OP"
#endif
}
#define COMBINE1(a, b, c) combine1(a, b, c)
#define COMBINE4(a, b, c) \
  ((calc4_t)(combine1((a).x, (b).x, (c).x), combine1((a).y, (b).y, (c).y), combine1((a).z, (b).z, (c).z), \
             combine1((a).w, (b).w, (c).w)))
#endif

#ifndef RANK  /* each build holds one of the two kernels: RANK selects binary_nd */
#ifdef KERNEL_binary3
__kernel void binary3(PTR(A_INT) a, int a_outer, int a_mid,
#if HAS_B
                      PTR(B_INT) b, int b_outer, int b_mid,
#endif
#if HAS_S
                      PTR(S_INT) s, int s_outer, int s_mid,
#endif
                      OUT_PTR y, int mid, int inner, int outer) {
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
    calc4_t va = OPERAND4(A_INT, a, ai, A_VEC);
#if HAS_B
    calc4_t vb = OPERAND4(B_INT, b, bi, B_VEC);
#else
    calc4_t vb = va;
#endif
#if HAS_S
    calc4_t vs = OPERAND4(S_INT, s, si, S_VEC);
#else
    calc4_t vs = (calc4_t)(0);
#endif
    STORE4_Y(y, yi, ACTIVATE4(COMBINE4(va, vb, vs), vs));
    return;
  }
  for (int j = 0; x + j < inner; ++j) {  /* the row's last, partial group of 4 */
    calc_t va = LOAD1(A_INT, a, ai + A_VEC * j);
#if HAS_B
    calc_t vb = LOAD1(B_INT, b, bi + B_VEC * j);
#else
    calc_t vb = va;
#endif
#if HAS_S
    calc_t vs = LOAD1(S_INT, s, si + S_VEC * j);
#else
    calc_t vs = 0;
#endif
    STORE_Y(y, yi + j, ACTIVATE(COMBINE1(va, vb, vs), vs));
  }
}
#endif

#else
/* Any broadcast: table = sizes[RANK], then the strides of a, (b), (s), each RANK long (0 where broadcast). */
#ifdef KERNEL_binary_nd
__kernel void binary_nd(PTR(A_INT) a,
#if HAS_B
                        PTR(B_INT) b,
#endif
#if HAS_S
                        PTR(S_INT) s,
#endif
                        OUT_PTR y, __global const int *table, int n) {
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
  calc_t va = LOAD1(A_INT, a, ai);
#if HAS_B
  calc_t vb = LOAD1(B_INT, b, bi);
#else
  calc_t vb = va;
#endif
#if HAS_S
  calc_t vs = LOAD1(S_INT, s, si);
#else
  calc_t vs = 0;
#endif
  STORE_Y(y, i, ACTIVATE(COMBINE1(va, vb, vs), vs));
}
#endif
#endif
