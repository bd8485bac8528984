/* TopK by ranking: work-item i takes element v of its row (the row runs along the axis: DIM elements INNER
 * apart), counts the elements that come before it in the output order (better values, and equal values at lower
 * indices), and if that rank is below K writes v and its index there. LARGEST: 1 largest first, 0 smallest. */
#ifdef INT_ELEMS
#define VALUE(p, i) ((p)[(i)])
#define PUT_VALUE(p, i, v) ((p)[(i)] = (v))
typedef int data_t;
typedef int value_t;
#else
#define VALUE(p, i) LOAD(p, i)
#define PUT_VALUE(p, i, v) STORE(p, i, v)
typedef store_t data_t;
typedef float value_t;
#endif

inline bool before(value_t a, int ia, value_t b, int ib) {
#if LARGEST
  return a > b || (a == b && ia < ib);
#else
  return a < b || (a == b && ia < ib);
#endif
}

__kernel void topk_rank(__global const data_t *x, __global data_t *values, __global int *indices, int n, int DIM,
                        int INNER, int K) {
  const int i = get_global_id(0);
  if (i >= n) return;
  const int r = i % INNER, j = (i / INNER) % DIM, outer = i / (INNER * DIM);
  const size_t row = (size_t)outer * DIM * INNER + r;
  const value_t v = VALUE(x, row + (size_t)j * INNER);
  int rank = 0;
  for (int t = 0; t < DIM && rank < K; ++t) rank += before(VALUE(x, row + (size_t)t * INNER), t, v, j);
  if (rank >= K) return;
  const size_t out = (size_t)outer * K * INNER + (size_t)rank * INNER + r;
  PUT_VALUE(values, out, v);
  indices[out] = j;
}
