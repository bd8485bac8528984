/* DepthToSpace / SpaceToDepth, NCHW: output element (n·C_out + c, y, x) gathers one input element.
 * ORDER 0: DepthToSpace DCR (channel (i·BS + j)·C_out + c), 1: DepthToSpace CRD (channel c·BS² + i·BS + j),
 * 2: SpaceToDepth DCR (output channel (i·BS + j)·C_in + c reads pixel (y·BS + i, x·BS + j) of channel c),
 * 3: SpaceToDepth CRD (output channel c·BS² + i·BS + j). */
__kernel void depth_to_space(__global const store_t *in, __global store_t *out, int c_in, int h_in, int w_in,
                             int c_out, int h_out, int w_out, int nc_out) {
  const int x = get_global_id(0), y = get_global_id(1), nc = get_global_id(2);
  if (x >= w_out || y >= h_out || nc >= nc_out) return;  /* the global size may be rounded up */
  const int n = nc / c_out, c = nc % c_out;
#if ORDER >= 2
#if ORDER == 2
  const int block = c / c_in, src_c = c % c_in;
#else
  const int block = c % (BS * BS), src_c = c / (BS * BS);
#endif
  const int src_y = y * BS + block / BS, src_x = x * BS + block % BS;
#else
  const int i = y % BS, j = x % BS, src_y = y / BS, src_x = x / BS;
#if ORDER == 0
  const int src_c = (i * BS + j) * c_out + c;
#else
  const int src_c = c * BS * BS + i * BS + j;
#endif
#endif
  STORE(out, (nc * h_out + y) * w_out + x, LOAD(in, ((n * c_in + src_c) * h_in + src_y) * w_in + src_x));
}

/* CPUs, DepthToSpace only: a work-item an output row (y, n·C_out + c), interleaving the BS source rows of its
 * patch row i = y % BS element by element (no division per element; the values move as raw words). */
#ifdef KERNEL_depth_to_space_rows
__kernel void depth_to_space_rows(__global const elem_t *in, __global elem_t *out, int c_in, int h_in, int w_in,
                                  int c_out, int h_out, int w_out, int nc_out) {
  const int y = get_global_id(0), nc = get_global_id(1);
  if (y >= h_out || nc >= nc_out) return;
  const int n = nc / c_out, c = nc % c_out, i = y % BS;
  __global elem_t *dst = out + ((size_t)nc * h_out + y) * w_out;
  for (int j = 0; j < BS; ++j) {
#if ORDER == 0
    const int src_c = (i * BS + j) * c_out + c;
#else
    const int src_c = c * BS * BS + i * BS + j;
#endif
    __global const elem_t *src = in + (((size_t)n * c_in + src_c) * h_in + y / BS) * w_in;
    for (int x = 0; x < w_in; ++x) dst[x * BS + j] = src[x];
  }
}
#endif
