/* y = f(x) for the function -DFN_<op type> selects (pymace/ops/math.py); P_A, P_B are its attributes. Each
 * work-item does 4 consecutive elements, the last one the n % 4 remainder. Comparisons are written so that NaN
 * falls through to an arithmetic branch and stays NaN (no fmax/fmin, which drop NaN). INT_ELEMS: the tensor is an
 * integer or bool one, an int32 buffer (docs/ir.md), for Abs, Neg, Sign and Not. */
#ifndef P_A
#define P_A 0.0f
#endif
#ifndef P_B
#define P_B 0.0f
#endif

#ifdef INT_ELEMS
inline int fn(int x) {
#if defined(FN_Abs)
  return x < 0 ? -x : x;
#elif defined(FN_Neg)
  return -x;
#elif defined(FN_Sign)
  return (x > 0) - (x < 0);
#elif defined(FN_Not)
  return x == 0;
#else
#error "math.cl: this function takes no integer tensor"
#endif
}

__kernel void math(__global const int *x, __global int *y, int n) {
  const int i = get_global_id(0);
  for (int j = i * 4; j < min(i * 4 + 4, n); ++j) y[j] = fn(x[j]);
}

#else
inline float softplus(float x) { return (x > 0.0f ? x : 0.0f) + log1p(exp(-fabs(x))); }

inline float fn(float x) {
#if defined(FN_Erf)
  return erf(x);
#elif defined(FN_Gelu)
  if (P_A != 0.0f) return 0.5f * x * (1.0f + tanh(0.7978845608028654f * (x + 0.044715f * x * x * x)));
  return 0.5f * x * (1.0f + erf(x * 0.7071067811865476f));
#elif defined(FN_Sqrt)
  return sqrt(x);
#elif defined(FN_Reciprocal)
  return 1.0f / x;
#elif defined(FN_Exp)
  return exp(x);
#elif defined(FN_Log)
  return log(x);
#elif defined(FN_Floor)
  return floor(x);
#elif defined(FN_Ceil)
  return ceil(x);
#elif defined(FN_Round)
  return rint(x);  /* round half to even, the default rounding mode */
#elif defined(FN_Sin)
  return sin(x);
#elif defined(FN_Cos)
  return cos(x);
#elif defined(FN_Tan)
  return tan(x);
#elif defined(FN_Asin)
  return asin(x);
#elif defined(FN_Acos)
  return acos(x);
#elif defined(FN_Atan)
  return atan(x);
#elif defined(FN_Sinh)
  return sinh(x);
#elif defined(FN_Cosh)
  return cosh(x);
#elif defined(FN_Asinh)
  return asinh(x);
#elif defined(FN_Acosh)
  return acosh(x);
#elif defined(FN_Atanh)
  return atanh(x);
#elif defined(FN_Softplus)
  return softplus(x);
#elif defined(FN_Softsign)
  return x / (1.0f + fabs(x));
#elif defined(FN_Elu)
  return x < 0.0f ? P_A * expm1(x) : x;
#elif defined(FN_Selu)
  return x <= 0.0f ? P_B * P_A * expm1(x) : P_B * x;
#elif defined(FN_Celu)
  return x < 0.0f ? P_A * expm1(x / P_A) : x;
#elif defined(FN_Mish)
  return x * tanh(softplus(x));
#elif defined(FN_Abs)
  return fabs(x);
#elif defined(FN_Neg)
  return -x;
#elif defined(FN_Sign)
  return x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : x * 0.0f;  /* NaN * 0 stays NaN */
#else
#error "math.cl needs -DFN_<op type>"
#endif
}

__kernel void math(__global const store_t *x, __global store_t *y, int n) {
  const int i = get_global_id(0);
  if (i * 4 + 4 <= n) {
    const float4 v = LOAD4(x, i);
    STORE4(y, i, (float4)(fn(v.x), fn(v.y), fn(v.z), fn(v.w)));
    return;
  }
  for (int j = i * 4; j < n; ++j) STORE(y, j, fn(LOAD(x, j)));
}
#endif
