#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>

#include "lucent/io/image_io.h"
#include "support/test_support.h"

namespace lucent::io {
namespace {

// DRIVE's masks are GIF: binary 0/255, one grey channel, 565x584.
TEST(Gif, DriveMaskReadsAsBinaryGrey) {
  LUCENT_REQUIRE_DATA("drive/training/mask/21_training_mask.gif");
  auto img = read_image(test::data_dir() / "drive/training/mask/21_training_mask.gif");
  ASSERT_TRUE(img) << img.error().to_string();
  EXPECT_EQ(img->meta.format, "GIF");
  EXPECT_EQ(img->data.sizes(), (std::vector<int64_t>{1, 584, 565}));
  auto values = std::get<0>(at::_unique(img->data));
  EXPECT_EQ(values.numel(), 2);
  EXPECT_EQ(values.max().item<int>(), 255);
  // Field of view: a large disc, most of the image.
  const double fov = (img->data > 0).to(at::kFloat).mean().item<double>();
  EXPECT_GT(fov, 0.5);
  EXPECT_LT(fov, 0.9);
}

TEST(Gif, TruncatedGifIsInvalidDataNamingTheFile) {
  LUCENT_REQUIRE_DATA("drive/training/1st_manual/21_manual1.gif");
  test::TempDir dir;
  std::ifstream in(test::data_dir() / "drive/training/1st_manual/21_manual1.gif", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  std::ofstream(dir / "cut.gif", std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 3));
  auto img = read_image(dir / "cut.gif");
  ASSERT_FALSE(img);
  EXPECT_EQ(img.error().code(), ErrorCode::kInvalidData);
  EXPECT_NE(img.error().message().find("cut.gif"), std::string::npos);
}

}  // namespace
}  // namespace lucent::io
