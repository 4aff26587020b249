// Tests of the torch-free bitsandbytes 4-bit quantization (rlvr/quant/quant.h): the code tables,
// rounding to a code as the CUDA kernels do it (midpoints, ties, NaN from an all-zero block), the
// nibble order, the padded last block, outliers, double quantization of the absmax vector, and
// error bounds on random matrices whose sizes are not multiples of 64.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "rlvr/core/error.h"
#include "rlvr/quant/quant.h"

using namespace rlvr::quant;

namespace {

float up(float x) { return std::nextafter(x, std::numeric_limits<float>::infinity()); }
float down(float x) { return std::nextafter(x, -std::numeric_limits<float>::infinity()); }

uint8_t nibble(const Quant4bit& q, size_t i) {
  return i % 2 == 0 ? q.packed[i / 2] >> 4 : q.packed[i / 2] & 0x0F;
}

template <size_t N>
float half_largest_gap(const std::array<float, N>& sorted) {
  float gap = 0.0f;
  for (size_t i = 0; i + 1 < N; ++i) gap = std::max(gap, sorted[i + 1] - sorted[i]);
  return gap / 2.0f;
}

std::array<float, 16> sorted_table(QuantType type) {
  std::array<float, 16> t = code_table(type);
  std::sort(t.begin(), t.end());
  return t;
}

// Normal values rounded to bf16 (round to nearest even), as a bf16 checkpoint holds them.
std::vector<float> bf16_normal(size_t n, float stddev, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, stddev);
  std::vector<float> w(n);
  for (float& x : w) {
    const float f = dist(gen);
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    bits += 0x7FFF + ((bits >> 16) & 1);
    x = bf16_to_float(static_cast<uint16_t>(bits >> 16));
  }
  return w;
}

std::vector<float> dequantized(const Quant4bit& q) {
  std::vector<float> out(q.n);
  dequantize_4bit(q, out.data());
  return out;
}

}  // namespace

TEST(Quant, CodeTablesAreBitsandbytes) {
  const auto& nf4 = code_table(QuantType::nf4);
  EXPECT_EQ(nf4[0], -1.0f);
  EXPECT_EQ(nf4[7], 0.0f);
  EXPECT_EQ(nf4[15], 1.0f);
  for (int i = 0; i < 15; ++i) EXPECT_LT(nf4[i], nf4[i + 1]);
  // The FP4 magnitudes as the kernels' fp4_dequantization_lut writes them.
  const float lut[8] = {0.0f, 0.005208333333f, 0.66666667f, 1.0f, 0.33333333f, 0.5f, 0.16666667f, 0.25f};
  const auto& fp4 = code_table(QuantType::fp4);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(fp4[i], lut[i]) << i;
    EXPECT_EQ(fp4[i + 8], -lut[i]) << i;
  }
  EXPECT_TRUE(std::signbit(fp4[8]));
  EXPECT_EQ(parse_quant_type("nf4"), QuantType::nf4);
  EXPECT_EQ(parse_quant_type("fp4"), QuantType::fp4);
  EXPECT_STREQ(quant_type_name(QuantType::fp4), "fp4");
  EXPECT_THROW(parse_quant_type("int4"), rlvr::Error);
}

TEST(Quant, Nf4ThresholdsAreTheMidpointsWithinOneUlp) {
  const auto& c = code_table(QuantType::nf4);
  const auto& t = nf4_thresholds();
  for (int k = 0; k < 15; ++k) {
    EXPECT_LT(c[k], t[k]);
    EXPECT_LT(t[k], c[k + 1]);
    const double mid = (static_cast<double>(c[k]) + c[k + 1]) / 2.0;
    EXPECT_LE(std::fabs(t[k] - mid), std::fabs(up(t[k]) - t[k])) << k;
  }
}

TEST(Quant, Bf16ToFloat) {
  EXPECT_EQ(bf16_to_float(0x3F80), 1.0f);
  EXPECT_EQ(bf16_to_float(0xC000), -2.0f);
  EXPECT_EQ(bf16_to_float(0x3E20), 0.15625f);
  EXPECT_TRUE(std::isinf(bf16_to_float(0x7F80)));
}

