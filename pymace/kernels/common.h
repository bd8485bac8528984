/* Shared by every pymace kernel: storage type, loads/stores, fused activations.
 * Storage is fp32 or fp16 (MACE's fp16_fp32); arithmetic is always fp32. fp16 uses vload_half/vstore_half,
 * which OpenCL C 1.2 guarantees without cl_khr_fp16 (NVIDIA's OpenCL has no cl_khr_fp16). */
#ifdef FP16_STORAGE
typedef half store_t;
#define LOAD(p, i) vload_half((i), (p))
#define STORE(p, i, v) vstore_half((v), (i), (p))
#define LOAD4(p, i) vload_half4((i), (p))
#define STORE4(p, i, v) vstore_half4((v), (i), (p))
#else
typedef float store_t;
#define LOAD(p, i) ((p)[(i)])
#define STORE(p, i, v) ((p)[(i)] = (v))
#define LOAD4(p, i) vload4((i), (p))
#define STORE4(p, i, v) vstore4((v), (i), (p))
#endif

#ifndef ACT
#define ACT 0
#endif

/* `slope` is the PRelu slope of channel `c` (ignored by other activations). */
inline float activate(float x, float slope) {
#if ACT == 1
  return fmax(x, 0.0f);
#elif ACT == 2
  return fmin(fmax(x, ACT_A), ACT_B);
#elif ACT == 3
  return x * clamp(x / 6.0f + 0.5f, 0.0f, 1.0f);
#elif ACT == 4
  return clamp(ACT_A * x + ACT_B, 0.0f, 1.0f);
#elif ACT == 5
  return 1.0f / (1.0f + exp(-x));
#elif ACT == 6
  return x >= 0.0f ? x : ACT_A * x;
#elif ACT == 7
  return x >= 0.0f ? x : slope * x;
#elif ACT == 8
  return tanh(x);
#else
  return x;
#endif
}
