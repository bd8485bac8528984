/* Copy one Concat input into its slice of the output. The output is viewed as [outer, out_block] and the input
 * as [outer, block]; the input's rows start `offset` elements into each output row. */
__kernel void concat_copy(__global const store_t *in, __global store_t *out, int block, int out_block,
                          int offset, int n) {
  const int i = get_global_id(0);
  if (i >= n) return;
  const int row = i / block;
  STORE(out, row * out_block + offset + (i - row * block), LOAD(in, i));
}
