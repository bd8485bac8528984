/* MediaPipe's landmark custom ops (version 2), as ops/landmarks.py describes them. A transform matrix is a
 * row-major 4x4 [1, 4, 4] tensor; only its first two rows are read. NaN in, NaN out. */

#ifdef KERNEL_landmarks_to_transform_matrix
/* One work-item: the 4x4 matrix from landmarks [1, N, 3] and the flattened index pairs `subset` (count entries).
 * The crop is the box of the subset landmarks in a frame rotated by `rotation`, its centre turned back. */
__kernel void landmarks_to_transform_matrix(__global const store_t *landmarks, __global store_t *matrix,
                                            __global const int *subset, int count, int left, int right,
                                            float target_rotation, float out_w, float out_h, float scale_x,
                                            float scale_y) {
  if (get_global_id(0) != 0) return;
  const float lx = LOAD(landmarks, 3 * left), ly = LOAD(landmarks, 3 * left + 1);
  const float rx = LOAD(landmarks, 3 * right), ry = LOAD(landmarks, 3 * right + 1);
  const float rotation = target_rotation - atan2(ry - ly, rx - lx);
  const float c = cos(rotation), s = sin(rotation);
  float min_x = INFINITY, min_y = INFINITY, max_x = -INFINITY, max_y = -INFINITY, nan = 0.0f;
  for (int i = 0; i < count; ++i) {
    const float x = LOAD(landmarks, 3 * subset[i]), y = LOAD(landmarks, 3 * subset[i] + 1);
    const float u = c * x - s * y, v = s * x + c * y;
    nan += (isnan(u) || isnan(v)) ? NAN : 0.0f;
    min_x = fmin(min_x, u);
    max_x = fmax(max_x, u);
    min_y = fmin(min_y, v);
    max_y = fmax(max_y, v);
  }
  const float mid_u = 0.5f * (min_x + max_x), mid_v = 0.5f * (min_y + max_y);
  /* the centre in the landmarks' frame (rotated by -rotation), the crop's axes rotated by -rotation too */
  const float cx = c * mid_u + s * mid_v, cy = -s * mid_u + c * mid_v;
  const float kx = scale_x * (max_x - min_x) / out_w, ky = scale_y * (max_y - min_y) / out_h;
  const float m00 = c * kx, m01 = s * ky, m10 = -s * kx, m11 = c * ky;
  const float m[16] = {m00, m01, 0.0f, cx - 0.5f * (m00 * out_w + m01 * out_h),
                       m10, m11, 0.0f, cy - 0.5f * (m10 * out_w + m11 * out_h),
                       0.0f, 0.0f, 1.0f, 0.0f,
                       0.0f, 0.0f, 0.0f, 1.0f};
  for (int i = 0; i < 16; ++i) STORE(matrix, i, m[i] + nan + (isnan(rotation) ? NAN : 0.0f));
}
#endif

#ifdef KERNEL_transform_tensor_bilinear
/* out[c, y, x] samples in[c] bilinearly at (ax · (x, y, 0, 1), ay · (x, y, 0, 1)): the matrix's first two rows
 * with MediaPipe's half-pixel correction in their last column; a point outside [0, w-1] x [0, h-1] gives 0, a
 * corner outside the input reads 0. in [C, h, w] and out [C, oh, ow] (batch 1). */
__kernel void transform_tensor_bilinear(__global const store_t *in, __global const store_t *matrix,
                                        __global store_t *out, int h, int w, int oh, int ow, int channels) {
  const int x = get_global_id(0), y = get_global_id(1), ch = get_global_id(2);
  if (x >= ow || y >= oh || ch >= channels) return;
  const float a0 = LOAD(matrix, 0), a1 = LOAD(matrix, 1), a2 = LOAD(matrix, 2), a3 = LOAD(matrix, 3);
  const float b0 = LOAD(matrix, 4), b1 = LOAD(matrix, 5), b2 = LOAD(matrix, 6), b3 = LOAD(matrix, 7);
  const float ax3 = a3 + a0 * 0.5f + a1 * 0.5f - 0.5f, ay3 = b3 + b0 * 0.5f + b1 * 0.5f - 0.5f;
  const float tx = a0 * x + a1 * y + a2 * 0.0f + ax3, ty = b0 * x + b1 * y + b2 * 0.0f + ay3;
  float result = 0.0f;
  if (isnan(tx) || isnan(ty)) {
    result = NAN;
  } else if (tx >= 0.0f && tx <= w - 1 && ty >= 0.0f && ty <= h - 1) {
    const float fx = floor(tx), fy = floor(ty);
    const int x0 = (int)fx, y0 = (int)fy;
    __global const store_t *src = in + ch * h * w;
    const float q11 = LOAD(src, y0 * w + x0);
    const float q21 = x0 + 1 < w ? LOAD(src, y0 * w + x0 + 1) : 0.0f;
    const float q12 = y0 + 1 < h ? LOAD(src, (y0 + 1) * w + x0) : 0.0f;
    const float q22 = x0 + 1 < w && y0 + 1 < h ? LOAD(src, (y0 + 1) * w + x0 + 1) : 0.0f;
    const float right = tx - fx, lower = ty - fy;
    const float top = (1.0f - right) * q11 + right * q21, bottom = (1.0f - right) * q12 + right * q22;
    result = lower * bottom + (1.0f - lower) * top;
  }
  STORE(out, (ch * oh + y) * ow + x, result);
}
#endif

#ifdef KERNEL_transform_landmarks
/* Landmark i of n (dims 2 or 3 values each): (x, y) -> the matrix's first two rows applied to (x, y, 0, 1); z
 * is copied. */
__kernel void transform_landmarks(__global const store_t *landmarks, __global const store_t *matrix,
                                  __global store_t *out, int n, int dims) {
  const int i = get_global_id(0);
  if (i >= n) return;
  const float x = LOAD(landmarks, i * dims), y = LOAD(landmarks, i * dims + 1);
  STORE(out, i * dims, LOAD(matrix, 0) * x + LOAD(matrix, 1) * y + LOAD(matrix, 2) * 0.0f + LOAD(matrix, 3));
  STORE(out, i * dims + 1, LOAD(matrix, 4) * x + LOAD(matrix, 5) * y + LOAD(matrix, 6) * 0.0f + LOAD(matrix, 7));
  if (dims == 3) STORE(out, i * dims + 2, LOAD(landmarks, i * dims + 2));
}
#endif
