#include "predict_seg.h"

#include <ATen/ATen.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

#include "commands.h"
#include "lucent/core/atomic_file.h"
#include "lucent/infer/segmenter.h"
#include "lucent/io/dicom.h"
#include "lucent/io/image_io.h"

namespace lucent::app {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

// One image to segment: where it came from and how its outputs are named.
struct Input {
  std::string id;          // unique within the run; may hold '/' (folder inputs mirror their tree)
  fs::path source;         // file, folder or DICOM series folder
  io::Format format = io::Format::kUnknown;
  std::vector<fs::path> dicom_files;  // a DICOM series: its files
};

// Output extensions by input family: the label map and probabilities keep the input's format
// where it holds geometry; 2-D picture formats give a PNG label map and NIfTI probabilities.
struct Family {
  std::string labels, probabilities;
};
Family family_of(io::Format f, int spatial_dims) {
  switch (f) {
    case io::Format::kNifti: return {".nii.gz", ".nii.gz"};
    case io::Format::kNrrd: return {".nrrd", ".nrrd"};
    case io::Format::kMetaImage: return {".mha", ".mha"};
    case io::Format::kPng:
    case io::Format::kJpeg:
    case io::Format::kTiff:
    case io::Format::kBmp:
    case io::Format::kGif:
      if (spatial_dims == 2) return {".png", ".nii.gz"};
      return {".nii.gz", ".nii.gz"};
    default: return {".nii.gz", ".nii.gz"};  // DICOM file / series and anything else
  }
}

std::string strip_image_extension(const fs::path& p) {
  const std::string name = p.filename().string(), ext = full_extension(p);
  return ext.empty() || ext.size() >= name.size() ? name : name.substr(0, name.size() - ext.size());
}

// Expands the command line's inputs into cases (the same input kinds as classification
// prediction, without .npz).
Status collect_inputs(const std::vector<fs::path>& paths, std::vector<Input>& out) {
  std::set<std::string> used;
  auto unique = [&used](std::string id) {
    std::string candidate = id;
    for (int n = 2; used.contains(candidate); ++n) candidate = id + "_" + std::to_string(n);
    used.insert(candidate);
    return candidate;
  };
  for (const auto& input : paths) {
    auto format = io::detect_format(input);
    if (!format) return std::unexpected(format.error());
    if (*format == io::Format::kNpz)
      return fail(ErrorCode::kUnsupported,
                  input.string() + " is a MedMNIST .npz array set; segmentation bundles take images with geometry "
                                   "(NIfTI, NRRD, MetaImage, PNG, TIFF, JPEG, BMP, GIF, DICOM file or series folder). "
                                   "Export the images (lucent convert) or use a classification bundle");
    if (*format != io::Format::kDicomFolder) {
      out.push_back({unique(strip_image_extension(input)), input, *format, {}});
      continue;
    }
    auto scan = io::scan_dicom_folder(input);
    if (scan && !scan->series.empty()) {
      for (const auto& s : scan->series) {
        Input in{unique(s.series_instance_uid), input, io::Format::kDicomFolder, {}};
        for (const auto& f : s.files) in.dicom_files.push_back(f.path);
        out.push_back(std::move(in));
      }
      continue;
    }
    std::vector<fs::path> files;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(input, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec))
      if (it->is_regular_file()) files.push_back(it->path());
    if (ec) return fail(ErrorCode::kIoError, "cannot list " + input.string() + ": " + ec.message());
    std::sort(files.begin(), files.end());
    if (files.empty()) return fail(ErrorCode::kNotFound, "folder " + input.string() + " holds no images");
    for (const auto& f : files) {
      auto ff = io::detect_format(f);
      if (!ff) return std::unexpected(ff.error());
      const fs::path rel = fs::relative(f, input);
      out.push_back({unique((rel.parent_path() / strip_image_extension(rel)).string()), f, *ff, {}});
    }
  }
  return ok();
}

Result<Image> read_input(const Input& in) {
  if (!in.dicom_files.empty()) return io::read_dicom_series(in.dicom_files);
  return io::read_image(in.source);
}