// absmax 2 (a power of two): scaling is exact, so every code value maps to itself.
TEST(Quant, ValuesOnCodePointsRoundTripExactlyFirstElementInTheHighNibble) {
  for (QuantType type : {QuantType::nf4, QuantType::fp4}) {
    std::vector<float> w(128);
    for (size_t i = 0; i < w.size(); ++i) w[i] = 2.0f * code_table(type)[i % 16];
    const Quant4bit q = quantize_4bit(w.data(), w.size(), type);
    ASSERT_EQ(q.packed.size(), 64u);
    ASSERT_EQ(q.absmax, (std::vector<float>{2.0f, 2.0f}));
    EXPECT_EQ(dequantized(q), w) << quant_type_name(type);
  }
  std::vector<float> w(64);
  for (size_t i = 0; i < w.size(); ++i) w[i] = code_table(QuantType::nf4)[i % 16];
  const Quant4bit q = quantize_4bit(w.data(), w.size());
  EXPECT_EQ(q.packed[0], 0x01);
  EXPECT_EQ(q.packed[1], 0x23);
  EXPECT_EQ(q.packed[7], 0xEF);
  const float pair[2] = {1.0f, -1.0f};  // one value alone: its code in the high nibble
  EXPECT_EQ(quantize_4bit(pair, 2).packed, (std::vector<uint8_t>{0xF0}));
  EXPECT_EQ(quantize_4bit(pair, 1).packed, (std::vector<uint8_t>{0xF7}));
}

TEST(Quant, Nf4MidpointsTakeTheLowerCodeAsInTheKernel) {
  const auto& t = nf4_thresholds();
  for (uint8_t k = 0; k < 15; ++k) {
    EXPECT_EQ(encode_4bit(t[k], QuantType::nf4), k);
    EXPECT_EQ(encode_4bit(up(t[k]), QuantType::nf4), k + 1);
  }
  // Hand-worked, absmax 1: the nearest code value.
  EXPECT_EQ(encode_4bit(0.5f, QuantType::nf4), 12);    // 0.4407 is nearer than 0.5626
  EXPECT_EQ(encode_4bit(-0.9f, QuantType::nf4), 0);    // below -0.8481
  EXPECT_EQ(encode_4bit(0.04f, QuantType::nf4), 8);    // just above 0.0398
  EXPECT_EQ(encode_4bit(0.03f, QuantType::nf4), 7);
  EXPECT_EQ(encode_4bit(-0.05f, QuantType::nf4), 6);   // below -0.0455
  EXPECT_EQ(encode_4bit(std::nanf(""), QuantType::nf4), 0);
  // In a block: absmax 1 from w[0]; each threshold and the float above it.
  std::vector<float> w(64, 0.0f);
  w[0] = 1.0f;
  for (int k = 0; k < 15; ++k) {
    w[1 + 2 * k] = t[k];
    w[2 + 2 * k] = up(t[k]);
  }
  const Quant4bit q = quantize_4bit(w.data(), w.size());
  EXPECT_EQ(nibble(q, 0), 15);
  for (int k = 0; k < 15; ++k) {
    EXPECT_EQ(nibble(q, 1 + 2 * k), k);
    EXPECT_EQ(nibble(q, 2 + 2 * k), k + 1);
  }
  EXPECT_EQ(nibble(q, 63), 7);  // zero
}

TEST(Quant, Fp4RoundsAsTheKernelDecisionTree) {
  auto fp4 = [](float x) { return encode_4bit(x, QuantType::fp4); };
  EXPECT_EQ(fp4(0.583333f), 0b0101);      // on the kernel's threshold: 0.5
  EXPECT_EQ(fp4(up(0.583333f)), 0b0010);  // above it: 8/12
  EXPECT_EQ(fp4(1.0f), 0b0011);
  EXPECT_EQ(fp4(-1.0f), 0b1011);
  EXPECT_EQ(fp4(-0.25f), 0b1111);
  EXPECT_EQ(fp4(0.1f), 0b0110);           // 2/12 is nearer than 0.0052
  EXPECT_EQ(fp4(0.00260417f), 0b0000);
  EXPECT_EQ(fp4(-0.001f), 0b1000);        // negative: sign bit, magnitude 0
  EXPECT_EQ(fp4(-0.0f), 0b0000);          // -0 is not < 0
  EXPECT_EQ(fp4(std::nanf("")), 0b0000);
}

