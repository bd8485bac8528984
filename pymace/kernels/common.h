/* Shared by every pymace kernel: storage type, loads/stores, fused activations.
 * Storage is fp32 or fp16 (MACE's fp16_fp32); arithmetic is always fp32. fp16 uses vload_half/vstore_half,
 * which OpenCL C 1.2 guarantees without cl_khr_fp16 (NVIDIA's OpenCL has no cl_khr_fp16). */
#ifdef FP16_STORAGE
typedef half store_t;
#if defined(__x86_64__)
/* PoCL's x86 library (3.1) converts vload_half / vstore_half (and the 2- and 3-wide forms) in software, the store
 * with a branch for every rounding case, but 4, 8 and 16 at a time with F16C (vcvtph2ps / vcvtps2ph); and its
 * 4-, 8- and 16-wide forms access memory as if aligned to the whole vector (`align 16` in its library), which the
 * spec asks only of vloada_half: where LLVM does not fold the access into the conversion, a vmovaps faults on an
 * unaligned pointer. So halves move as ushort vectors declared 2-byte aligned (PoCL's vstoreN of ushort stores
 * lane by lane) and convert in a private, aligned vector, which LLVM folds into one vcvtph2ps / vcvtps2ph; one
 * half is a lane of a 4-vector. */
#define HALF_VEC(n)                                                \
  typedef ushort##n __attribute__((aligned(2))) ushort##n##_u;     \
  inline float##n load_half##n(__global const half *p) {           \
    const ushort##n t = *(__global const ushort##n##_u *)p;        \
    return vload_half##n(0, (const half *)&t);                     \
  }                                                                \
  inline void store_half##n(__global half *p, float##n v) {        \
    ushort##n t;                                                   \
    vstore_half##n(v, 0, (half *)&t);                              \
    *(__global ushort##n##_u *)p = t;                              \
  }
HALF_VEC(4)
HALF_VEC(8)
HALF_VEC(16)
inline float load_half1(__global const half *p, size_t i) {
  const ushort4 t = (ushort4)(((__global const ushort *)p)[i], 0, 0, 0);
  return vload_half4(0, (const half *)&t).x;
}
inline void store_half1(__global half *p, size_t i, float v) {
  ushort4 t;
  vstore_half4((float4)(v), 0, (half *)&t);
  ((__global ushort *)p)[i] = t.x;
}
#define LOAD(p, i) load_half1((p), (i))
#define STORE(p, i, v) store_half1((p), (i), (v))
#else
#define load_half4(p) vload_half4(0, (p))
#define load_half8(p) vload_half8(0, (p))
#define load_half16(p) vload_half16(0, (p))
#define store_half4(p, v) vstore_half4((v), 0, (p))
#define store_half8(p, v) vstore_half8((v), 0, (p))
#define store_half16(p, v) vstore_half16((v), 0, (p))
#define LOAD(p, i) vload_half((i), (p))
#define STORE(p, i, v) vstore_half((v), (i), (p))
#endif
#define LOAD4(p, i) load_half4((p) + 4 * (size_t)(i))
#define STORE4(p, i, v) store_half4((p) + 4 * (size_t)(i), (v))
#else
typedef float store_t;
#define LOAD(p, i) ((p)[(i)])
#define STORE(p, i, v) ((p)[(i)] = (v))
#define LOAD4(p, i) vload4((i), (p))
#define STORE4(p, i, v) vstore4((v), (i), (p))
#endif

/* n consecutive values (n constant once inlined) between global storage and private floats. With fp16 storage,
 * 8 or 4 at a time (the last group overlapping the one before it), one at a time only when n < 4: a wide
 * conversion is one instruction (F16C on x86), a lane-by-lane one several. */
inline void load_n(float *t, __global const store_t *p, int n) {
#ifdef FP16_STORAGE
  if (n >= 4) {
    int i = 0;
    for (; i + 8 <= n; i += 8) vstore8(load_half8(p + i), 0, t + i);
    if (i + 4 <= n) {
      vstore4(load_half4(p + i), 0, t + i);
      i += 4;
    }
    if (i < n) vstore4(load_half4(p + n - 4), 0, t + n - 4);
    return;
  }
#endif
  for (int i = 0; i < n; ++i) t[i] = LOAD(p, i);
}

inline void store_n(__global store_t *p, const float *t, int n) {
#ifdef FP16_STORAGE
  if (n >= 4) {
    int i = 0;
    for (; i + 8 <= n; i += 8) store_half8(p + i, vload8(0, t + i));
    if (i + 4 <= n) {
      store_half4(p + i, vload4(0, t + i));
      i += 4;
    }
    if (i < n) store_half4(p + n - 4, vload4(0, t + n - 4));
    return;
  }
#endif
  for (int i = 0; i < n; ++i) STORE(p, i, t[i]);
}

/* FLOATS(v, p, n): v[0..n) reads p[0..n) as floats: fp32 storage in place, fp16 from a private copy that
 * load_n converts once (for values a loop reads many times, a conv's weights). */
#ifdef FP16_STORAGE
#define FLOATS(v, p, n) \
  float v[n];           \
  load_n(v, (p), (n))
