/* QuantizeLinear / DequantizeLinear, per tensor (channels = 1) or per slice of an axis: element i belongs to
 * channel (i / inner) % channels. table = [scale of each channel as fp32 bits, zero point of each channel].
 * The quantized tensor is an integer tensor, int32 on the device (docs/ir.md; -DINT_ELEMS), unless the graph
 * holds it as float (ConvInteger / MatMulInteger's operands). */
#ifdef INT_ELEMS
typedef int q_t;
#define QLOAD(p, i) ((float)(p)[(i)])
#define QSTORE(p, i, v) ((p)[(i)] = (int)(v))
#else
typedef store_t q_t;
#define QLOAD(p, i) LOAD(p, i)
#define QSTORE(p, i, v) STORE(p, i, v)
#endif

#ifdef KERNEL_quantize_linear
__kernel void quantize_linear(__global const store_t *x, __global q_t *q, __global const int *table,
                              int channels, int inner, int n) {
  const int i = get_global_id(0);
  if (i >= n) return;
  const int c = channels > 1 ? (i / inner) % channels : 0;
  const float v = rint(LOAD(x, i) / as_float(table[c])) + (float)table[channels + c];  /* rint: half to even */
  QSTORE(q, i, clamp(v, QMIN, QMAX));
}
#endif

#ifdef KERNEL_dequantize_linear
__kernel void dequantize_linear(__global const q_t *q, __global store_t *y, __global const int *table,
                                int channels, int inner, int n) {
  const int i = get_global_id(0);
  if (i >= n) return;
  const int c = channels > 1 ? (i / inner) % channels : 0;
  STORE(y, i, (QLOAD(q, i) - (float)table[channels + c]) * as_float(table[c]));
}
#endif
