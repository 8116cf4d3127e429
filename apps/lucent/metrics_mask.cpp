// `lucent metrics --pred-mask/--truth-mask [--rand]`: reading, matching and checking label maps,
// then writing metrics.json. The metric definitions are in lucent/metrics/segmentation.h and
// lucent/metrics/rand_error.h.
#include "metrics_mask.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "lucent/core/atomic_file.h"
#include "lucent/core/rng.h"
#include "lucent/io/image_io.h"
#include "lucent/metrics/bootstrap.h"
#include "lucent/metrics/evaluation.h"
#include "lucent/metrics/rand_error.h"
#include "lucent/metrics/segmentation.h"

namespace lucent::app {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

struct CasePair {
  std::string id;
  fs::path pred, truth;
};

std::string case_id(const fs::path& p) {
  const std::string name = p.filename().string();
  const std::string ext = full_extension(p);
  return name.substr(0, name.size() - std::min(ext.size(), name.size()));
}

Result<std::vector<fs::path>> list_files(const fs::path& dir, const char* role) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    if (it->is_regular_file(ec)) files.push_back(it->path());
  }
  if (ec) return fail(ErrorCode::kIoError, "cannot list the " + std::string(role) + " folder " + dir.string() + ": " + ec.message());
  if (files.empty())
    return fail(ErrorCode::kNotFound, "the " + std::string(role) + " folder " + dir.string() +
                                          " holds no label-map files; give a folder of .nii.gz/.nrrd/.mha/.png files");
  std::sort(files.begin(), files.end());
  return files;
}

std::string name_list(const std::vector<std::string>& names) {
  std::string s;
  for (std::size_t i = 0; i < names.size() && i < 5; ++i) s += (i ? ", " : "") + names[i];
  if (names.size() > 5) s += ", ... (" + std::to_string(names.size()) + " in all)";
  return s;
}

Result<std::vector<CasePair>> match_cases(const fs::path& pred, const fs::path& truth) {
  std::error_code ec;
  if (!fs::exists(pred, ec))
    return fail(ErrorCode::kNotFound, "prediction " + pred.string() + " does not exist; check --pred-mask");
  if (!fs::exists(truth, ec))
    return fail(ErrorCode::kNotFound, "truth " + truth.string() + " does not exist; check --truth-mask");
  const bool pdir = fs::is_directory(pred, ec), tdir = fs::is_directory(truth, ec);
  if (pdir != tdir)
    return fail(ErrorCode::kInvalidArgument, std::string("--pred-mask ") + pred.string() + " is a " +
                                                 (pdir ? "folder" : "file") + " but --truth-mask " + truth.string() +
                                                 " is a " + (tdir ? "folder" : "file") +
                                                 "; give two files (one case) or two folders (cases matched by file name)");
  if (!pdir) return std::vector<CasePair>{{case_id(truth), pred, truth}};
  auto pf = list_files(pred, "prediction");
  if (!pf) return std::unexpected(pf.error());
  auto tf = list_files(truth, "truth");
  if (!tf) return std::unexpected(tf.error());
  std::map<std::string, fs::path> by_name;
  for (const auto& p : *pf) by_name[p.filename().string()] = p;
  std::vector<CasePair> cases;
  std::vector<std::string> missing;
  for (const auto& t : *tf) {
    const auto it = by_name.find(t.filename().string());
    if (it == by_name.end()) {
      missing.push_back(t.filename().string());
      continue;
    }
    cases.push_back({case_id(t), it->second, t});
    by_name.erase(it);
  }
  if (!missing.empty())
    return fail(ErrorCode::kNotFound, std::to_string(missing.size()) + " truth case(s) in " + truth.string() +
                                          " have no prediction of the same file name in " + pred.string() + ": " +
                                          name_list(missing) + "; predict every case or remove it from the truth folder");
  if (!by_name.empty()) {
    std::vector<std::string> extra;
    for (const auto& [name, _] : by_name) extra.push_back(name);
    return fail(ErrorCode::kInvalidData, std::to_string(extra.size()) + " prediction(s) in " + pred.string() +
                                             " have no truth of the same file name in " + truth.string() + ": " +
                                             name_list(extra) + "; remove them or add their truth");
  }
  return cases;
}

