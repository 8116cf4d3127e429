// Where a float32 training step of the benchmark ResNet-18 spends its time on the Lucent side:
// the C++ twin of bench/train_peer/step_profile.py (same net, batch 128 of 1x28x28, AdamW
// lr 0.002 wd 0.05, cross-entropy with label smoothing 0.05, no data loading).
//
//   lucent_train_step_bench [--threads N] [--steps 8] [--batch 128] [--winograd on|off] [--nchw]
//                           [--allocator train|glibc]
//                           [--trace FILE.json]
//
// Runs 2 warm-up steps, then `steps` timed steps, and prints one JSON line with the median and
// all per-step milliseconds (warm-up steps apart: the first builds oneDNN's kernels). --trace
// records the timed steps once more with LibTorch's profiler into a Chrome trace (sum it per op
// with bench/seg_peer/op_table.py; the legacy profiler slowed the step ~5x here, so read its
// split with care). A diagnostic, not a test.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "lucent/core/threads.h"
#include "lucent/nets/net.h"

int main(int argc, char** argv) {
  using namespace lucent;
  CLI::App app{"Per-step time of a float32 training step of the benchmark ResNet-18"};
  int threads = 0, steps = 8;
  int64_t batch = 128;
  std::string winograd = "on", trace, allocator = "train";
  bool nchw = false;
  app.add_option("--threads", threads, "LibTorch intra-op threads (0 = all cores)")->check(CLI::NonNegativeNumber);
  app.add_option("--steps", steps, "Timed steps after 2 warm-up steps")->check(CLI::PositiveNumber);
  app.add_option("--winograd", winograd, "oneDNN Winograd 3x3 convolutions (as train.winograd)")
      ->check(CLI::IsMember({"on", "off"}));
  app.add_option("--batch", batch, "Images per step")->check(CLI::PositiveNumber);
  app.add_flag("--nchw", nchw, "Keep NCHW (train.channels_last off)");
  app.add_option("--allocator", allocator, "train: lucent train's (use_huge_pages_for_tensors); glibc: "
                 "glibc's with raised thresholds (configure_allocator, as lucent predict)")
      ->check(CLI::IsMember({"train", "glibc"}));
  app.add_option("--trace", trace, "Write a Chrome trace of the timed steps here");
  CLI11_PARSE(app, argc, argv);

  auto in_effect = configure_threads(threads);
  if (allocator == "train")
    use_huge_pages_for_tensors();
  else
    configure_allocator();
  if (!in_effect) {
    std::cerr << "error: " << in_effect.error().to_string() << "\n";
    return in_effect.error().cli_exit_code();
  }
  nets::NetRegistry registry;
  nets::register_builtin_nets(registry);
  torch::manual_seed(0);
  auto made = registry.create({.name = "resnet18", .spatial_dims = 2, .in_channels = 1, .num_outputs = 2,
                               .options = {{"stem", "small"}, {"width", "32"}}});
  if (!made) {
    std::cerr << "error: " << made.error().to_string() << "\n";
    return made.error().cli_exit_code();
  }
  nets::Net& net = **made;
  net.train();
  at::Tensor x = torch::randn({batch, 1, 28, 28});
  const at::Tensor y = torch::randint(0, 2, {batch});
  if (!nchw) {
    nets::to_channels_last(net);
    x = x.contiguous(at::MemoryFormat::ChannelsLast);
  }
  const int switched = winograd == "on" ? nets::use_winograd(net, true) : 0;
  torch::optim::AdamW opt(net.parameters(), torch::optim::AdamWOptions(0.002).weight_decay(0.05));
  auto step = [&] {
    opt.zero_grad();
    at::Tensor loss = at::cross_entropy_loss(net.forward(x), y, {}, at::Reduction::Mean, -100, 0.05);
    (void)loss.item<double>();  // as the trainer does (NaN check)
    loss.backward();
    opt.step();
  };
  auto timed = [&] {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  std::vector<double> warmup_ms;  // the first builds oneDNN's kernels for the shapes
  for (int i = 0; i < 2; ++i) warmup_ms.push_back(timed());
  std::vector<double> ms;
  for (int i = 0; i < steps; ++i) ms.push_back(timed());
  if (!trace.empty()) {
    torch::autograd::profiler::RecordProfile profile(trace);
    for (int i = 0; i < steps; ++i) step();
  }
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  const nlohmann::json line = {{"side", "lucent"},        {"threads", *in_effect},
                               {"winograd_convolutions", switched}, {"channels_last", !nchw},
                               {"median_ms_per_step", sorted[sorted.size() / 2]}, {"ms_per_step", ms},
                               {"warmup_ms", warmup_ms}, {"batch", batch}, {"allocator", allocator}};
  std::printf("%s\n", line.dump().c_str());
  return 0;
}
