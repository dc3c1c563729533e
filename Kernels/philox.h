// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011), as
// Sources/KallimaCore/Philox.swift: block `counter` under `seed`, and the word-to-float maps.
// Integer arithmetic and exact float conversions only, so every backend draws the same bits.
#ifndef KALLIMA_PHILOX_H
#define KALLIMA_PHILOX_H

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

inline uint4 philox_block(ulong seed, ulong counter) {
  uint c0 = (uint)counter, c1 = (uint)(counter >> 32), c2 = 0u, c3 = 0u;
  uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    if (round > 0) { k0 += PHILOX_W0; k1 += PHILOX_W1; }
    const uint hi0 = mul_hi(PHILOX_M0, c0), lo0 = PHILOX_M0 * c0;
    const uint hi1 = mul_hi(PHILOX_M1, c2), lo1 = PHILOX_M1 * c2;
    const uint n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
  }
  return (uint4)(c0, c1, c2, c3);
}

inline uint word_of(uint4 b, int i) { return i == 0 ? b.x : (i == 1 ? b.y : (i == 2 ? b.z : b.w)); }
inline float unit_open(uint x) { return (float)(x >> 8) * 0x1p-24f; }
inline float unit_closed(uint x) { return (float)((x >> 8) + 1u) * 0x1p-24f; }

#endif
