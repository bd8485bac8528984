/* Values made on the device: Shape's dims (copied from a constant table) and the arithmetic sequence
 * first + i * delta of ConstantOfShape (delta 0) and Range. INT_ELEMS: an integer tensor (int32 on the device). */
#ifdef KERNEL_copy_ints
__kernel void copy_ints(__global const int *src, __global int *y, int n) {
  const int i = get_global_id(0);
  if (i < n) y[i] = src[i];
}
#endif

#ifdef KERNEL_arithmetic_sequence
#ifdef INT_ELEMS
__kernel void arithmetic_sequence(__global int *y, int first, int delta, int n) {
  const int i = get_global_id(0);
  if (i < n) y[i] = first + i * delta;
}
#else
__kernel void arithmetic_sequence(__global store_t *y, float first, float delta, int n) {
  const int i = get_global_id(0);
  if (i < n) STORE(y, i, first + (float)i * delta);
}
#endif
#endif
