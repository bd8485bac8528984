/* QuantizeLinear / DequantizeLinear, per tensor (channels = 1) or per slice of an axis: element i belongs to
 * channel (i / inner) % channels. table = [scale of each channel as fp32 bits, zero point of each channel].
 * Quantized values are held in int32 buffers, as every integer tensor (docs/ir.md). */
#ifdef KERNEL_quantize_linear
__kernel void quantize_linear(__global const store_t *x, __global int *q, __global const int *table,
                              int channels, int inner, int n) {
  const int i = get_global_id(0);
  if (i >= n) return;
  const int c = channels > 1 ? (i / inner) % channels : 0;
  const float v = rint(LOAD(x, i) / as_float(table[c])) + (float)table[channels + c];  /* rint: half to even */
  q[i] = (int)clamp(v, QMIN, QMAX);
}
#endif

#ifdef KERNEL_dequantize_linear
__kernel void dequantize_linear(__global const int *q, __global store_t *y, __global const int *table,
                                int channels, int inner, int n) {
  const int i = get_global_id(0);
  if (i >= n) return;
  const int c = channels > 1 ? (i / inner) % channels : 0;
  STORE(y, i, (float)(q[i] - table[channels + c]) * as_float(table[c]));
}
#endif
