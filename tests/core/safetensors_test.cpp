#include "lucent/core/safetensors.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "lucent/core/atomic_file.h"
#include "lucent/core/hash.h"
#include "support/test_support.h"

namespace lucent {
namespace {

TEST(Safetensors, RoundTripsDtypesShapesAndMetadata) {
  test::TempDir dir;
  auto f = at::randn({3, 4});
  auto l = at::arange(10, at::kLong).reshape({2, 5});
  auto u = at::randint(0, 255, {7}, at::kByte);
  auto empty = at::zeros({0, 3});
  ASSERT_TRUE(write_safetensors(dir / "w.safetensors", {{"f", f}, {"l", l}, {"u", u}, {"e", empty}}, {{"arch", "x"}}));
  auto r = read_safetensors(dir / "w.safetensors");
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_TRUE(at::equal(r->tensors.at("f"), f));
  EXPECT_TRUE(at::equal(r->tensors.at("l"), l));
  EXPECT_TRUE(at::equal(r->tensors.at("u"), u));
  EXPECT_EQ(r->tensors.at("e").sizes(), empty.sizes());
  EXPECT_EQ(r->metadata.at("arch"), "x");
}

// The layout of the format: 8-byte length, JSON header, data (checked byte for byte).
TEST(Safetensors, WritesTheDocumentedLayout) {
  test::TempDir dir;
  ASSERT_TRUE(write_safetensors(dir / "a.safetensors", {{"x", at::tensor({1.0f, 2.0f})}}));
  auto bytes = *read_file(dir / "a.safetensors");
  const uint64_t n = static_cast<unsigned char>(bytes[0]) | (static_cast<unsigned char>(bytes[1]) << 8);
  EXPECT_EQ((8 + n) % 8, 0u);
  EXPECT_NE(bytes.substr(8, n).find(R"("x":{"data_offsets":[0,8],"dtype":"F32","shape":[2]})"), std::string::npos);
  float v[2];
  std::memcpy(v, bytes.data() + 8 + n, 8);
  EXPECT_EQ(v[0], 1.0f);
  EXPECT_EQ(v[1], 2.0f);
}

TEST(Safetensors, RejectsTruncatedAndLyingFiles) {
  test::TempDir dir;
  ASSERT_TRUE(write_safetensors(dir / "a.safetensors", {{"x", at::ones({64})}}));
  auto bytes = *read_file(dir / "a.safetensors");
  ASSERT_TRUE(write_file_atomically(dir / "t.safetensors", bytes.substr(0, bytes.size() - 10)));
  auto r = read_safetensors(dir / "t.safetensors");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidData);
  EXPECT_NE(r.error().message().find("t.safetensors"), std::string::npos);
  ASSERT_TRUE(write_file_atomically(dir / "h.safetensors", std::string("\xff\xff\xff\xff\0\0\0\0", 8)));
  EXPECT_EQ(read_safetensors(dir / "h.safetensors").error().code(), ErrorCode::kInvalidData);
}

TEST(Sha256, MatchesKnownVector) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace lucent