std::string vec_text(const double* v, int n) {
  std::string s = "(";
  for (int i = 0; i < n; ++i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v[i]);
    s += (i ? ", " : "") + std::string(buf);
  }
  return s + ")";
}

// Size, spacing, origin and direction must agree (tolerances absorb float32 header rounding).
Status check_same_grid(const Image& p, const Image& t, const CasePair& c) {
  const auto mismatch = [&](const std::string& what, const std::string& pv, const std::string& tv) {
    return fail(ErrorCode::kInvalidData, "prediction " + c.pred.string() + " and truth " + c.truth.string() +
                                             " differ in " + what + ": prediction " + pv + ", truth " + tv +
                                             "; resample the prediction onto the truth grid (same size, spacing, "
                                             "origin and direction) before scoring");
  };
  if (p.spatial_dims() != t.spatial_dims())
    return mismatch("dimension", std::to_string(p.spatial_dims()) + "-D", std::to_string(t.spatial_dims()) + "-D");
  const int d = t.spatial_dims();
  const auto ps = p.size_ijk(), ts = t.size_ijk();
  if (ps != ts) {
    const double pd[3] = {double(ps[0]), double(ps[1]), double(ps[2])}, td[3] = {double(ts[0]), double(ts[1]), double(ts[2])};
    return mismatch("size (voxels along i, j, k)", vec_text(pd, d), vec_text(td, d));
  }
  const auto& pg = p.geometry;
  const auto& tg = t.geometry;
  for (int i = 0; i < d; ++i)
    if (std::abs(pg.spacing_mm[i] - tg.spacing_mm[i]) > 1e-4 * std::max(1.0, std::abs(tg.spacing_mm[i])))
      return mismatch("spacing (mm)", vec_text(pg.spacing_mm.data(), d), vec_text(tg.spacing_mm.data(), d));
  for (int i = 0; i < 3; ++i)
    if (std::abs(pg.origin_lps[i] - tg.origin_lps[i]) > 1e-3)
      return mismatch("origin (LPS mm)", vec_text(pg.origin_lps.data(), 3), vec_text(tg.origin_lps.data(), 3));
  for (int i = 0; i < 9; ++i)
    if (std::abs(pg.direction[i] - tg.direction[i]) > 1e-4)
      return mismatch("direction (row-major 3x3)", vec_text(pg.direction.data(), 9), vec_text(tg.direction.data(), 9));
  return ok();
}

std::optional<double> value_of(const metrics::MetricValue& v) { return v.value; }

json value_json(const metrics::MetricValue& v) { return v ? json(*v.value) : json(nullptr); }

std::string fixed(const std::optional<double>& v, int digits = 4) {
  if (!v) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, *v);
  return buf;
}

struct CaseResult {
  CasePair files;
  std::map<int64_t, metrics::SegmentationScores> by_label;
};

metrics::SegmentSource segment_source(const std::string& s) {
  return s == "boundary"   ? metrics::SegmentSource::kBoundary
         : s == "interior" ? metrics::SegmentSource::kInterior
                           : metrics::SegmentSource::kLabels;
}

// --rand: one RandScores per case; the mean of each score over the cases where it is defined,
// with bootstrap intervals over cases.
// Values of `stat` on all cases, bootstrap intervals over cases (a.bootstrap resamples; none
// when 0) and the small-sample warning: the per-case summary shared by both mask modes.
struct CaseBootstrap {
  std::vector<std::optional<double>> estimate;
  std::vector<metrics::Interval> intervals;
  std::vector<std::string> warnings;
};
CaseBootstrap case_bootstrap(const metrics::Statistics& stat, std::size_t nc, const MaskMetricsArgs& a) {
  const metrics::Resampler resampler = metrics::Resampler::make(nc, {}, {});
  CaseBootstrap r;
  r.estimate = stat(resampler.all_cases());
  metrics::BootstrapOptions bopts;
  bopts.resamples = a.bootstrap;
  bopts.confidence = a.confidence;
  bopts.method = a.ci == "percentile" ? metrics::CiMethod::kPercentile : metrics::CiMethod::kBca;
  if (a.bootstrap > 0)
    r.intervals = metrics::bootstrap_intervals(stat, r.estimate, resampler, bopts, Rng(static_cast<uint64_t>(a.seed)));
  if (a.bootstrap > 0 && nc < metrics::kSmallStratumUnits)
    r.warnings.push_back("only " + std::to_string(nc) +
                         " case(s): bootstrap intervals over cases are unreliable (too narrow) with so few; score more cases");
  return r;
}

