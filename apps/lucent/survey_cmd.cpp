// `lucent survey`: Lucent's main job until training lands — read every image under the data
// folder, report what was read and what was refused (and why), and convert the reference CT
// series and brain MR to NIfTI.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <set>

#include "commands.h"
#include "describe.h"
#include "lucent/core/atomic_file.h"
#include "lucent/io/dicom.h"
#include "lucent/io/image_io.h"

namespace lucent::app {
namespace {
namespace fs = std::filesystem;

struct SurveyArgs {
  std::string data;
  std::string out = "out/survey";
  bool all_rows = false;
};

struct Row {
  std::string path;    // relative to the data folder
  std::string folder;  // top-level folder
  bool ok = false;
  ImageSummary summary;
  std::string reason;
};

bool is_documentation(const fs::path& p) {
  static const std::set<std::string> kSkipExt = {".md", ".txt", ".tsv", ".json", ".lut", ".csv"};
  const std::string name = p.filename().string();
  if (name == "SHA256SUMS" || name.starts_with("LICENSE") || name.starts_with("README") || name == "DEBIAN_COPYRIGHT")
    return true;
  return kSkipExt.count(full_extension(p)) > 0;
}

std::string top_folder(const fs::path& rel) { return rel.begin() == rel.end() ? "" : rel.begin()->string(); }

int run_survey(const SurveyArgs& a) {
  const fs::path data = a.data;
  std::error_code ec;
  if (!fs::is_directory(data, ec))
    return report(Error(ErrorCode::kNotFound, "data folder " + data.string() +
                                                  " does not exist; set LUCENT_DATA or pass the folder"));
  fs::create_directories(a.out, ec);
  if (ec) return report(Error(ErrorCode::kIoError, "cannot create output folder " + a.out + ": " + ec.message()));

  const auto t0 = std::chrono::steady_clock::now();
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(data, ec); it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->is_regular_file() && !is_documentation(it->path())) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());

  std::vector<Row> rows;
  rows.reserve(files.size());
  for (const auto& f : files) {
    Row r;
    const fs::path rel = fs::relative(f, data);
    r.path = rel.string();
    r.folder = top_folder(rel);
    if (auto img = io::read_image(f)) {
      r.ok = true;
      r.summary = summarize(*img);
    } else {
      r.reason = img.error().to_string();
    }
    rows.push_back(std::move(r));
  }

  // Per-file table for DICOM and volumes; one line per folder for the large 2-D collections.
  std::cout << "\n== Images under " << data.string() << " ==\n";
  std::cout << std::left << std::setw(64) << "file" << std::setw(12) << "format" << std::setw(16) << "size"
            << std::setw(22) << "spacing (mm)" << std::setw(9) << "dtype" << "modality\n";
  std::map<std::string, std::map<std::string, int>> folder_groups;
  int read = 0, refused = 0;
  for (const auto& r : rows) {
    if (!r.ok) {
      ++refused;
      continue;
    }
    ++read;
    const bool per_file = a.all_rows || r.folder == "dicom" || r.folder == "mricron_ch2_aal" || r.folder == "medmnist";
    if (per_file) {
      std::string p = r.path.size() > 62 ? "…" + r.path.substr(r.path.size() - 60) : r.path;
      std::cout << std::left << std::setw(64) << p << std::setw(12) << r.summary.format << std::setw(16)
                << (r.summary.size + (r.summary.channels > 1 ? "x" + std::to_string(r.summary.channels) + "c" : ""))
                << std::setw(22) << r.summary.spacing << std::setw(9) << r.summary.dtype << r.summary.modality << "\n";
    } else {
      ++folder_groups[r.folder][r.summary.format + " " + r.summary.dtype + " " + std::to_string(r.summary.channels) + "ch"];
    }
  }
  for (const auto& [folder, groups] : folder_groups)
    for (const auto& [kind, n] : groups)
      std::cout << std::left << std::setw(64) << (folder + "/ (" + std::to_string(n) + " files)") << kind << "\n";

