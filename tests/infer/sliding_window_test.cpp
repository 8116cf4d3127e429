#include "lucent/infer/sliding_window.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "lucent/nets/net.h"

namespace lucent::infer {
namespace {

// A fixed 1x1 convolution (channel mixing, no spatial extent): applying it window by window
// and blending must give exactly what applying it to the whole image gives.
struct Pointwise {
  at::Tensor w, b;
  explicit Pointwise(int64_t in, int64_t out) {
    torch::manual_seed(7);
    w = torch::randn({out, in});
    b = torch::randn({out});
  }
  at::Tensor operator()(const at::Tensor& x) const {
    std::vector<int64_t> shape(x.dim(), 1);
    shape[1] = -1;
    return torch::einsum("oc,bc...->bo...", {w, x}) + b.view(shape);
  }
  at::Tensor full(const at::Tensor& image, Activation a) const {
    at::Tensor y = (*this)(image.unsqueeze(0))[0];
    if (a == Activation::kSoftmax) return y.softmax(0);
    if (a == Activation::kSigmoid) return y.sigmoid();
    return y;
  }
};

double max_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

TEST(SlidingWindow, WindowStartsFollowNnUNet) {
  EXPECT_EQ(window_starts(100, 100, 0.5), (std::vector<int64_t>{0}));
  EXPECT_EQ(window_starts(30, 64, 0.5), (std::vector<int64_t>{0}));
  // (181 - 64) / 32 = 3.66 → 5 starts, step 29.25; 58.5 rounds half to even as numpy does
  EXPECT_EQ(window_starts(181, 64, 0.5), (std::vector<int64_t>{0, 29, 58, 88, 117}));
  EXPECT_EQ(window_starts(128, 64, 0.0), (std::vector<int64_t>{0, 64}));
  EXPECT_EQ(window_starts(129, 64, 0.0), (std::vector<int64_t>{0, 32, 65}));
}

TEST(SlidingWindow, GaussianWeightsAreNnUNetsNormalisedAndClamped) {
  const auto w = blending_weights({9, 16}, Blending::kGaussian, 0.125);
  EXPECT_EQ(w.sizes(), (std::vector<int64_t>{9, 16}));
  EXPECT_FLOAT_EQ(w[4][8].item<float>(), 1.0f);  // centre patch // 2, maximum 1
  // sigma 2 along X: exp(-d² / 8); radius round(4·2) = 8 covers the whole row.
  EXPECT_NEAR(w[4][9].item<float>(), std::exp(-1.0 / 8), 1e-6);
  EXPECT_NEAR(w[4][0].item<float>(), std::exp(-64.0 / 8), 1e-6);
  // Along Y sigma 1.125, radius 5: the rows at distance 4 are in, nothing is zero.
  EXPECT_NEAR(w[0][8].item<float>(), std::exp(-16.0 / (2 * 1.125 * 1.125)), 1e-6);
  EXPECT_GT(w.min().item<float>(), 0.0f);
  // Beyond the radius the value is the smallest non-zero one: patch 40, sigma 5, radius 20
  // reaches index 0 from centre 20; with sigma_scale 0.05 (sigma 2, radius 8) it does not.
  const auto narrow = blending_weights({40}, Blending::kGaussian, 0.05);
  EXPECT_FLOAT_EQ(narrow[0].item<float>(), narrow[12].item<float>());
  EXPECT_FLOAT_EQ(narrow[12].item<float>(), static_cast<float>(std::exp(-64.0 / 8)));
  EXPECT_TRUE(torch::equal(blending_weights({3, 4}, Blending::kConstant, 0.125), torch::ones({3, 4})));
}

TEST(SlidingWindow, PointwiseNetEqualsWholeImageIn2DAnd3DForBothBlendings) {
  const Pointwise net(2, 3);
  for (auto blending : {Blending::kGaussian, Blending::kConstant}) {
    for (auto activation : {Activation::kNone, Activation::kSoftmax, Activation::kSigmoid}) {
      const auto img2 = torch::randn({2, 37, 53});  // odd sizes, not multiples of the patch
      SlidingWindowOptions o{.patch_size = {16, 24}, .overlap = 0.5, .blending = blending, .activation = activation};
      auto r2 = sliding_window(net, img2, o);
      ASSERT_TRUE(r2) << r2.error().to_string();
      EXPECT_EQ(r2->output.sizes(), (std::vector<int64_t>{3, 37, 53}));
      EXPECT_LT(max_diff(r2->output, net.full(img2, activation)), 1e-5);

      const auto img3 = torch::randn({2, 19, 23, 17});
      o.patch_size = {8, 16, 8};
      o.overlap = 0.3;
      auto r3 = sliding_window(net, img3, o);
      ASSERT_TRUE(r3) << r3.error().to_string();
      EXPECT_LT(max_diff(r3->output, net.full(img3, activation)), 1e-5);
    }
  }
}

TEST(SlidingWindow, IdentityNetReturnsTheImage) {
  const auto img = torch::randn({1, 21, 18, 25});
  auto r = sliding_window([](const at::Tensor& x) { return x.clone(); }, img,
                          {.patch_size = {8, 8, 8}, .overlap = 0.6, .activation = Activation::kNone});
  ASSERT_TRUE(r);
  EXPECT_LT(max_diff(r->output, img), 1e-5);
  // step 3.2: 13 / 3.2 → 6 starts along Z, 10 / 3.2 → 5 along Y, 17 / 3.2 → 7 along X
  EXPECT_EQ(r->windows, 6 * 5 * 7);
}

TEST(SlidingWindow, BatchedTtaAndSlabPathsEqualTheSimplePath) {
  const Pointwise net(1, 2);
  const auto img = torch::randn({1, 30, 26, 22});
  const SlidingWindowOptions base{.patch_size = {8, 16, 16}, .overlap = 0.5, .slabs = false};
  auto plain = sliding_window(net, img, base);
  ASSERT_TRUE(plain);
  auto batched = base;
  batched.batch_size = 5;  // batches cross slab boundaries
  auto slab = base;
  slab.slabs = true;
  auto slab_batched = slab;
  slab_batched.batch_size = 3;
  auto tta = slab;
  tta.flip_tta = true;
  for (const auto& o : {batched, slab, slab_batched, tta}) {
    auto r = sliding_window(net, img, o);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_LT(max_diff(r->output, plain->output), 1e-6) << o.batch_size << " " << o.slabs << " " << o.flip_tta;
    EXPECT_EQ(r->windows, plain->windows);
  }
  auto rb = sliding_window(net, img, batched);
  EXPECT_EQ(rb->forward_passes, (plain->windows + 4) / 5);
  auto rt = sliding_window(net, img, tta);
  EXPECT_EQ(rt->forward_passes, plain->windows * 4);  // identity + one flip per axis
}

TEST(SlidingWindow, SinkReceivesEveryRowOnceInOrderAndNoFullBufferIsAllocated) {
  const Pointwise net(1, 2);
  const auto img = torch::randn({1, 33, 20, 20});
  SlidingWindowOptions o{.patch_size = {8, 16, 16}, .overlap = 0.5};
  auto full = sliding_window(net, img, o);
  ASSERT_TRUE(full);
  at::Tensor assembled = torch::zeros_like(full->output);
  int64_t next = 0;
  auto r = sliding_window(net, img, o, [&](int64_t first, const at::Tensor& rows) -> Status {
    EXPECT_EQ(first, next);
    next = first + rows.size(1);
    assembled.narrow(1, first, rows.size(1)).copy_(rows);
    return ok();
  });
  ASSERT_TRUE(r);
  EXPECT_EQ(next, 33);
  EXPECT_FALSE(r->output.defined());
  EXPECT_LT(max_diff(assembled, full->output), 1e-6);
  EXPECT_EQ(full->buffer_bytes - r->buffer_bytes, 2 * 33 * 20 * 20 * 4);  // exactly the output
  auto failing = sliding_window(net, img, o, [](int64_t, const at::Tensor&) -> Status {
    return fail(ErrorCode::kIoError, "disk full");
  });
  ASSERT_FALSE(failing);
  EXPECT_EQ(failing.error().code(), ErrorCode::kIoError);
}

TEST(SlidingWindow, BufferBytesFollowTheDocumentedFormula) {
  const Pointwise net(2, 3);
  const auto img = torch::randn({2, 40, 30, 20});
  const int64_t k = 3, c = 2, b = 2, patch = 8 * 16 * 16;
  SlidingWindowOptions o{.patch_size = {8, 16, 16}, .batch_size = b};
  auto slab = sliding_window(net, img, o);
  ASSERT_TRUE(slab);
  const int64_t common = 4 * (k * 40 * 30 * 20 + patch + b * c * patch + b * k * patch);
  EXPECT_EQ(slab->buffer_bytes, common + 4 * (k + 1) * 8 * 30 * 20);
  o.slabs = false;
  auto whole = sliding_window(net, img, o);
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole->buffer_bytes, common + 4 * (k + 1) * 40 * 30 * 20);
  EXPECT_GT(slab->peak_rss_bytes, 0);
  // Padded axes count at the padded size: 40 x 10 x 20 with patch 8 x 16 x 16 → P = 40 x 16 x 20.
  o.slabs = true;
  auto padded = sliding_window(net, torch::randn({2, 40, 10, 20}), o);
  ASSERT_TRUE(padded);
  EXPECT_EQ(padded->buffer_bytes, 4 * (k * 40 * 10 * 20 + patch + b * c * patch + b * k * patch) +
                                       4 * (k + 1) * 8 * 16 * 20);
}

TEST(SlidingWindow, ImageSmallerThanPatchIsPaddedAndCroppedBack) {
  const Pointwise net(1, 2);
  const auto img = torch::randn({1, 5, 40});
  auto r = sliding_window(net, img, {.patch_size = {16, 16}, .activation = Activation::kNone});
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->output.sizes(), (std::vector<int64_t>{2, 5, 40}));
  EXPECT_LT(max_diff(r->output, net.full(img, Activation::kNone)), 1e-5);
  // The padding value reaches the net: a net that reports its input shows it around the image.
  at::Tensor seen;
  auto probe = sliding_window([&](const at::Tensor& x) { seen = x.clone(); return x.clone(); },
                              torch::ones({1, 2, 3}), {.patch_size = {4, 5}, .activation = Activation::kNone, .pad_value = -7});
  ASSERT_TRUE(probe);
  // Y: 2 → 4, pad 1 before, 1 after; X: 3 → 5, pad 1 before, 1 after.
  EXPECT_EQ(seen[0][0][0][0].item<float>(), -7.0f);
  EXPECT_EQ(seen[0][0][1][1].item<float>(), 1.0f);
  EXPECT_EQ(seen[0][0][3][4].item<float>(), -7.0f);
  EXPECT_TRUE(torch::equal(probe->output, torch::ones({1, 2, 3})));
}