// An all-zero block: absmax 0, scale 1/0 = inf, 0 * inf = NaN, which the decision trees send to
// code 0 (NF4 -1, FP4 +0); the dequantized values are code * 0 = 0.
TEST(Quant, AllZeroBlock) {
  for (QuantType type : {QuantType::nf4, QuantType::fp4}) {
    std::vector<float> w = bf16_normal(128, 0.02f, 1);
    std::fill(w.begin(), w.begin() + 64, 0.0f);
    const Quant4bit q = quantize_4bit(w.data(), w.size(), type);
    EXPECT_EQ(q.absmax[0], 0.0f);
    for (int j = 0; j < 32; ++j) EXPECT_EQ(q.packed[j], 0x00) << j;
    const std::vector<float> d = dequantized(q);
    for (int i = 0; i < 64; ++i) EXPECT_EQ(d[i], 0.0f);
    EXPECT_GT(q.absmax[1], 0.0f);
  }
}

TEST(Quant, PaddedLastBlock) {
  std::vector<float> w = bf16_normal(69, 0.05f, 2);
  w[66] = -0.5f;  // the tail's absmax
  const Quant4bit q = quantize_4bit(w.data(), w.size());
  ASSERT_EQ(q.absmax.size(), 2u);
  ASSERT_EQ(q.packed.size(), 35u);
  EXPECT_EQ(q.absmax[1], 0.5f);
  EXPECT_EQ(nibble(q, 66), 0);        // -absmax: code -1
  EXPECT_EQ(q.packed[34] & 0x0F, 7);  // the pad nibble: the code of 0
  const std::vector<float> d = dequantized(q);
  EXPECT_EQ(d[66], -0.5f);
  const Quant4bit even = quantize_4bit(w.data(), 68);
  EXPECT_EQ(even.packed.size(), 34u);
  EXPECT_EQ(even.absmax[1], 0.5f);
  // A zero tail: absmax 0, and the pad nibble is the NaN code 0 as well.
  std::vector<float> z(65, 0.0f);
  z[0] = 1.0f;
  EXPECT_EQ(quantize_4bit(z.data(), z.size()).packed.back(), 0x00);
}

TEST(Quant, OutlierOwnsOnlyItsBlock) {
  std::vector<float> w = bf16_normal(192, 0.02f, 3);
  w[5] = 100.0f;
  const Quant4bit q = quantize_4bit(w.data(), w.size());
  EXPECT_EQ(q.absmax[0], 100.0f);
  const std::vector<float> d = dequantized(q);
  EXPECT_EQ(d[5], 100.0f);
  for (int i = 0; i < 64; ++i)
    if (i != 5) EXPECT_EQ(d[i], 0.0f) << i;  // |x| / 100 is far below the first threshold
  const float bound = half_largest_gap(sorted_table(QuantType::nf4));
  for (int i = 64; i < 192; ++i) EXPECT_LE(std::fabs(d[i] - w[i]), q.absmax[i / 64] * bound);
}

TEST(Quant, RandomMatricesWithinTheBlockBoundAndNearestCode) {
  const size_t shapes[][2] = {{3, 70}, {17, 33}, {7, 129}, {1, 1}, {5, 1001}};
  unsigned seed = 10;
  for (QuantType type : {QuantType::nf4, QuantType::fp4}) {
    const std::array<float, 16> sorted = sorted_table(type);
    const float bound = half_largest_gap(sorted);
    for (const auto& s : shapes) {
      const size_t n = s[0] * s[1];
      const std::vector<float> w = bf16_normal(n, 0.03f, seed++);
      const Quant4bit q = quantize_4bit(w.data(), n, type);
      ASSERT_EQ(q.absmax.size(), (n + 63) / 64);
      const std::vector<float> d = dequantized(q);
      for (size_t i = 0; i < n; ++i) {
        const float a = q.absmax[i / 64];
        ASSERT_LE(std::fabs(d[i] - w[i]), a * bound * (1 + 1e-6f)) << i;
        const float x = w[i] * (1.0f / a), got = code_table(type)[nibble(q, i)];
        for (float c : sorted) ASSERT_LE(std::fabs(x - got), std::fabs(x - c) + 1e-6f) << i;
      }
    }
  }
}

