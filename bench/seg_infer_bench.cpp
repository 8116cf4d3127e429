// Sliding-window segmentation speed and memory, the Lucent half of bench/run_seg_bench.sh
// (peer: bench/seg_peer/sliding_window_peer.py, the same U-Net and algorithm in PyTorch).
//
//   lucent_seg_infer_bench prepare --case 2d --out DIR [--seed 0]           # random 3000x2400 image
//   lucent_seg_infer_bench prepare --case 3d --image ch2.nii.gz --out DIR   # the real brain MR
//   lucent_seg_infer_bench prepare --case ct --out DIR [--seed 0]           # random 300x512x512 volume
//   lucent_seg_infer_bench run --dir DIR [--threads 2] [--slabs 1] [--device cpu|cuda] [--trace FILE]
//   lucent_seg_infer_bench window --dir DIR [--threads 2] [--windows 5] [--trace FILE]
// prepare also takes --width, --depth, --norm, --patch, --overlap and --size-2d to override the
// case's settings (for calibration; the documented numbers use the defaults below).
//
// prepare: builds the U-Net (seeded random weights) and writes DIR/weights.safetensors (every
// parameter and buffer by name), DIR/input.safetensors ("image", float32 (C, [Z,] Y, X); the MR
// z-scored over its non-zero voxels) and DIR/config.json (net options and sliding-window
// settings the peer reads). The ct case (the GPU comparison: a CT-sized 300x512x512 volume,
// seeded noise; an nnU-Net-sized 3-D U-Net, 128^3 windows, overlap 0.5) is meant for
// --device cuda. On a GPU both sides run with cuDNN autotuning on and TF32 off (full float32,
// so that the outputs can be compared). run: loads them, runs infer::sliding_window once and writes
// DIR/lucent_output.safetensors ("probabilities"); prints one JSON line with the wall time of
// the sliding window alone, the buffer bytes it accounted and VmHWM. window: runs the net alone
// on one patch-sized input of random values, --windows times after two warm-up passes, prints the
// mean seconds per window, and with --trace writes LibTorch's per-op profile of those passes as a
// Chrome trace (bench/seg_peer/op_table.py sums it per op; the peer's `window` does the same).
// Nothing is asserted.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>

#if __has_include(<c10/cuda/CUDACachingAllocator.h>) && __has_include(<cuda_runtime_api.h>)
#include <c10/cuda/CUDACachingAllocator.h>
#define LUCENT_BENCH_CUDA_STATS 1
#endif

#include "lucent/core/config.h"
#include "lucent/core/safetensors.h"
#include "lucent/core/threads.h"
#include "lucent/infer/sliding_window.h"
#include "lucent/io/image_io.h"
#include "lucent/nets/net.h"
#include "lucent/nets/unet.h"

