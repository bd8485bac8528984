/* Reduce K of an (outer, K, inner) view: y[o * inner + i] = the reduction -DRED_<name> selects over
 * x[(o * K + k) * inner + i] (pymace/ops/reduce.py). `rows` = outer * inner outputs. Accumulation is in float
 * whatever the storage type. ACC takes in one element, MERGE combines two partial results (the work-group tree),
 * FINISH turns the accumulator of k elements into the output. NaN propagates as in ONNX: a maximum or minimum
 * with a NaN is NaN (comparisons the NaN falls through, not fmax/fmin). X_INT / Y_INT: the input / output is an
 * integer tensor, an int32 buffer (docs/ir.md); its values are accumulated as floats (exact below 2^24) and the
 * result truncated toward zero, as NumPy's cast of ReduceMean's float result is. */
#if X_INT
#define X_PTR __global const int *
#define LOAD_X(p, i) ((float)(p)[i])
#else
#define X_PTR __global const store_t *
#define LOAD_X(p, i) LOAD(p, i)
#endif
#if Y_INT
#define Y_PTR __global int *
#define STORE_Y(p, i, v) ((p)[i] = (int)(v))
#else
#define Y_PTR __global store_t *
#define STORE_Y(p, i, v) STORE(p, i, v)
#endif
#define MAX_NAN(a, b) ((a) > (b) || (a) != (a) ? (a) : (b))
#define MIN_NAN(a, b) ((a) < (b) || (a) != (a) ? (a) : (b))

#if defined(RED_MAX)
#define INIT (-INFINITY)
#define ACC(a, v) MAX_NAN(a, v)
#define MERGE(a, b) MAX_NAN(a, b)
#define FINISH(a, k) (a)
#elif defined(RED_MIN)
#define INIT INFINITY
#define ACC(a, v) MIN_NAN(a, v)
#define MERGE(a, b) MIN_NAN(a, b)
#define FINISH(a, k) (a)
#elif defined(RED_PROD)
#define INIT 1.0f
#define ACC(a, v) ((a) * (v))
#define MERGE(a, b) ((a) * (b))
#define FINISH(a, k) (a)
#elif defined(RED_LOGSUMEXP)  /* serial only: a running maximum m and sum s of exp(x - m) */
#else  /* the sums: mean, sum, l1, l2, sumsquare, logsum */
#define INIT 0.0f
#if defined(RED_L1)
#define ACC(a, v) ((a) + fabs(v))
#elif defined(RED_L2) || defined(RED_SUMSQUARE)
#define ACC(a, v) ((a) + (v) * (v))
#else
#define ACC(a, v) ((a) + (v))
#endif
#define MERGE(a, b) ((a) + (b))
#if defined(RED_MEAN)
#define FINISH(a, k) ((a) / (float)(k))
#elif defined(RED_L2)
#define FINISH(a, k) sqrt(a)
#elif defined(RED_LOGSUM)
#define FINISH(a, k) log(a)
#else
#define FINISH(a, k) (a)
#endif
#endif

/* One work-item per output row, reading K values `inner` apart (neighbouring work-items read neighbours). */
#ifdef KERNEL_reduce_serial
__kernel void reduce_serial(X_PTR x, Y_PTR y, int k, int inner, int rows) {
  const int r = get_global_id(0);
  if (r >= rows) return;
  const int base = (r / inner) * k * inner + r % inner;
#if defined(RED_LOGSUMEXP)
  float m = -INFINITY, s = 0.0f;
  for (int j = 0; j < k; ++j) {
    const float v = LOAD_X(x, base + j * inner);
    if (v > m) {
      s = s * exp(m - v) + 1.0f;
      m = v;
    } else if (v == m) {
      s += 1.0f;  /* also for two infinities, whose difference is NaN */
    } else {
      s += exp(v - m);  /* v < m, or a NaN, which stays */
    }
  }
  STORE_Y(y, r, m + log(s));
#else
  float acc = INIT;
  for (int j = 0; j < k; ++j) acc = ACC(acc, LOAD_X(x, base + j * inner));
  STORE_Y(y, r, FINISH(acc, k));
#endif
}
#endif

#ifdef WG
/* One work-group of WG (a power of two) per output row: strided partial results, then a tree in local memory. */
#ifdef KERNEL_reduce_wg
__kernel void reduce_wg(X_PTR x, Y_PTR y, int k, int inner, int rows) {
  __local float part[WG];
  const int lid = get_local_id(0), r = get_global_id(1);
  const int base = (r / inner) * k * inner + r % inner;
  float acc = INIT;
  if (r < rows)
    for (int j = lid; j < k; j += WG) acc = ACC(acc, LOAD_X(x, base + j * inner));
  part[lid] = acc;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = WG / 2; s > 0; s >>= 1) {
    if (lid < s) part[lid] = MERGE(part[lid], part[lid + s]);
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (lid == 0 && r < rows) STORE_Y(y, r, FINISH(part[0], k));
}
#endif
#endif