TEST(Quant, DynamicMapIsTheSignedBitsandbytesMap) {
  const auto& m = dynamic_map();
  for (int i = 0; i < 255; ++i) ASSERT_LT(m[i], m[i + 1]) << i;
  EXPECT_EQ(m[0], -0.99296875f);  // -(1 - 0.9 / 128)
  EXPECT_EQ(m[127], 0.0f);
  EXPECT_EQ(m[128], 1e-6f * 0.55f);
  EXPECT_EQ(m[254], 0.99296875f);
  EXPECT_EQ(m[255], 1.0f);
  for (int i = 0; i < 256; ++i) ASSERT_EQ(encode_8bit(m[i], m), i) << i;
  // A value on a midpoint takes the search's last pivot (an even index), past it the neighbour.
  const float below = (m[199] + m[200]) * 0.5f, above = (m[200] + m[201]) * 0.5f;
  EXPECT_EQ(encode_8bit(below, m), 200);
  EXPECT_EQ(encode_8bit(down(below), m), 199);
  EXPECT_EQ(encode_8bit(above, m), 200);
  EXPECT_EQ(encode_8bit(up(above), m), 201);
  EXPECT_EQ(encode_8bit(std::nanf(""), m), 0);
  EXPECT_EQ(encode_8bit(2.0f, m), 255);
}

TEST(Quant, NestedAbsmaxReconstructionBound) {
  // 600 blocks of 64: three nested blocks of 256, the last one partial.
  const std::vector<float> w = bf16_normal(600 * 64 - 17, 0.02f, 4);
  const Quant4bit q = quantize_4bit(w.data(), w.size());
  const NestedAbsmax nested = double_quantize(q.absmax);
  ASSERT_EQ(nested.q.codes.size(), 600u);
  ASSERT_EQ(nested.q.absmax.size(), 3u);
  double mean = 0.0;
  for (float a : q.absmax) mean += a;
  EXPECT_EQ(nested.offset, static_cast<float>(mean / 600));
  const std::vector<float> rec = dequantize_nested(nested);
  const float gap = half_largest_gap(dynamic_map());
  for (size_t i = 0; i < rec.size(); ++i) {
    const float tol = nested.q.absmax[i / 256] * gap + 2 * std::numeric_limits<float>::epsilon() * q.absmax[i];
    ASSERT_LE(std::fabs(rec[i] - q.absmax[i]), tol) << i;
  }
  // Dequantizing with the reconstructed absmax stays near the weights.
  std::vector<float> d(q.n);
  dequantize_4bit(q, rec, d.data());
  const float bound = half_largest_gap(sorted_table(QuantType::nf4));
  for (size_t i = 0; i < q.n; ++i)
    ASSERT_LE(std::fabs(d[i] - w[i]), q.absmax[i / 64] * bound + 1.01f * std::fabs(rec[i / 64] - q.absmax[i / 64]));
}

TEST(Quant, NestedEqualAbsmaxIsExact) {
  const std::vector<float> absmax(300, 0.0375f);
  const NestedAbsmax nested = double_quantize(absmax);
  EXPECT_EQ(nested.offset, 0.0375f);
  EXPECT_EQ(nested.q.absmax, (std::vector<float>{0.0f, 0.0f}));
  for (uint8_t c : nested.q.codes) EXPECT_EQ(c, 0);  // 0 * inf = NaN walks down to code 0
  EXPECT_EQ(dequantize_nested(nested), absmax);
}

TEST(Quant, BadInputIsOneClearError) {
  const std::vector<float> w(64, 1.0f);
  EXPECT_THROW(quantize_4bit(w.data(), w.size(), QuantType::nf4, 48), rlvr::Error);
  EXPECT_THROW(quantize_blockwise_8bit(w.data(), w.size(), 8192), rlvr::Error);
  std::vector<float> bad = w;
  bad[9] = std::numeric_limits<float>::infinity();
  try {
    quantize_4bit(bad.data(), bad.size());
    FAIL() << "no error";
  } catch (const rlvr::Error& e) {
    EXPECT_NE(std::string(e.what()).find("value 9"), std::string::npos) << e.what();
  }
  Quant4bit q = quantize_4bit(w.data(), w.size());
  std::vector<float> out(64);
  EXPECT_THROW(dequantize_4bit(q, std::vector<float>{1.0f, 1.0f}, out.data()), rlvr::Error);
}
