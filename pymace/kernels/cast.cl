/* Cast on storage-type values (pymace/ops/cast.py): TO_INT truncates toward zero, TO_BOOL gives 0 / 1, TO_HALF
 * rounds to half precision, COPY copies. */

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

__kernel void cast(__global const store_t *x, __global store_t *y, int n) {
  const int i = get_global_id(0);
  if (i >= n) return;
  const float v = LOAD(x, i);
#if defined(TO_INT)
  STORE(y, i, trunc(v));
#elif defined(TO_BOOL)
  STORE(y, i, v != 0.0f ? 1.0f : 0.0f);
#elif defined(TO_HALF)
  STORE(y, i, round_to_half(v));
#else
  STORE(y, i, v);
#endif
}
