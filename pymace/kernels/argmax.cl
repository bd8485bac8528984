/* The index of the maximum (ARG_MIN: minimum) along K of an (outer, K, inner) view: one work-item per output
 * (outer * inner = rows), the first match or with LAST the last one. A NaN counts as the extreme, as NumPy's argmax
 * and argmin have it (the first NaN, or with LAST the last). X_INT: the input is an int32 buffer (docs/ir.md).
 * The indices are written to an int32 buffer. */
#if X_INT
#define X_PTR __global const int *
#define LOAD_X(p, i) ((float)(p)[i])
#else
#define X_PTR __global const store_t *
#define LOAD_X(p, i) LOAD(p, i)
#endif
#if ARG_MIN
#define BETTER(v, best) ((v) < (best))
#else
#define BETTER(v, best) ((v) > (best))
#endif

__kernel void argmax(X_PTR x, __global int *y, int k, int inner, int rows) {
  const int r = get_global_id(0);
  if (r >= rows) return;
  const int base = (r / inner) * k * inner + r % inner;
  float best = LOAD_X(x, base);
  int at = 0;
  for (int j = 1; j < k; ++j) {
    const float v = LOAD_X(x, base + j * inner);
#if LAST
    const bool take = isnan(best) ? isnan(v) : (isnan(v) || BETTER(v, best) || v == best);
#else
    const bool take = !isnan(best) && (isnan(v) || BETTER(v, best));
#endif
    if (take) {
      best = v;
      at = j;
    }
  }
  y[r] = at;
}