typedef const float floats_t; /* what a FLOATS array's elements are: a pointer into one is floats_t * */
#else
#define FLOATS(v, p, n) __global const float *v = (p)
typedef __global const float floats_t;
#endif

/* Data movement (gather, tile, …) copies elements without arithmetic: elem_t is the raw element word, int for
 * integer and bool tensors (-DINT_ELEMS; they are int32 on the device), ushort for fp16 storage (half values
 * move bit-exact, no cl_khr_fp16 needed), else float. */
#if defined(INT_ELEMS)
typedef int elem_t;
#elif defined(FP16_STORAGE)
typedef ushort elem_t;
#else
typedef float elem_t;
#endif

#ifndef ACT
#define ACT 0
#endif

/* NaN in, NaN out, as in ONNX and NumPy (np.maximum, np.clip): fmax/fmin/clamp return the other operand when one is
 * NaN, which would turn a NaN the model produced into a plausible number. These compare so that a NaN falls
 * through to the result. max_nan(-INFINITY, v) is v for every v, so it also starts a running maximum. */
inline float max_nan(float a, float b) { return (a > b || isnan(a)) ? a : b; }
/* clip_nan: the lower bound first, then the upper, as NumPy's clip: with lo > hi every value becomes hi. */
inline float clip_nan(float x, float lo, float hi) { const float y = x < lo ? lo : x; return y > hi ? hi : y; }

/* A fused PRelu's slope is a kernel parameter only when the build defines HAS_SLOPE (the activation is PRelu:
 * ops/activation.py), so that every other launch passes one buffer fewer: each argument is host time in every
 * enqueue (benchmarks/NOTES.md, "what an enqueue costs"). SLOPE(i), SLOPE4(i): the slope at i, 0 without one;
 * SLOPE_ARG passes the parameter on to a helper whose parameter list has SLOPE_PARAM. */
#ifdef HAS_SLOPE
#define SLOPE_PARAM __global const store_t *slope,
#define SLOPE_ARG slope,
#define SLOPE(i) LOAD(slope, (i))
#define SLOPE4(i) LOAD4(slope, (i))
#else
#define SLOPE_PARAM
#define SLOPE_ARG
#define SLOPE(i) 0.0f
#define SLOPE4(i) ((float4)(0.0f))
#endif

/* Split-K partial sums (conv_gemm, gemm_tiled) are a parameter only when the build defines HAS_PART, which the
 * hosts do exactly when SPLIT > 1. */
#ifdef HAS_PART
#define PART_PARAM __global float *part,
#else
#define PART_PARAM
#endif
#if defined(SPLIT) && SPLIT > 1 && !defined(HAS_PART)
#error "SPLIT > 1 needs HAS_PART"
#endif

/* `slope` is the PRelu slope of channel `c` (ignored by other activations). */
inline float activate(float x, float slope) {
#if ACT == 1
  return x < 0.0f ? 0.0f : x;
#elif ACT == 2
  return clip_nan(x, ACT_A, ACT_B);
#elif ACT == 3
  return x * clip_nan(x / 6.0f + 0.5f, 0.0f, 1.0f);
#elif ACT == 4
  return clip_nan(ACT_A * x + ACT_B, 0.0f, 1.0f);
#elif ACT == 5
  return 1.0f / (1.0f + exp(-x));
#elif ACT == 6
  return x >= 0.0f ? x : ACT_A * x;
#elif ACT == 7
  return x >= 0.0f ? x : slope * x;
#elif ACT == 8
  return tanh(x);
#elif ACT == 9
  return x / (1.0f + exp(-x)); /* Silu; exp overflows to inf for x << 0, giving -0 */
#elif ACT == 10 /* Gelu: ACT_A 1 is the tanh approximation, 0 erf (ops/math.py's Gelu) */
  if (ACT_A != 0.0f) return 0.5f * x * (1.0f + tanh(0.7978845608028654f * (x + 0.044715f * x * x * x)));
  return 0.5f * x * (1.0f + erf(x * 0.7071067811865476f));
#else
  return x;
#endif
}

/* A fused residual (pymace's Conv attribute `residual`): producers add it before the activation. The buffer is
 * a kernel parameter only when -DHAS_RES is given: RES_PARAM goes in the parameter list, RES_ARG in calls. */
#ifdef HAS_RES
#define RES_PARAM __global const store_t *res,
#define RES_ARG res,
#else
#define RES_PARAM
#define RES_ARG
#endif

/* The residual of output i, or 0. */
inline float residual1(RES_PARAM size_t i) {
#ifdef HAS_RES
  return LOAD(res, i);
#else
  return 0.0f;
#endif
}

/* The residual of 4 consecutive outputs from i, of which only the first `valid` exist; or zeros. */
inline float4 residual4(RES_PARAM size_t i, int valid) {
#ifdef HAS_RES
  if (valid == 4) return LOAD4(res + i, 0);
  float r[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int j = 0; j < valid; ++j) r[j] = LOAD(res, i + j);
  return (float4)(r[0], r[1], r[2], r[3]);
#else
  return (float4)(0.0f);
#endif
}