namespace {
using namespace lucent;

int report(const Error& e) {
  std::cerr << "error: " << e.to_string() << "\n";
  return e.cli_exit_code();
}

// The benchmark settings of each case (documented in docs/segmentation.md).
nlohmann::json case_config(const std::string& name) {
  if (name == "ct")
    return {{"case", "ct"},
            {"spatial_dims", 3},
            {"net", {{"depth", "4"}, {"width", "32"}, {"norm", "instance"}}},
            {"num_outputs", 2},
            {"patch_size", {128, 128, 128}},
            {"overlap", 0.5},
            {"batch_size", 1}};
  if (name == "2d")
    return {{"case", "2d"},
            {"spatial_dims", 2},
            {"net", {{"depth", "4"}, {"width", "8"}, {"norm", "instance"}}},
            {"num_outputs", 2},
            {"patch_size", {512, 512}},
            {"overlap", 0.25},
            {"batch_size", 1}};
  return {{"case", "3d"},
          {"spatial_dims", 3},
          {"net", {{"depth", "4"}, {"width", "8"}, {"norm", "instance"}}},
          {"num_outputs", 2},
          {"patch_size", {64, 64, 64}},
          {"overlap", 0.25},
          {"batch_size", 1}};
}

Result<std::shared_ptr<nets::Net>> build(const nlohmann::json& cfg) {
  nets::NetRegistry registry;
  nets::register_builtin_nets(registry);
  std::map<std::string, std::string> opts = cfg["net"].get<std::map<std::string, std::string>>();
  return registry.create({.name = "unet",
                          .spatial_dims = cfg["spatial_dims"].get<int>(),
                          .in_channels = 1,
                          .num_outputs = cfg["num_outputs"].get<int64_t>(),
                          .options = opts});
}

// Peak bytes held by LibTorch's CUDA caching allocator on device 0 (the peer reports
// torch.cuda.max_memory_allocated, the same counter); -1 on the CPU or without CUDA headers.
int64_t cuda_peak_allocated_bytes(const std::string& device) {
#ifdef LUCENT_BENCH_CUDA_STATS
  if (device != "cpu") return c10::cuda::CUDACachingAllocator::getDeviceStats(0).allocated_bytes[0].peak;
#endif
  return -1;
}

Status write_json(const std::filesystem::path& path, const nlohmann::json& j) {
  std::ofstream out(path);
  out << j.dump(2) << "\n";
  if (!out) return fail(ErrorCode::kIoError, "cannot write " + path.string());
  return ok();
}

struct Overrides {
  std::string width, depth, norm;
  std::vector<int64_t> patch, size_2d = {3000, 2400}, size_ct = {300, 512, 512};
  double overlap = -1;
};

int prepare(const std::string& name, const std::string& image_path, const std::filesystem::path& dir, int64_t seed,
            const Overrides& ov) {
  std::filesystem::create_directories(dir);
  nlohmann::json cfg = case_config(name);
  if (!ov.width.empty()) cfg["net"]["width"] = ov.width;
  if (!ov.depth.empty()) cfg["net"]["depth"] = ov.depth;
  if (!ov.norm.empty()) cfg["net"]["norm"] = ov.norm;
  if (!ov.patch.empty()) cfg["patch_size"] = ov.patch;
  if (ov.overlap >= 0) cfg["overlap"] = ov.overlap;
  torch::manual_seed(static_cast<uint64_t>(seed));
  auto net = build(cfg);
  if (!net) return report(net.error());
  NamedTensors weights;
  for (const auto& p : (*net)->named_parameters()) weights.emplace_back(p.key(), p.value().detach());
  for (const auto& b : (*net)->named_buffers()) weights.emplace_back(b.key(), b.value());
  if (auto st = write_safetensors(dir / "weights.safetensors", weights); !st) return report(st.error());
  at::Tensor image;
  if (name == "2d") {
    auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(seed) + 1);
    image = at::randn({1, ov.size_2d.at(0), ov.size_2d.at(1)}, gen, at::TensorOptions().dtype(at::kFloat));
  } else if (name == "ct") {
    auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(seed) + 1);
    image = at::randn({1, ov.size_ct.at(0), ov.size_ct.at(1), ov.size_ct.at(2)}, gen,
                      at::TensorOptions().dtype(at::kFloat));
  } else {
    auto img = io::read_image(image_path);
    if (!img) return report(img.error().with_context("reading " + image_path));
    image = img->data.to(at::kFloat);
    const at::Tensor fg = image.ne(0);
    const at::Tensor v = image.masked_select(fg);
    image = ((image - v.mean()) / v.std()).contiguous();
  }
  if (auto st = write_safetensors(dir / "input.safetensors", {{"image", image}}); !st) return report(st.error());
  nlohmann::json out = cfg;
  out["params"] = (*net)->parameter_count();
  out["image_size"] = std::vector<int64_t>(image.sizes().begin(), image.sizes().end());
  if (auto st = write_json(dir / "config.json", out); !st) return report(st.error());
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

// The prepared net with the prepared weights (every parameter and buffer by name).
Result<std::shared_ptr<nets::Net>> load_net(const std::filesystem::path& dir, const nlohmann::json& cfg) {
  auto net = build(cfg);
  if (!net) return net;
  auto weights = read_safetensors(dir / "weights.safetensors");
  if (!weights) return std::unexpected(weights.error());
  torch::NoGradGuard guard;
  for (auto& p : (*net)->named_parameters()) p.value().copy_(weights->tensors.at(p.key()));
  for (auto& b : (*net)->named_buffers()) b.value().copy_(weights->tensors.at(b.key()));
  return net;
}