int run_rand_metrics(const MaskMetricsArgs& a, const std::vector<CasePair>& cases) {
  for (const auto* s : {&a.pred_segments, &a.truth_segments})
    if (*s != "labels" && *s != "boundary" && *s != "interior")
      return report(Error(ErrorCode::kInvalidArgument, "--pred-segments / --truth-segments take labels, boundary or "
                                                       "interior; got '" + *s + "'"));
  std::vector<metrics::RandScores> results;
  for (const auto& c : cases) {
    auto p = io::read_image(c.pred);
    if (!p) return report(p.error().with_context("reading prediction " + c.pred.string()));
    auto t = io::read_image(c.truth);
    if (!t) return report(t.error().with_context("reading truth " + c.truth.string()));
    if (auto st = check_same_grid(*p, *t, c); !st) return report(st.error());
    auto s = metrics::rand_scores(*p, *t, segment_source(a.pred_segments), segment_source(a.truth_segments));
    if (!s) return report(s.error().with_context("case " + c.id + " (" + c.pred.string() + " vs " + c.truth.string() + ")"));
    results.push_back(*s);
  }
  const auto& names = metrics::rand_metric_names();
  const std::size_t nc = results.size(), nm = names.size();
  const metrics::Statistics stat = [&](const std::vector<int64_t>& sample) {
    std::vector<std::optional<double>> out(nm);
    for (std::size_t m = 0; m < nm; ++m) {
      double sum = 0;
      int64_t n = 0;
      for (int64_t c : sample)
        if (const auto& v = metrics::rand_metric(results[static_cast<std::size_t>(c)], names[m])) sum += *v.value, ++n;
      if (n > 0) out[m] = sum / static_cast<double>(n);
    }
    return out;
  };
  auto [estimate, intervals, warnings] = case_bootstrap(stat, nc, a);

  json metrics_json = json::object();
  for (std::size_t m = 0; m < nm; ++m) {
    const bool has_ci = m < intervals.size() && intervals[m].low.has_value();
    json e = {{"value", estimate[m] ? json(*estimate[m]) : json(nullptr)},
              {"ci_low", has_ci ? json(*intervals[m].low) : json(nullptr)},
              {"ci_high", has_ci && intervals[m].high ? json(*intervals[m].high) : json(nullptr)},
              {"ci_method", has_ci ? intervals[m].method : std::string("none")}};
    if (m < intervals.size() && !intervals[m].note.empty()) e["ci_note"] = intervals[m].note;
    int64_t defined = 0;
    std::string reason;
    for (const auto& r : results) {
      const auto& v = metrics::rand_metric(r, names[m]);
      if (v) ++defined;
      else if (reason.empty()) reason = v.reason;
    }
    e["cases_defined"] = defined;
    if (!estimate[m]) e["reason"] = "undefined in every case: " + reason;
    metrics_json[names[m]] = std::move(e);
  }
  json per_case = json::array();
  for (std::size_t c = 0; c < nc; ++c) {
    const auto& r = results[c];
    json e = {{"id", cases[c].id},
              {"pred", cases[c].pred.string()},
              {"truth", cases[c].truth.string()},
              {"foreground_voxels", r.foreground_voxels},
              {"truth_segments", r.truth_segments},
              {"pred_segments", r.pred_segments},
              {"pred_background_voxels", r.pred_background_voxels}};
    for (const auto& name : names) {
      const auto& v = metrics::rand_metric(r, name);
      e[name] = value_json(v);
      if (!v) e[name + "_reason"] = v.reason;
    }
    per_case.push_back(std::move(e));
  }
  const json out = {
      {"task", "segment_agreement"},
      {"n", static_cast<int64_t>(nc)},
      {"segments", {{"prediction", a.pred_segments}, {"truth", a.truth_segments}}},
      {"metrics", std::move(metrics_json)},
      {"per_case", std::move(per_case)},
      {"definitions",
       {{"foreground", "only voxels whose true segment id is non-zero count; predicted id 0 there is one segment"},
        {"segments", "labels: the values are ids; boundary: face-connected components of the zero voxels; "
                     "interior: face-connected components of the non-zero voxels (4 neighbours in 2-D, 6 in 3-D)"},
        {"rand", "pairs of distinct voxels: P = sum n_ij^2 - n, T = sum t_i^2 - n, S = sum s_j^2 - n; "
                 "rand_split = P/T, rand_merge = P/S, rand_error = 1 - 2P/(T+S) (scikit-image adapted_rand_error)"},
        {"info", "natural logs: info_split = I/H(pred), info_merge = I/H(truth), info_score = 2I/(H(pred)+H(truth))"},
        {"aggregation", "mean over the cases where the score is defined"}}},
      {"bootstrap",
       {{"resamples", a.bootstrap}, {"seed", a.seed}, {"confidence", a.confidence}, {"unit", "case"},
        {"units", static_cast<int64_t>(nc)}}},
      {"warnings", warnings}};

  std::error_code ec;
  fs::create_directories(a.out, ec);
  if (ec) return report(Error(ErrorCode::kIoError, "cannot create output folder " + a.out + ": " + ec.message()));
  const fs::path path = fs::path(a.out) / "metrics.json";
  if (auto st = write_file_atomically(path, out.dump(2) + "\n"); !st) return report(st.error());

  if (!a.quiet) {
    std::printf("segment agreement (prediction: %s, truth: %s), %zu case(s); %.0f %% intervals over cases\n",
                a.pred_segments.c_str(), a.truth_segments.c_str(), nc, 100 * a.confidence);
    std::printf("  %-12s %10s   %-21s %s\n", "metric", "value", "interval", "method");
    for (std::size_t m = 0; m < nm; ++m) {
      const bool has_ci = m < intervals.size() && intervals[m].low;
      const std::string ci = has_ci ? "[" + fixed(intervals[m].low) + ", " + fixed(intervals[m].high) + "]" : "-";
      std::printf("  %-12s %10s   %-21s %s\n", names[m].c_str(), fixed(estimate[m]).c_str(), ci.c_str(),
                  has_ci ? intervals[m].method.c_str() : "none");
    }
    constexpr std::size_t kShown = 20;
    std::printf("  %-16s %10s %10s %10s %10s %9s %9s\n", "case", "rand_error", "rand_split", "rand_merge", "info_score",
                "truth_seg", "pred_seg");
    for (std::size_t c = 0; c < nc && c < kShown; ++c) {
      const auto& r = results[c];
      std::printf("  %-16s %10s %10s %10s %10s %9lld %9lld\n", cases[c].id.c_str(), fixed(r.rand_error.value).c_str(),
                  fixed(r.rand_split.value).c_str(), fixed(r.rand_merge.value).c_str(), fixed(r.info_score.value).c_str(),
                  static_cast<long long>(r.truth_segments), static_cast<long long>(r.pred_segments));
    }
    if (nc > kShown) std::printf("  ... %zu cases in all (metrics.json)\n", nc);
    for (const auto& w : warnings) std::printf("  warning: %s\n", w.c_str());
    std::printf("metrics: %s\n", path.c_str());
  }
  return 0;
}

}  // namespace

