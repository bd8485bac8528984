/* Reduce contiguous float rows on CPUs (PoCL), host code in ops/reduce.py: y[r] = the sum (-DRED_SUM) or mean
 * (-DRED_MEAN) of x[r * k .. r * k + k), one work-item a work-group reducing `per` consecutive rows with 8-wide
 * vector loads (kernels/conv_cpu.cl says why one work-item a group). Accumulation is in float whatever the
 * storage type. */
#define RINIT 0.0f
#define RACC(a, v) ((a) + (v))
#ifdef FP16_STORAGE
#define RLOAD8(p) load_half8(p)
#else
#define RLOAD8(p) vload8(0, (p))
#endif

#ifdef KERNEL_reduce_rows_cpu
__kernel void reduce_rows_cpu(__global const store_t *x, __global store_t *y, int k, int rows, int per) {
  for (int r = get_global_id(0) * per; r < min(rows, (int)(get_global_id(0) + 1) * per); ++r) {
    __global const store_t *xr = x + (size_t)r * k;
    float8 acc = (float8)(RINIT);
    int i = 0;
    for (; i + 8 <= k; i += 8) acc = RACC(acc, RLOAD8(xr + i));
    float a = RACC(RACC(RACC(acc.s0, acc.s1), RACC(acc.s2, acc.s3)), RACC(RACC(acc.s4, acc.s5), RACC(acc.s6, acc.s7)));
    for (; i < k; ++i) a = RACC(a, LOAD(xr, i));
#if defined(RED_MEAN)
    a /= (float)k;
#endif
    STORE(y, r, a);
  }
}
#endif