json settings_json(const infer::Segmenter& s) {
  const auto& st = s.settings();
  json post = json::array();
  for (const auto& p : st.postprocess) post.push_back(p.name);
  return {{"patch_size", st.patch_size},
          {"overlap", st.overlap},
          {"blend", st.blending == infer::Blending::kConstant ? "constant" : "gaussian"},
          {"batch_size", st.batch_size},
          {"flip_tta", st.flip_tta},
          {"activation", st.activation == infer::Activation::kSigmoid ? "sigmoid" : "softmax"},
          {"threshold", st.threshold},
          {"num_classes", st.num_classes},
          {"postprocess", post}};
}

// Segments one case and writes its files under `stage`; fills the case's JSON entries.
Status segment_case(infer::Segmenter& seg, const Input& in, const fs::path& stage, json& case_json, json& volume_json) {
  const std::string where = in.dicom_files.empty() ? in.source.string()
                                                   : in.source.string() + " (series " + in.id + ")";
  auto img = read_input(in);
  if (!img) return std::unexpected(img.error());
  auto r = seg.segment(*img);
  if (!r) return std::unexpected(r.error().with_context(where));
  const int dims = img->spatial_dims();
  const Family fam = family_of(in.format, dims);
  const fs::path base = stage / in.id;
  std::error_code ec;
  fs::create_directories(base.parent_path(), ec);
  if (ec) return fail(ErrorCode::kIoError, "cannot create " + base.parent_path().string() + ": " + ec.message());
  const std::string stem = fs::path(in.id).filename().string();
  const fs::path rel_dir = fs::path(in.id).parent_path();
  json outputs;
  auto write = [&](const std::string& key, const std::string& suffix, const at::Tensor& data) -> Status {
    const fs::path rel = rel_dir / (stem + suffix);
    Image out{data, img->geometry, {}};
    if (auto st = io::write_image(out, stage / rel); !st) return std::unexpected(st.error().with_context(where));
    outputs[key] = rel.generic_string();
    return ok();
  };
  if (auto st = write("labels", "_labels" + fam.labels, r->labels.unsqueeze(0)); !st) return st;
  if (auto st = write("probabilities", "_probabilities" + fam.probabilities, r->probabilities); !st) return st;
  if (dims == 2 || img->data.size(1) == 1) {  // 2-D images and one-slice volumes
    auto overlay = infer::overlay_rgb(img->data, r->labels);
    if (!overlay) return std::unexpected(overlay.error().with_context(where));
    if (auto st = write("overlay", "_overlay.png", dims == 3 ? overlay->unsqueeze(1) : *overlay); !st) return st;
  }
  const auto size = img->size_ijk();
  json structures = json::array();
  for (const auto& v : r->volumes) {
    json s = {{"label", v.label}, {"name", seg.label_name(v.label)}, {"voxels", v.voxels}};
    if (dims == 2) s["area_mm2"] = v.volume_mm3;
    else s.update({{"volume_mm3", v.volume_mm3}, {"volume_ml", v.volume_ml}});
    structures.push_back(std::move(s));
  }
  const auto& g = img->geometry;
  volume_json = {{"id", in.id},
                 {"input", in.source.string()},
                 {"spatial_dims", dims},
                 {"spacing_mm", g.spacing_mm},
                 {"unit", dims == 2 ? "mm2" : "mm3"},
                 {"structures", structures}};
  case_json = {{"id", in.id},
               {"input", in.source.string()},
               {"format", std::string(io::format_name(in.format))},
               {"spatial_dims", dims},
               {"size_ijk", dims == 2 ? json::array({size[0], size[1]}) : json(size)},
               {"spacing_mm", g.spacing_mm},
               {"origin_lps", g.origin_lps},
               {"resampled_from_preprocess", r->resampled},
               {"postprocess_changed_voxels", r->postprocess_changed_voxels},
               {"outputs", outputs}};
  return ok();
}