  std::cout << "\n== Refused (" << refused << ") ==\n";
  std::map<std::string, int> by_code;
  for (const auto& r : rows) {
    if (r.ok) continue;
    std::cout << "  " << r.path << "\n      " << r.reason << "\n";
    ++by_code[r.reason.substr(0, r.reason.find(':'))];
  }

  // The series view of the DICOM folder: what a multi-file series reads as.
  std::cout << "\n== DICOM series (folders assembled by Series Instance UID) ==\n";
  if (auto scan = io::scan_dicom_folder(data / "dicom")) {
    for (const auto& s : scan->series) {
      if (s.files.size() < 2) continue;
      std::vector<fs::path> paths;
      for (const auto& f : s.files) paths.push_back(f.path);
      auto vol = io::read_dicom_series(paths);
      std::cout << "  " << s.series_instance_uid << "  " << s.modality << "  " << s.files.size() << " files  ";
      if (vol) {
        const auto sm = summarize(*vol);
        std::cout << sm.size << "  " << sm.spacing << " mm\n";
      } else {
        std::cout << "refused: " << vol.error().to_string() << "\n";
      }
    }
  } else {
    std::cout << "  " << scan.error().to_string() << "\n";
  }

  // Conversions the issue asks for.
  std::cout << "\n== Conversions ==\n";
  int failures = 0;
  const std::vector<std::pair<fs::path, std::string>> conversions = {
      {data / "dicom" / "torchio_ct_series", "ct_series.nii.gz"},
      {data / "mricron_ch2_aal" / "ch2.nii.gz", "brain_mr_ch2.nii.gz"},
  };
  for (const auto& [in, name] : conversions) {
    const fs::path target = fs::path(a.out) / name;
    auto img = io::read_image(in);
    Status st = img ? io::write_image(*img, target) : Status(std::unexpected(img.error()));
    if (st) {
      const auto sm = summarize(*img);
      std::cout << "  " << in.string() << " -> " << target.string() << "  (" << sm.size << ", " << sm.spacing
                << " mm, " << sm.dtype << ")\n";
    } else {
      ++failures;
      std::cout << "  FAILED " << in.string() << ": " << st.error().to_string() << "\n";
    }
  }

  // Full listing for machines.
  std::string tsv = "path\tstatus\tformat\tsize\tchannels\tspacing_mm\tdtype\tmodality\treason\n";
  for (const auto& r : rows)
    tsv += r.path + "\t" + (r.ok ? "read" : "refused") + "\t" + r.summary.format + "\t" + r.summary.size + "\t" +
           std::to_string(r.summary.channels) + "\t" + r.summary.spacing + "\t" + r.summary.dtype + "\t" +
           r.summary.modality + "\t" + r.reason + "\n";
  if (auto st = write_file_atomically(fs::path(a.out) / "survey.tsv", tsv); !st) return report(st.error());

  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "\n== Summary ==\n  files examined " << rows.size() << ", read " << read << ", refused " << refused;
  for (const auto& [code, n] : by_code) std::cout << " (" << code << " " << n << ")";
  std::cout << "\n  full listing: " << (fs::path(a.out) / "survey.tsv").string() << "\n  time " << std::fixed
            << std::setprecision(1) << secs << " s\n";
  return failures == 0 ? 0 : error_code_info(ErrorCode::kInvalidData).cli_exit_code;
}

}  // namespace

void add_survey_command(CLI::App& app, Runner& run) {
  auto args = std::make_shared<SurveyArgs>();
  if (const char* env = std::getenv("LUCENT_DATA"); env && *env) args->data = env;
  else args->data = "../shared/data";
  auto* cmd = app.add_subcommand("survey", "Read every image under a data folder; report what was read and refused");
  cmd->add_option("data", args->data, "Data folder (default $LUCENT_DATA or ../shared/data)");
  cmd->add_option("--out", args->out, "Output folder for survey.tsv and the NIfTI conversions");
  cmd->add_flag("--all-rows", args->all_rows, "One row per file for every folder");
  cmd->callback([&run, args] { run = [args] { return run_survey(*args); }; });
}

}  // namespace lucent::app
