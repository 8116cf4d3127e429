// The evaluation report: one self-contained HTML file (report.html) that opens offline and shows
// what metrics.json says, with pictures — ROC and precision–recall curves with bootstrap bands
// and the operating point, the reliability diagram, the confusion matrix, the subgroup forest
// plot and the most confident wrong predictions — under a header with the hashes of the data,
// model and bundle it describes. Sections and their definitions: docs/report.md.
//
//   auto set = read_prediction_files(pred, truth, Task::kBinary);
//   auto e = evaluate(*set, options);
//   nlohmann::ordered_json mj = to_json(*e);
//   auto prov = file_provenance({{"predictions", pred}, {"truth", truth}});
//   auto st = write_report(out / "report.html", mj, *set, {.provenance = *prov});
//
// The curves, bands and tables are computed here from the raw scores (the functions of
// ranking.h, calibration.h, bootstrap.h, threshold.h); the metric table, operating point,
// bootstrap settings and subgroups are read from `metrics_json` (the object to_json() makes,
// with an optional "subgroups" section {COL: {VALUE: {"n", "metrics": {name: {value, ci_low,
// ci_high}}}}}; without it the subgroup section says so).
// Charts are Vega-Lite specifications drawn by Vega, Vega-Lite and vega-embed, whose minified
// builds the binary carries (internal/report_assets.h) and inlines: the file loads nothing from
// the network (its Content-Security-Policy forbids it). Every string from the data (ids, column
// values, provenance) travels as JSON inside <script type="application/json"> with <, > and &
// escaped, and is put on the page with textContent, never as markup.
//
// Errors: kInvalidArgument when the predictions are inconsistent (row lengths, image_paths of
// the wrong size); kIoError / whatever the atomic write returns. A missing or unreadable
// thumbnail is not an error (the table says why there is none). Nothing is written on failure
// (atomic write). Thread-safe; the bootstrap runs on LibTorch's intra-op pool.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "lucent/core/error.h"
#include "lucent/metrics/evaluation.h"

namespace lucent::metrics {

struct ReportOptions {
  std::string title = "Lucent evaluation report";
  // Shown in the header as "key: value" rows (nested objects as "key.sub"): hashes of the data,
  // model and bundle, versions, the command line. file_provenance() makes the file hashes.
  nlohmann::ordered_json provenance = nlohmann::ordered_json::object();
  // Empty, or one per case ("" = unknown): PNG/JPEG/GIF files up to max_thumbnail_bytes are
  // embedded as data: URIs in the table of worst errors (the browser scales them down).
  std::vector<std::string> image_paths;
  std::size_t max_thumbnail_bytes = 512 * 1024;
  // Decision threshold of binary/multilabel tasks; default: metrics.json operating_point.threshold,
  // else 0.5.
  std::optional<double> threshold;
  // Bootstrap resamples for the curve bands; default min(metrics.json bootstrap.resamples, 1000);
  // 0 = no bands. The seed and confidence level are those of metrics.json (default 0, 0.95).
  std::optional<int64_t> band_resamples;
  int worst_cases = 20;  // rows in the table of worst errors
};

// The HTML text of the report.
[[nodiscard]] Result<std::string> render_report(const nlohmann::ordered_json& metrics_json,
                                                const PredictionSet& predictions, const ReportOptions& options = {});

// render_report(), written atomically to `html`.
[[nodiscard]] Status write_report(const std::filesystem::path& html, const nlohmann::ordered_json& metrics_json,
                                  const PredictionSet& predictions, const ReportOptions& options = {});

// {NAME: {"file": path as given, "sha256": hex}} for each (NAME, path); kNotFound / kIoError
// naming the file.
[[nodiscard]] Result<nlohmann::ordered_json> file_provenance(
    const std::vector<std::pair<std::string, std::filesystem::path>>& files);

// The image path of each case from a column of the truth CSV (matched by `id`, in `ids` order;
// relative paths are taken relative to the CSV's folder; "" for an empty cell). An empty
// `column` looks for "image", "image_path", "path" or "file" and returns an empty vector when
// there is none. kInvalidArgument when a named column is missing; errors of read_csv.
[[nodiscard]] Result<std::vector<std::string>> image_paths_from_csv(const std::filesystem::path& csv,
                                                                    const std::vector<std::string>& ids,
                                                                    const std::string& column = {});

}  // namespace lucent::metrics