// The net alone on one patch of random values: mean seconds per window, optionally a per-op trace.
int window(const std::filesystem::path& dir, int threads, int windows, const std::string& trace) {
  auto in_effect = configure_threads(threads);
  configure_allocator();
  if (!in_effect) return report(in_effect.error());
  auto loaded = load_config(dir / "config.json");  // written by `prepare`; a clear error if missing
  if (!loaded) return report(loaded.error());
  nlohmann::json cfg = std::move(*loaded);
  auto net = load_net(dir, cfg);
  if (!net) return report(net.error());
  (*net)->eval();
  std::vector<int64_t> shape = {1, cfg["image_size"][0].get<int64_t>()};
  for (const auto& p : cfg["patch_size"]) shape.push_back(p.get<int64_t>());
  torch::manual_seed(0);
  const at::Tensor x = torch::randn(shape);
  torch::NoGradGuard guard;
  for (int i = 0; i < 2; ++i) (*net)->forward(x);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < windows; ++i) (*net)->forward(x);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / windows;
  if (!trace.empty()) {
    torch::autograd::profiler::RecordProfile profile(trace);
    for (int i = 0; i < windows; ++i) (*net)->forward(x);
  }
  const nlohmann::json line = {{"side", "lucent"}, {"threads", *in_effect}, {"windows", windows},
                               {"seconds_per_window", seconds}, {"shape", shape}};
  std::printf("%s\n", line.dump().c_str());
  return 0;
}

