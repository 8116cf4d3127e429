#include <ATen/ATen.h>

#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>

#include "commands.h"
#include "predict_seg.h"
#include "lucent/core/atomic_file.h"
#include "lucent/core/threads.h"
#include "lucent/infer/predictor.h"
#include "lucent/infer/segmenter.h"
#include "lucent/io/dicom.h"
#include "lucent/io/image_io.h"
#include "lucent/io/npz.h"

namespace lucent::app {
namespace {
namespace fs = std::filesystem;

struct PredictArgs {
  std::vector<std::string> paths;
  std::string out = "predictions";
  bool tta = false;
  int64_t batch = 256;
  std::string split = "test";
  std::string device = "cpu";
};

struct Case {
  std::string id;
  at::Tensor probs;
};

// Inputs: an .npz split (every image), a DICOM series folder (one case per series), a folder
// of images (one case per file), or a single image file.
Status predict_input(infer::Predictor& p, const fs::path& input, const std::string& split, std::vector<Case>& out) {
  auto format = io::detect_format(input);
  if (!format) return std::unexpected(format.error());
  if (*format == io::Format::kNpz) {
    auto s = io::read_medmnist(input, split);
    if (!s) return std::unexpected(s.error());
    auto probs = p.predict_batch(s->images);
    if (!probs) return std::unexpected(probs.error().with_context(input.string()));
    for (int64_t i = 0; i < probs->size(0); ++i)
      out.push_back({input.filename().string() + ":" + split + ":" + std::to_string(i), (*probs)[i]});
    return ok();
  }
  if (*format == io::Format::kDicomFolder) {
    auto scan = io::scan_dicom_folder(input);
    if (scan && !scan->series.empty()) {
      for (const auto& s : scan->series) {
        std::vector<fs::path> files;
        for (const auto& f : s.files) files.push_back(f.path);
        auto img = io::read_dicom_series(files);
        if (!img) return std::unexpected(img.error());
        auto probs = p.predict_image(*img);
        if (!probs) return std::unexpected(probs.error().with_context(input.string()));
        out.push_back({s.series_instance_uid, *probs});
      }
      return ok();
    }
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(input))
      if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    if (files.empty()) return fail(ErrorCode::kNotFound, "folder " + input.string() + " holds no images");
    for (const auto& f : files) {
      auto img = io::read_image(f);
      if (!img) return std::unexpected(img.error());
      auto probs = p.predict_image(*img);
      if (!probs) return std::unexpected(probs.error().with_context(f.string()));
      out.push_back({fs::relative(f, input).string(), *probs});
    }
    return ok();
  }
  auto img = io::read_image(input);
  if (!img) return std::unexpected(img.error());
  auto probs = p.predict_image(*img);
  if (!probs) return std::unexpected(probs.error().with_context(input.string()));
  out.push_back({input.filename().string(), *probs});
  return ok();
}

int run_predict(const PredictArgs& a) {
  std::vector<fs::path> bundles, inputs;
  for (const auto& p : a.paths) (fs::exists(fs::path(p) / "bundle.json") ? bundles : inputs).push_back(p);
  if (bundles.empty())
    return report(Error(ErrorCode::kInvalidArgument, "no bundle among the arguments (a bundle is a folder with bundle.json)"));
  if (inputs.empty()) return report(Error(ErrorCode::kInvalidArgument, "no input images given after the bundle(s)"));
  // Segmentation bundles go to predict_seg; a bundle.json that cannot be read is left to the
  // classification path, which reports it as before.
  std::vector<fs::path> seg_bundles, other_bundles;
  for (const auto& b : bundles) {
    auto is_seg = infer::is_segmentation_bundle(b);
    (is_seg && *is_seg ? seg_bundles : other_bundles).push_back(b);
  }
  if (!seg_bundles.empty() && !other_bundles.empty())
    return report(Error(ErrorCode::kInvalidArgument,
                        "segmentation bundle " + seg_bundles.front().string() + " cannot be combined with " +
                            other_bundles.front().string() + " (not a segmentation bundle); run them separately"));
  if (!seg_bundles.empty()) return run_segmentation_predict(seg_bundles, inputs, {.out = a.out, .tta = a.tta, .device = a.device});
  nets::NetRegistry nets;
  nets::register_builtin_nets(nets);
  transforms::TransformRegistry tfs;
  transforms::register_builtin_transforms(tfs);
  auto predictor = infer::Predictor::open(bundles, nets, tfs, {.tta = a.tta, .batch_size = a.batch, .device = a.device});
  if (!predictor) return report(predictor.error());
  std::vector<Case> cases;
  for (const auto& in : inputs)
    if (auto st = predict_input(**predictor, in, a.split, cases); !st) return report(st.error());

  const auto& labels = (*predictor)->labels();
  std::ostringstream csv;
  csv << "id";
  for (std::size_t k = 0; k < labels.size(); ++k) csv << ",score_" << k;
  csv << ",predicted\n";
  nlohmann::json js = {{"bundles", (*predictor)->bundle_ids()}, {"labels", labels},
                       {"task", task_name((*predictor)->task())}, {"tta", a.tta}, {"cases", nlohmann::json::array()}};
  csv << std::setprecision(8);
  for (const auto& c : cases) {
    const auto p = c.probs.to(at::kDouble).contiguous();
    std::string id = c.id;
    if (id.find_first_of(",\"") != std::string::npos) id = "\"" + std::regex_replace(id, std::regex("\""), "\"\"") + "\"";
    csv << id;
    std::vector<double> v(p.data_ptr<double>(), p.data_ptr<double>() + p.numel());
    for (double x : v) csv << "," << x;
    const auto best = std::max_element(v.begin(), v.end()) - v.begin();
    csv << "," << (best < static_cast<long>(labels.size()) ? labels[best] : std::to_string(best)) << "\n";
    js["cases"].push_back({{"id", c.id}, {"probabilities", v}});
  }
  std::error_code ec;
  fs::create_directories(a.out, ec);
  if (auto st = write_file_atomically(fs::path(a.out) / "predictions.csv", csv.str()); !st) return report(st.error());
  if (auto st = write_file_atomically(fs::path(a.out) / "predictions.json", js.dump(2) + "\n"); !st) return report(st.error());
  std::cout << cases.size() << " case(s) → " << (fs::path(a.out) / "predictions.csv").string() << "\n";
  return 0;
}

}  // namespace

void add_predict_command(CLI::App& app, Runner& run) {
  auto args = std::make_shared<PredictArgs>();
  auto* cmd = app.add_subcommand("predict", "Run one bundle (or an ensemble of several) on images");
  cmd->add_option("paths", args->paths, "BUNDLE... INPUT... (bundles are folders with bundle.json)")->required();
  cmd->add_option("--out", args->out,
                 "Output folder for predictions.csv / predictions.json (segmentation: label maps, probabilities, "
                 "overlays, volumes.json; see docs/segmentation-predict.md)");
  cmd->add_flag("--tta", args->tta, "Average over flips along each spatial axis");
  cmd->add_option("--batch", args->batch, "Batch size (classification; segmentation uses the bundle's)")->check(CLI::PositiveNumber);
  cmd->add_option("--split", args->split, "MedMNIST split for .npz inputs")->check(CLI::IsMember({"train", "val", "test"}));
  cmd->add_option("--device", args->device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  // Prediction reuses freed buffers (configure_allocator); training uses the huge-page allocator
  // instead, which keeps its peak memory lower (docs/benchmarks-train-speed.md, Run 6).
  cmd->callback([&run, args] {
    run = [args] {
      configure_allocator();
      return run_predict(*args);
    };
  });
}

}  // namespace lucent::app