// Moves the finished staging folder into place: a rename when `out` does not exist yet, else
// file by file with predictions.json last (so it only appears once everything else is there).
Status publish(const fs::path& stage, const fs::path& out) {
  std::error_code ec;
  if (!fs::exists(out, ec)) {
    fs::rename(stage, out, ec);
    if (ec) return fail(ErrorCode::kIoError, "cannot move " + stage.string() + " to " + out.string() + ": " + ec.message());
    return ok();
  }
  if (!fs::is_directory(out, ec))
    return fail(ErrorCode::kAlreadyExists, out.string() + " exists and is not a folder; choose another --out");
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(stage, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    if (it->is_regular_file()) files.push_back(fs::relative(it->path(), stage));
  if (ec) return fail(ErrorCode::kIoError, "cannot list " + stage.string() + ": " + ec.message());
  std::stable_partition(files.begin(), files.end(), [](const fs::path& p) { return p != "predictions.json"; });
  for (const auto& rel : files) {
    fs::create_directories((out / rel).parent_path(), ec);
    if (!ec) fs::rename(stage / rel, out / rel, ec);
    if (ec) return fail(ErrorCode::kIoError, "cannot move " + (stage / rel).string() + " into " + out.string() + ": " + ec.message());
  }
  (void)remove_tree(stage, ec);
  return ok();
}

}  // namespace

int run_segmentation_predict(const std::vector<fs::path>& bundles, const std::vector<fs::path>& inputs,
                             const SegPredictArgs& a) {
  nets::NetRegistry nets;
  nets::register_builtin_nets(nets);
  transforms::TransformRegistry tfs;
  transforms::register_builtin_transforms(tfs);
  auto seg = infer::Segmenter::open(bundles, nets, tfs, {.flip_tta = a.tta, .device = a.device, .max_buffer_bytes = 0});
  if (!seg) return report(seg.error());
  std::vector<Input> cases;
  if (auto st = collect_inputs(inputs, cases); !st) return report(st.error());

  fs::path out = fs::absolute(a.out).lexically_normal();
  if (out.filename().empty()) out = out.parent_path();
  const fs::path stage = out.parent_path() / ("." + out.filename().string() + ".tmp-" + std::to_string(::getpid()));
  std::error_code ec;
  fs::create_directories(stage, ec);
  if (ec) return report(Error(ErrorCode::kIoError, "cannot create " + stage.string() + ": " + ec.message() +
                                                       "; check that the parent of --out exists and is writable"));
  // Every failure from here removes the staging folder: nothing half-done becomes visible.
  auto abandon = [&stage](const Error& e) {
    std::error_code ignored;
    (void)remove_tree(stage, ignored);
    return report(e);
  };
  json case_list = json::array(), volume_list = json::array();
  for (const auto& in : cases) {
    json c, v;
    if (auto st = segment_case(**seg, in, stage, c, v); !st) return abandon(st.error());
    case_list.push_back(std::move(c));
    volume_list.push_back(std::move(v));
  }
  std::vector<std::string> names;
  for (int64_t k = 0; k < (*seg)->num_labels(); ++k) names.push_back((*seg)->label_name(k));
  const json volumes = {{"task", "segmentation"}, {"labels", names}, {"cases", volume_list}};
  const json summary = {{"task", "segmentation"},
                        {"bundles", (*seg)->bundle_ids()},
                        {"labels", names},
                        {"tta", (*seg)->settings().flip_tta},
                        {"inference", settings_json(**seg)},
                        {"volumes", "volumes.json"},
                        {"cases", case_list}};
  if (auto st = write_file_atomically(stage / "volumes.json", volumes.dump(2) + "\n"); !st) return abandon(st.error());
  if (auto st = write_file_atomically(stage / "predictions.json", summary.dump(2) + "\n"); !st) return abandon(st.error());
  if (auto st = publish(stage, out); !st) return abandon(st.error());
  std::cout << cases.size() << " case(s) segmented → " << (fs::path(a.out) / "predictions.json").string() << "\n";
  return 0;
}

}  // namespace lucent::app
