// Training-data access on the device: batches gathered from a dataset that lives in device
// memory, in the order of DataOrder (Sources/KallimaCore/DataOrder.swift): a keyed Feistel
// permutation per epoch with cycle walking, integer arithmetic only, identical on every
// backend.

inline uint order_mix(uint v) {
  v ^= v >> 16;
  v *= 0x7feb352du;
  v ^= v >> 15;
  v *= 0x846ca68bu;
  v ^= v >> 16;
  return v;
}

inline uint order_permute(uint p, uint epoch, uint seed, uint count, uint bits) {
  const uint mask = (1u << bits) - 1u;
  const uint key = order_mix(seed ^ order_mix(epoch + 0x9e3779b9u));
  uint x = p;
  do {
    uint left = x >> bits;
    uint right = x & mask;
    for (uint round = 0; round < 4u; ++round) {
      const uint f = order_mix(right ^ key ^ (round * 0x85ebca6bu)) & mask;
      const uint next = left ^ f;
      left = right;
      right = next;
    }
    x = (left << bits) | right;
  } while (x >= count);
  return x;
}

// One work-item per (sample, channel, row) of y [N, C, H, W]: copies row `row` of channel `ch`
// of image index(g) of source [count, C, H, W], mirrored when flip is on and the sample's
// flip bit is set. rows_per_image = C * H.
__kernel void gather_images(__global const float* source, __global float* y, const uint seed,
                            const int count, const int half_bits, const ulong position,
                            const int flip, const int rows_per_image, const int width,
                            const int total_rows) {
  const int t = get_global_id(0);
  if (t >= total_rows) return;
  const int i = t / rows_per_image;
  const int r = t % rows_per_image;
  const ulong g = position + (ulong)i;
  const uint k = order_permute((uint)(g % (ulong)count), (uint)(g / (ulong)count), (uint)seed,
                               (uint)count, (uint)half_bits);
  const int mirror = flip && (order_mix((uint)g ^ order_mix((uint)seed ^ 0x0f11f00du ^ (uint)(g >> 32))) & 1u);
  __global const float* src = source + ((long)k * rows_per_image + r) * width;
  __global float* dst = y + (long)t * width;
  for (int x = 0; x < width; ++x) dst[x] = src[mirror ? width - 1 - x : x];
}
