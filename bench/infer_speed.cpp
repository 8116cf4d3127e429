// Inference throughput of a trained bundle on a MedMNIST split, the Lucent half of the
// PyTorch comparison in bench/run_train_bench.sh (peer: bench/train_peer/pytorch_peer.py).
//
//   lucent_infer_bench --bundle RUN/bundle --data pneumoniamnist.npz [--split test]
//                      [--threads N] [--batch 256] [--repeats 5] [--device cpu|cuda]
//
// Times Predictor::predict_batch over the whole split (raw uint8 images in; the bundle's
// preprocessing, the forward pass and the softmax are inside the timed region) after one
// warm-up pass, and prints one JSON line: the parameter count, the median and best img/s of
// `repeats` passes, and the settings. A benchmark, not a test: nothing is asserted.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "lucent/core/threads.h"
#include "lucent/data/dataset.h"
#include "lucent/infer/predictor.h"
#include "lucent/nets/bundle.h"
#include "lucent/nets/net.h"
#include "lucent/transforms/transform.h"

namespace {

int report(const lucent::Error& e) {
  std::cerr << "error: " << e.to_string() << "\n";
  return e.cli_exit_code();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace lucent;
  CLI::App app{"Inference throughput of a Lucent bundle on a MedMNIST split"};
  std::string bundle, data, split = "test", device = "cpu";
  int threads = 0, repeats = 5;
  bool nchw = false;
  int64_t batch = 256;
  app.add_option("--bundle", bundle, "Bundle folder (RUN/bundle)")->required()->check(CLI::ExistingDirectory);
  app.add_option("--data", data, "MedMNIST .npz")->required()->check(CLI::ExistingFile);
  app.add_option("--split", split, "train, val or test");
  app.add_option("--threads", threads, "LibTorch intra-op threads (0 = all cores)")->check(CLI::NonNegativeNumber);
  app.add_option("--batch", batch, "Images per forward pass")->check(CLI::PositiveNumber);
  app.add_option("--repeats", repeats, "Timed passes after one warm-up pass")->check(CLI::PositiveNumber);
  app.add_option("--device", device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  app.add_flag("--nchw", nchw, "Keep NCHW on the CPU (PredictOptions::channels_last off), to measure the layout");
  CLI11_PARSE(app, argc, argv);

  auto in_effect = configure_threads(threads);
  configure_allocator();
  if (!in_effect) return report(in_effect.error());

  nets::NetRegistry nets;
  nets::register_builtin_nets(nets);
  transforms::TransformRegistry tfs;
  transforms::register_builtin_transforms(tfs);

  // The parameter count comes from the bundle's own net (the Predictor keeps it private).
  auto loaded = nets::load_bundle(bundle, nets);
  if (!loaded) return report(loaded.error());
  const int64_t params = loaded->net->parameter_count();

  auto dataset = data::load_medmnist(data, split);
  if (!dataset) return report(dataset.error());
  const at::Tensor images = (*dataset)->images();  // raw uint8 (N, C, Y, X)

  auto predictor = infer::Predictor::open({bundle}, nets, tfs, {.batch_size = batch, .device = device, .channels_last = !nchw});
  if (!predictor) return report(predictor.error());

  using Clock = std::chrono::steady_clock;
  std::vector<double> rates;
  for (int pass = 0; pass <= repeats; ++pass) {
    const auto t0 = Clock::now();
    auto probs = (*predictor)->predict_batch(images);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!probs) return report(probs.error());
    if (pass > 0) rates.push_back(static_cast<double>(images.size(0)) / s);  // pass 0 is the warm-up
  }
  std::sort(rates.begin(), rates.end());
  const double median = rates.size() % 2 ? rates[rates.size() / 2]
                                         : (rates[rates.size() / 2 - 1] + rates[rates.size() / 2]) / 2;
  const nlohmann::json line = {{"side", "lucent"},
                               {"threads", *in_effect},
                               {"device", device},
                               {"params", params},
                               {"infer_img_per_s", median},
                               {"infer_img_per_s_best", rates.back()},
                               {"infer_images", images.size(0)},
                               {"infer_batch", batch},
                               {"channels_last", (*predictor)->channels_last()},
                               {"repeats", repeats}};
  std::printf("%s\n", line.dump().c_str());
  return 0;
}