int run(const std::filesystem::path& dir, int threads, bool slabs, int repeats, const std::string& device,
        const std::string& trace) {
  auto in_effect = configure_threads(threads);
  const bool allocator_tuned = configure_allocator();  // as lucent predict does
  if (!in_effect) return report(in_effect.error());
  if (device != "cpu") {
    if (!torch::cuda::is_available()) {
      std::cerr << "error: --device " << device << " but this LibTorch sees no CUDA device\n";
      return 2;
    }
    at::globalContext().setBenchmarkCuDNN(true);
    at::globalContext().setAllowTF32CuDNN(false);
    at::globalContext().setAllowTF32CuBLAS(false);
  }
  auto loaded = load_config(dir / "config.json");  // written by `prepare`; a clear error if missing
  if (!loaded) return report(loaded.error());
  nlohmann::json cfg = std::move(*loaded);
  auto net = load_net(dir, cfg);
  if (!net) return report(net.error());
  (*net)->to(torch::Device(device));
  auto input = read_safetensors(dir / "input.safetensors");
  if (!input) return report(input.error());
  const at::Tensor image = input->tensors.at("image");
  input->tensors.clear();
  infer::SlidingWindowOptions o{.patch_size = cfg["patch_size"].get<std::vector<int64_t>>(),
                                .overlap = cfg["overlap"].get<double>(),
                                .batch_size = cfg["batch_size"].get<int64_t>(),
                                .slabs = slabs,
                                .device = device};
  std::vector<double> seconds;
  Result<infer::SlidingWindowResult> r = fail(ErrorCode::kInternal, "not run");
  for (int i = 0; i < repeats; ++i) {
    r = Result<infer::SlidingWindowResult>(fail(ErrorCode::kInternal, "not run"));  // free the last output first
    std::optional<torch::autograd::profiler::RecordProfile> profile;
    if (!trace.empty() && i + 1 == repeats) profile.emplace(trace);  // the last run only
    const auto t0 = std::chrono::steady_clock::now();
    r = infer::sliding_window(**net, image, o);
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (!r) return report(r.error());
  }
  if (auto st = write_safetensors(dir / "lucent_output.safetensors", {{"probabilities", r->output}}); !st)
    return report(st.error());
  const nlohmann::json line = {{"side", "lucent"},          {"case", cfg["case"]},
                               {"threads", *in_effect},     {"seconds", seconds},
                               {"windows", r->windows},     {"buffer_bytes", r->buffer_bytes},
                               {"vm_hwm_bytes", r->peak_rss_bytes}, {"slabs", slabs},
                               {"device", device},          {"gpu_peak_allocated_bytes", cuda_peak_allocated_bytes(device)},
                               {"params", (*net)->parameter_count()},
                               {"allocator_tuned", allocator_tuned}};
  std::printf("%s\n", line.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Sliding-window segmentation benchmark (Lucent side)"};
  app.require_subcommand(1);
  auto* prep = app.add_subcommand("prepare", "Write weights, input and settings for both sides");
  std::string case_name = "2d", image_path, out_dir;
  int64_t seed = 0;
  prep->add_option("--case", case_name, "2d (random 3000x2400), 3d (an MR volume) or ct (random 300x512x512, GPU)")
      ->check(CLI::IsMember({"2d", "3d", "ct"}));
  prep->add_option("--image", image_path, "3d: the volume to segment (e.g. mricron_ch2_aal/ch2.nii.gz)");
  prep->add_option("--out", out_dir, "Folder for weights, input and config")->required();
  prep->add_option("--seed", seed, "Seed of the weights and the 2-D image");
  Overrides ov;
  prep->add_option("--width", ov.width, "Override the case's U-Net width");
  prep->add_option("--depth", ov.depth, "Override the case's U-Net depth");
  prep->add_option("--norm", ov.norm, "Override the case's normalisation (instance, batch, group)");
  prep->add_option("--patch", ov.patch, "Override the patch size (one value per axis)");
  prep->add_option("--overlap", ov.overlap, "Override the window overlap");
  prep->add_option("--size-2d", ov.size_2d, "2d: image size Y X (default 3000 2400)")->expected(2);
  prep->add_option("--size-ct", ov.size_ct, "ct: volume size Z Y X (default 300 512 512)")->expected(3);
  auto* runc = app.add_subcommand("run", "Run Lucent's sliding window on a prepared folder");
  std::string dir;
  int threads = 2, repeats = 1;
  bool slabs = true;
  std::string device = "cpu";
  runc->add_option("--dir", dir, "A folder written by prepare")->required()->check(CLI::ExistingDirectory);
  runc->add_option("--threads", threads, "LibTorch intra-op threads")->check(CLI::PositiveNumber);
  runc->add_option("--slabs", slabs, "Slab accumulator (1) or full-size accumulator (0)");
  runc->add_option("--device", device, "cpu, cuda or cuda:N")->check(CLI::IsMember({"cpu", "cuda", "cuda:0", "cuda:1"}));
  runc->add_option("--repeats", repeats, "Timed runs (the output of the last is written)")->check(CLI::PositiveNumber);
  std::string trace;
  runc->add_option("--trace", trace, "Write LibTorch's per-op profile of the last run here (Chrome trace JSON; slows it)");
  auto* winc = app.add_subcommand("window", "Time the net alone on one patch (and trace its ops)");
  int windows = 5;
  winc->add_option("--dir", dir, "A folder written by prepare")->required()->check(CLI::ExistingDirectory);
  winc->add_option("--threads", threads, "LibTorch intra-op threads")->check(CLI::PositiveNumber);
  winc->add_option("--windows", windows, "Timed passes (after two warm-up passes)")->check(CLI::PositiveNumber);
  winc->add_option("--trace", trace, "Write LibTorch's per-op profile of the passes here (Chrome trace JSON)");
  CLI11_PARSE(app, argc, argv);
  if (winc->parsed()) return window(dir, threads, windows, trace);
  if (prep->parsed()) {
    if (case_name == "3d" && image_path.empty()) {
      std::cerr << "error: --case 3d needs --image (e.g. ../shared/data/mricron_ch2_aal/ch2.nii.gz)\n";
      return 2;
    }
    return prepare(case_name, image_path, out_dir, seed, ov);
  }
  return run(dir, threads, slabs, repeats, device, trace);
}
