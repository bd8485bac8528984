/* Copy one Split output out of the input. The input is viewed as [outer, in_block] and the output as
 * [outer, block]; the output's rows start `offset` elements into each input row. */
__kernel void split_copy(__global const store_t *in, __global store_t *out, int block, int in_block,
                         int offset, int n) {
  const int i = get_global_id(0);
  if (i >= n) return;
  const int row = i / block;
  STORE(out, i, LOAD(in, row * in_block + offset + (i - row * block)));
}
