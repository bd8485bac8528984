/* Cast (pymace/ops/cast.py). X_INT / Y_INT: the input / output is an integer or bool tensor, an int32 buffer on the
 * device (docs/ir.md), else the storage type. Float to integer truncates toward zero; TO_BOOL gives 1 for every
 * non-zero value; TO_HALF rounds a float to half precision; everything else converts the value as it is. */

/* v rounded to the nearest half (ties to even), in float arithmetic: without cl_khr_fp16 a kernel may not declare
 * a private half to round through. Half keeps 11 significant bits down to 2^-14 and a step of 2^-24 below it;
 * past 65504 it is infinite. */
inline float round_to_half(float v) {
  int e;
  frexp(v, &e);
  const int step = max(e - 11, -24);
  const float r = ldexp(rint(ldexp(v, -step)), step);
  return fabs(r) > 65504.0f ? copysign(INFINITY, v) : r;
}

#if X_INT
#define X_PTR __global const int *
#define LOAD_X(p, i) ((p)[i])
#else
#define X_PTR __global const store_t *
#define LOAD_X(p, i) LOAD(p, i)
#endif

__kernel void cast(X_PTR x,
#if Y_INT
                   __global int *y,
#else
                   __global store_t *y,
#endif
                   int n) {
  const int i = get_global_id(0);
  if (i >= n) return;
#if defined(TO_BOOL)
  y[i] = LOAD_X(x, i) != 0;
#elif Y_INT
  y[i] = (int)LOAD_X(x, i);  /* a C cast of a float truncates toward zero */
#elif defined(TO_HALF)
  STORE(y, i, round_to_half(LOAD_X(x, i)));
#else
  STORE(y, i, (float)LOAD_X(x, i));
#endif
}
