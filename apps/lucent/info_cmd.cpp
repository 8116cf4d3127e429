#include <iostream>

#include "commands.h"
#include "describe.h"
#include "lucent/io/dicom.h"
#include "lucent/io/image_io.h"
#include "lucent/io/npz.h"

namespace lucent::app {
namespace {

struct InfoArgs {
  std::string path;
  bool json = false;
  std::string series;
  std::string policy = "strict";
  std::string split = "test";
  int64_t index = 0;
  bool attributes = false;
};

int run_info(const InfoArgs& a) {
  io::ReadOptions opts;
  opts.series_uid = a.series;
  opts.policy = a.policy == "repair" ? io::SeriesPolicy::kRepair : io::SeriesPolicy::kStrict;
  opts.npz_split = a.split;
  opts.npz_index = a.index;
  opts.keep_dicom_attributes = a.attributes;

  auto format = io::detect_format(a.path);
  if (!format) return report(format.error());
  nlohmann::json j;
  j["path"] = a.path;
  std::ostringstream text;
  text << a.path << "\n";

  if (*format == io::Format::kDicomFolder) {
    auto scan = io::scan_dicom_folder(a.path);
    if (!scan) return report(scan.error());
    j["series_count"] = scan->series.size();
    text << "  series in folder  " << scan->series.size() << "\n";
    for (const auto& s : scan->series) {
      j["series"].push_back({{"series_instance_uid", s.series_instance_uid},
                             {"modality", s.modality},
                             {"description", s.description},
                             {"files", s.files.size()}});
      text << "    " << s.series_instance_uid << "  " << s.modality << "  " << s.files.size() << " file(s)  "
           << s.description << "\n";
    }
    for (const auto& [p, why] : scan->skipped) j["skipped"].push_back({{"path", p.string()}, {"reason", why}});
    if (!scan->skipped.empty()) text << "  skipped files     " << scan->skipped.size() << "\n";
    if (scan->series.size() > 1 && a.series.empty()) {
      text << "  (several series: pass --series UID to describe one)\n";
      if (a.json) std::cout << j.dump(2) << "\n";
      else std::cout << text.str();
      return 0;
    }
  }
  if (*format == io::Format::kNpz) {
    auto arrays = io::read_npz(a.path);
    if (!arrays) return report(arrays.error());
    for (const auto& [name, t] : *arrays) {
      std::vector<int64_t> shape(t.sizes().begin(), t.sizes().end());
      j["arrays"][name] = {{"shape", shape}, {"dtype", std::string(at::toString(t.scalar_type()))}};
      text << "  array " << name << "  " << t.sizes() << " " << t.scalar_type() << "\n";
    }
    text << "  image " << a.split << "[" << a.index << "]:\n";
  }
  auto image = io::read_image(a.path, opts);
  if (!image) return report(image.error());
  if (*format == io::Format::kDicom) {
    if (auto info = io::scan_dicom_file(a.path)) {
      j["transfer_syntax"] = info->transfer_syntax_name;
      j["frames"] = info->frames;
    }
  }
  j["image"] = to_json(*image);
  if (a.json) std::cout << j.dump(2) << "\n";
  else std::cout << text.str() << to_text(*image);
  return 0;
}

}  // namespace

void add_info_command(CLI::App& app, Runner& run) {
  auto args = std::make_shared<InfoArgs>();
  auto* cmd = app.add_subcommand("info", "Describe an image file, DICOM folder or .npz archive");
  cmd->add_option("path", args->path, "File or folder")->required();
  cmd->add_flag("--json", args->json, "Machine-readable output");
  cmd->add_option("--series", args->series, "Series Instance UID to describe in a folder with several");
  cmd->add_option("--policy", args->policy, "Irregular DICOM series: strict (error) or repair (documented fixes)")
      ->check(CLI::IsMember({"strict", "repair"}));
  cmd->add_option("--split", args->split, "MedMNIST split for .npz input")->check(CLI::IsMember({"train", "val", "test"}));
  cmd->add_option("--index", args->index, "Image index within the .npz split");
  cmd->add_flag("--attributes", args->attributes, "Include raw DICOM attributes (JSON)");
  cmd->callback([&run, args] { run = [args] { return run_info(*args); }; });
}

}  // namespace lucent::app
