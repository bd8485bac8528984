/* QuantizeLinear / DequantizeLinear, per tensor (channels = 1) or per slice of an axis: element i belongs to
 * channel (i / inner) % channels. table = [scale of each channel as fp32 bits, zero point of each channel].
 * Quantized values are held as floats in the storage type (exact for 8-bit types in fp16). */
#ifdef KERNEL_quantize_linear
__kernel void quantize_linear(__global const store_t *x, __global store_t *q, __global const int *table,
                              int channels, int inner, int n) {
  const int i = get_global_id(0);
  if (i >= n) return;
  const int c = channels > 1 ? (i / inner) % channels : 0;
  const float v = rint(LOAD(x, i) / as_float(table[c])) + (float)table[channels + c];  /* rint: half to even */
  STORE(q, i, isnan(v) ? QMIN : clamp(v, QMIN, QMAX)); /* NaN: the lowest value, as onnxruntime gives */
}
#endif

#ifdef KERNEL_dequantize_linear
__kernel void dequantize_linear(__global const store_t *q, __global store_t *y, __global const int *table,
                                int channels, int inner, int n) {
  const int i = get_global_id(0);
  if (i >= n) return;
  const int c = channels > 1 ? (i / inner) % channels : 0;
  STORE(y, i, (LOAD(q, i) - (float)table[channels + c]) * as_float(table[c]));
}
#endif