TEST(SlidingWindow, BadOptionsAndBudgetsAreNamed) {
  const Pointwise net(1, 2);
  const auto img = torch::randn({1, 20, 20});
  auto axes = sliding_window(net, img, {.patch_size = {8, 8, 8}});
  ASSERT_FALSE(axes);
  EXPECT_EQ(axes.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(axes.error().message().find("8x8x8 has 3 axes"), std::string::npos) << axes.error().message();
  auto overlap = sliding_window(net, img, {.patch_size = {8, 8}, .overlap = 1.0});
  ASSERT_FALSE(overlap);
  EXPECT_NE(overlap.error().message().find("overlap must be in [0, 1)"), std::string::npos);
  auto rank = sliding_window(net, torch::randn({20, 20}), {.patch_size = {8, 8}});
  ASSERT_FALSE(rank);
  EXPECT_NE(rank.error().message().find("(C, Y, X)"), std::string::npos);
  auto budget = sliding_window(net, img, {.patch_size = {8, 8}, .max_buffer_bytes = 1000});
  ASSERT_FALSE(budget);
  EXPECT_EQ(budget.error().code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(budget.error().message().find("max_buffer_bytes"), std::string::npos) << budget.error().message();
  auto device = sliding_window(net, img, {.patch_size = {8, 8}, .device = "gpu0"});
  ASSERT_FALSE(device);
  EXPECT_EQ(device.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(device.error().message().find("device 'gpu0'"), std::string::npos) << device.error().message();
  auto wrong = sliding_window([](const at::Tensor& x) { return x.narrow(2, 0, 4); }, img, {.patch_size = {8, 8}});
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), ErrorCode::kInternal);
  EXPECT_NE(wrong.error().message().find("expected (B, K, 8x8)"), std::string::npos) << wrong.error().message();
}

TEST(SlidingWindow, UNetPatchMustBeAMultipleOfItsDownsampling) {
  nets::NetRegistry r;
  nets::register_builtin_nets(r);
  auto net = r.create({.name = "unet", .spatial_dims = 2, .in_channels = 1, .num_outputs = 2,
                       .options = {{"depth", "3"}, {"width", "4"}}});
  ASSERT_TRUE(net);
  auto bad = sliding_window(**net, torch::randn({1, 50, 50}), {.patch_size = {20, 32}});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("not a multiple of 8"), std::string::npos) << bad.error().message();
  EXPECT_NE(bad.error().message().find("use e.g. 16x32"), std::string::npos);
  (*net)->train();
  auto good = sliding_window(**net, torch::randn({1, 50, 45}), {.patch_size = {16, 32}, .batch_size = 4});
  ASSERT_TRUE(good) << good.error().to_string();
  EXPECT_EQ(good->output.sizes(), (std::vector<int64_t>{2, 50, 45}));
  EXPECT_LT(max_diff(good->output.sum(0), torch::ones({50, 45})), 1e-5);
  EXPECT_TRUE((*net)->is_training());  // mode restored
}