int run_mask_metrics(const MaskMetricsArgs& a) {
  if (!(a.nsd_tolerance_mm >= 0) || !std::isfinite(a.nsd_tolerance_mm))
    return report(Error(ErrorCode::kInvalidArgument, "--nsd-tolerance must be a finite number of mm >= 0"));
  for (int64_t l : a.labels)
    if (l < INT32_MIN || l > INT32_MAX)
      return report(Error(ErrorCode::kInvalidArgument, "--labels: " + std::to_string(l) + " is outside the int32 range"));
  auto cases = match_cases(a.pred, a.truth);
  if (!cases) return report(cases.error());
  if (a.rand) return run_rand_metrics(a, *cases);

  const metrics::SegmentationOptions opts{.nsd_tolerance_mm = a.nsd_tolerance_mm};
  std::vector<CaseResult> results;
  std::set<int64_t> found;
  for (const auto& c : *cases) {
    auto p = io::read_image(c.pred);
    if (!p) return report(p.error().with_context("reading prediction " + c.pred.string()));
    auto t = io::read_image(c.truth);
    if (!t) return report(t.error().with_context("reading truth " + c.truth.string()));
    if (auto st = check_same_grid(*p, *t, c); !st) return report(st.error());
    auto scores = metrics::label_map_scores(*p, *t, a.labels, opts);
    if (!scores) return report(scores.error().with_context("case " + c.id + " (" + c.pred.string() + " vs " + c.truth.string() + ")"));
    CaseResult r{c, {}};
    for (auto& ls : *scores) {
      found.insert(ls.label);
      r.by_label[ls.label] = std::move(ls.scores);
    }
    results.push_back(std::move(r));
  }
  const std::vector<int64_t> labels = a.labels.empty() ? std::vector<int64_t>(found.begin(), found.end()) : a.labels;
  if (labels.empty())
    return report(Error(ErrorCode::kInvalidData, "no non-zero label in any prediction or truth under " + a.pred + " and " +
                                                     a.truth + "; nothing to score (give --labels to score label 0)"));
  for (auto& r : results)
    for (int64_t l : labels)
      if (!r.by_label.contains(l)) r.by_label[l] = metrics::scores_of_empty_masks();

  // values[case][label][metric]
  const auto& names = metrics::segmentation_metric_names();
  const std::size_t nc = results.size(), nl = labels.size(), nm = names.size();
  std::vector<std::optional<double>> values(nc * nl * nm);
  for (std::size_t c = 0; c < nc; ++c)
    for (std::size_t l = 0; l < nl; ++l)
      for (std::size_t m = 0; m < nm; ++m)
        values[(c * nl + l) * nm + m] = value_of(metrics::segmentation_metric(results[c].by_label.at(labels[l]), names[m]));

  // Per class: mean over the cases where the metric is defined; overall: mean of the per-class
  // means (nnU-Net's aggregation). Statistic order: overall metrics, then class by class.
  const metrics::Statistics stat = [&](const std::vector<int64_t>& sample) {
    std::vector<std::optional<double>> out(nm + nl * nm);
    for (std::size_t m = 0; m < nm; ++m) {
      double macro = 0;
      int defined_classes = 0;
      for (std::size_t l = 0; l < nl; ++l) {
        double sum = 0;
        int64_t n = 0;
        for (int64_t c : sample)
          if (const auto& v = values[(static_cast<std::size_t>(c) * nl + l) * nm + m]) sum += *v, ++n;
        if (n == 0) continue;
        out[nm + l * nm + m] = sum / static_cast<double>(n);
        macro += sum / static_cast<double>(n);
        ++defined_classes;
      }
      if (defined_classes > 0) out[m] = macro / defined_classes;
    }
    return out;
  };
  auto [estimate, intervals, warnings] = case_bootstrap(stat, nc, a);

  const auto defined_cases = [&](std::size_t l, std::size_t m) {
    int64_t n = 0;
    for (std::size_t c = 0; c < nc; ++c) n += values[(c * nl + l) * nm + m].has_value();
    return n;
  };
  const auto first_reason = [&](std::size_t l, std::size_t m) {
    for (std::size_t c = 0; c < nc; ++c) {
      const auto& v = metrics::segmentation_metric(results[c].by_label.at(labels[l]), names[m]);
      if (!v) return v.reason;
    }
    return std::string();
  };
  const auto entry = [&](std::size_t k) {
    json e = {{"value", estimate[k] ? json(*estimate[k]) : json(nullptr)},
              {"ci_low", k < intervals.size() && intervals[k].low ? json(*intervals[k].low) : json(nullptr)},
              {"ci_high", k < intervals.size() && intervals[k].high ? json(*intervals[k].high) : json(nullptr)},
              {"ci_method", k < intervals.size() && intervals[k].low ? intervals[k].method : std::string("none")}};
    if (k < intervals.size() && !intervals[k].note.empty()) e["ci_note"] = intervals[k].note;
    return e;
  };

  json metrics_json = json::object();
  for (std::size_t m = 0; m < nm; ++m) {
    json e = entry(m);
    if (!estimate[m]) e["reason"] = "undefined for every case and class (" + first_reason(0, m) + ")";
    metrics_json[names[m]] = std::move(e);
  }
  json per_class = json::object();
  for (std::size_t l = 0; l < nl; ++l) {
    json cls = json::object();
    for (std::size_t m = 0; m < nm; ++m) {
      json e = entry(nm + l * nm + m);
      e["cases_defined"] = defined_cases(l, m);
      if (!estimate[nm + l * nm + m]) e["reason"] = "undefined in every case: " + first_reason(l, m);
      cls[names[m]] = std::move(e);
    }
    per_class[std::to_string(labels[l])] = std::move(cls);
  }
  json per_case = json::array();
  for (const auto& r : results) {
    json lj = json::object();
    for (int64_t label : labels) {
      const auto& s = r.by_label.at(label);
      json v = {{"truth_voxels", s.truth_voxels}, {"pred_voxels", s.pred_voxels}, {"overlap_voxels", s.overlap_voxels}};
      for (const auto& name : names) {
        const auto& mv = metrics::segmentation_metric(s, name);
        v[name] = value_json(mv);
        if (!mv) v[name + "_reason"] = mv.reason;
      }
      lj[std::to_string(label)] = std::move(v);
    }
    per_case.push_back({{"id", r.files.id}, {"pred", r.files.pred.string()}, {"truth", r.files.truth.string()},
                        {"labels", std::move(lj)}});
  }
  json label_list = json::array();
  for (int64_t l : labels) label_list.push_back(l);
  const json out = {
      {"task", "segmentation"},
      {"n", static_cast<int64_t>(nc)},
      {"labels", label_list},
      {"metrics", std::move(metrics_json)},
      {"per_class", std::move(per_class)},
      {"per_case", std::move(per_case)},
      {"definitions",
       {{"nsd_tolerance_mm", a.nsd_tolerance_mm},
        {"surface", "voxels with a face neighbour outside the mask or the image"},
        {"hd95", "max of the two directed 95th percentiles of surface distances (MONAI)"},
        {"assd", "mean of both directed surface-distance sets pooled (MONAI symmetric)"},
        {"empty_masks", "MONAI ignore_empty=False: both empty -> dice = iou = 1, distances undefined"},
        {"aggregation", "per class: mean over cases where defined; overall: mean of the per-class means"}}},
      {"bootstrap",
       {{"resamples", a.bootstrap},
        {"seed", a.seed},
        {"confidence", a.confidence},
        {"unit", "case"},
        {"units", static_cast<int64_t>(nc)}}},
      {"warnings", warnings}};

  std::error_code ec;
  fs::create_directories(a.out, ec);
  if (ec) return report(Error(ErrorCode::kIoError, "cannot create output folder " + a.out + ": " + ec.message()));
  const fs::path path = fs::path(a.out) / "metrics.json";
  if (auto st = write_file_atomically(path, out.dump(2) + "\n"); !st) return report(st.error());

  if (!a.quiet) {
    std::printf("segmentation, %zu case(s), %zu label(s); %.0f %% intervals over cases\n", nc, nl, 100 * a.confidence);
    std::printf("  %-12s %10s   %-21s %s\n", "metric", "value", "interval", "method");
    for (std::size_t m = 0; m < nm; ++m) {
      const bool has_ci = m < intervals.size() && intervals[m].low;
      const std::string ci = has_ci ? "[" + fixed(intervals[m].low) + ", " + fixed(intervals[m].high) + "]" : "-";
      std::printf("  %-12s %10s   %-21s %s\n", names[m].c_str(), fixed(estimate[m]).c_str(), ci.c_str(),
                  has_ci ? intervals[m].method.c_str() : "none");
    }
    std::printf("  %-8s", "label");
    for (const auto& n : names) std::printf(" %11s", n.c_str());
    std::printf("\n");
    for (std::size_t l = 0; l < nl; ++l) {
      std::printf("  %-8lld", static_cast<long long>(labels[l]));
      for (std::size_t m = 0; m < nm; ++m) std::printf(" %11s", fixed(estimate[nm + l * nm + m]).c_str());
      std::printf("\n");
    }
    std::printf("  hd95/assd in mm; nsd at %g mm\n", a.nsd_tolerance_mm);
    for (const auto& w : warnings) std::printf("  warning: %s\n", w.c_str());
    std::printf("metrics: %s\n", path.c_str());
  }
  return 0;
}

}  // namespace lucent::app
