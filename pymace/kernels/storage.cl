/* The engine's own kernels (no op owns them): with fp16 storage, graph inputs arrive and outputs leave as fp32,
 * and the conversion runs on the device in one launch each rather than in NumPy on the host. */
#ifdef KERNEL_to_storage
__kernel void to_storage(__global const float *src, __global store_t *dst, int n) {
  const int i = get_global_id(0);
  if (i < n) STORE(dst, i, src[i]);
}
#endif

#ifdef KERNEL_to_float
__kernel void to_float(__global const store_t *src, __global float *dst, int n) {
  const int i = get_global_id(0);
  if (i < n) dst[i] = LOAD(src, i);
}
#endif