// On a GPU the windows and the slab accumulator live on the device and the output comes back to
// the CPU: a 3-D U-Net there equals the CPU result (TF32 off), with and without a sink.
TEST(SlidingWindowCuda, UNetOnTheGpuEqualsTheCpuWithTheSlabOnTheDevice) {
  if (!torch::cuda::is_available())
    GTEST_SKIP() << "no CUDA device in this LibTorch; the GPU checks run in bench/gpu/run.sh";
  at::globalContext().setAllowTF32CuDNN(false);
  at::globalContext().setAllowTF32CuBLAS(false);
  nets::NetRegistry r;
  nets::register_builtin_nets(r);
  torch::manual_seed(3);
  auto net = r.create({.name = "unet", .spatial_dims = 3, .in_channels = 1, .num_outputs = 3,
                       .options = {{"depth", "2"}, {"width", "4"}, {"norm", "instance"}}});
  ASSERT_TRUE(net);
  const auto img = torch::randn({1, 21, 30, 26});
  const SlidingWindowOptions o{.patch_size = {8, 16, 16}, .overlap = 0.5, .batch_size = 3};
  auto cpu = sliding_window(**net, img, o);
  ASSERT_TRUE(cpu) << cpu.error().to_string();
  (*net)->to(torch::kCUDA);
  SlidingWindowOptions g = o;
  g.device = "cuda";
  auto gpu = sliding_window(**net, img, g);
  ASSERT_TRUE(gpu) << gpu.error().to_string();
  EXPECT_TRUE(gpu->output.device().is_cpu());
  EXPECT_LT(max_diff(gpu->output, cpu->output), 1e-4);
  const auto image_bytes = static_cast<int64_t>(img.nbytes());
  EXPECT_EQ(gpu->buffer_bytes, cpu->buffer_bytes + image_bytes) << "the image copied to the device is counted";
  // A budget without room for that copy: windows are cut on the CPU and uploaded batch by batch.
  SlidingWindowOptions tight = g;
  tight.max_buffer_bytes = cpu->buffer_bytes + image_bytes - 1;
  auto fallback = sliding_window(**net, img, tight);
  ASSERT_TRUE(fallback) << fallback.error().to_string();
  EXPECT_EQ(fallback->buffer_bytes, cpu->buffer_bytes);
  EXPECT_LT(max_diff(fallback->output, cpu->output), 1e-4);
  at::Tensor rows_seen = torch::zeros({3, 21, 30, 26});
  auto sunk = sliding_window(**net, img, g, [&](int64_t first, const at::Tensor& rows) -> Status {
    EXPECT_TRUE(rows.device().is_cpu());
    rows_seen.narrow(1, first, rows.size(1)).copy_(rows);
    return ok();
  });
  ASSERT_TRUE(sunk) << sunk.error().to_string();
  EXPECT_LT(max_diff(rows_seen, cpu->output), 1e-4);
}

}  // namespace
}  // namespace lucent::infer
