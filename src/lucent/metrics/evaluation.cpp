#include "lucent/metrics/evaluation.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>
#include <unordered_map>

#include "lucent/metrics/internal/csv_fields.h"
#include "lucent/metrics/ranking.h"

namespace lucent::metrics {
namespace {

using json = nlohmann::ordered_json;

using internal::parse_double;
using internal::parse_int;
using internal::trim;
using internal::where;

std::string columns_of(const CsvTable& t) {
  std::string s;
  for (const auto& h : t.header) s += (s.empty() ? "" : ", ") + h;
  return s;
}

// score_0, score_1, … as long as they are contiguous.
std::vector<int> numbered_columns(const CsvTable& t, const std::string& prefix) {
  std::vector<int> cols;
  for (int k = 0;; ++k) {
    const int c = t.column(prefix + std::to_string(k));
    if (c < 0) break;
    cols.push_back(c);
  }
  return cols;
}

}  // namespace

Result<PredictionSet> match_predictions(const CsvTable& pred, const std::string& pred_source, const CsvTable& truth,
                                        const std::string& truth_source, Task task, const ReadOptions& options) {
  PredictionSet set;
  set.task = task;
  const int pred_id = pred.column("id"), truth_id = truth.column("id");
  if (pred_id < 0)
    return fail(ErrorCode::kInvalidData, pred_source + ": no 'id' column (found: " + columns_of(pred) +
                                             "); the prediction file needs id and score columns");
  if (truth_id < 0)
    return fail(ErrorCode::kInvalidData, truth_source + ": no 'id' column (found: " + columns_of(truth) +
                                             "); the truth file needs id and label columns");

  // Score columns.
  std::vector<int> score_cols;
  if (task == Task::kBinary) {
    const auto numbered = numbered_columns(pred, "score_");
    if (const int c = pred.column("score"); c >= 0) score_cols = {c};
    else if (numbered.size() == 1 || numbered.size() == 2) score_cols = {numbered.back()};
    else if (numbered.size() > 2)
      return fail(ErrorCode::kInvalidData, pred_source + ": " + std::to_string(numbered.size()) +
                                               " score columns for a binary task; use --task multiclass, or give "
                                               "'score' or score_0,score_1");
    set.classes = 2;
  } else {
    score_cols = numbered_columns(pred, "score_");
    if (score_cols.size() < 2)
      return fail(ErrorCode::kInvalidData, pred_source + ": a " + task_name(task) +
                                               " task needs columns score_0 … score_{K-1} with K >= 2, found: " +
                                               columns_of(pred));
    set.classes = static_cast<int>(score_cols.size());
  }
  if (score_cols.empty())
    return fail(ErrorCode::kInvalidData, pred_source + ": no score column (expected 'score' or score_0, score_1; "
                                             "found: " + columns_of(pred) + ")");

  // Label columns.
  std::vector<int> label_cols;
  if (task == Task::kMultilabel) {
    label_cols = numbered_columns(truth, "label_");
    if (label_cols.size() != score_cols.size())
      return fail(ErrorCode::kInvalidData, truth_source + ": " + std::to_string(label_cols.size()) +
                                               " label columns (label_0 …) but " + pred_source + " has " +
                                               std::to_string(score_cols.size()) + " score columns; they must match");
  } else {
    const int c = truth.column("label");
    if (c < 0)
      return fail(ErrorCode::kInvalidData, truth_source + ": no 'label' column (found: " + columns_of(truth) + ")");
    label_cols = {c};
  }
  std::vector<int> subgroup_cols;
  for (const auto& name : options.subgroup_columns) {
    const int c = truth.column(name);
    if (c < 0)
      return fail(ErrorCode::kInvalidArgument, "--subgroup '" + name + "' is not a column of " + truth_source +
                                                   " (columns: " + columns_of(truth) +
                                                   "); name a truth column such as sex, age band or site");
    subgroup_cols.push_back(c);
    set.subgroups.emplace_back(name, std::vector<std::string>{});
  }
  int patient_col = -1;
  if (!options.patient_column.empty()) {
    patient_col = truth.column(options.patient_column);
    if (patient_col < 0)
      return fail(ErrorCode::kInvalidArgument, "--patient-column '" + options.patient_column + "' is not a column of " +
                                                   truth_source + " (columns: " + columns_of(truth) + ")");
  }

  if (pred.rows.empty())
    return fail(ErrorCode::kInvalidData, pred_source + ": no prediction rows (the file is empty below its header)");
  if (truth.rows.empty())
    return fail(ErrorCode::kInvalidData, truth_source + ": no truth rows (the file is empty below its header)");

  // Ids: unique and non-empty in both files, the same set in both.
  auto index_ids = [](const CsvTable& t, int col, const std::string& source) -> Result<std::unordered_map<std::string, std::size_t>> {
    std::unordered_map<std::string, std::size_t> rows;
    for (std::size_t r = 0; r < t.rows.size(); ++r) {
      const std::string& id = t.rows[r][static_cast<std::size_t>(col)];
      if (trim(id).empty())
        return fail(ErrorCode::kInvalidData, source + " line " + std::to_string(t.lines[r]) + ": empty id");
      auto [it, fresh] = rows.try_emplace(id, r);
      if (!fresh)
        return fail(ErrorCode::kInvalidData, where(source, t, r, id) + ": duplicated id (first on line " +
                                                 std::to_string(t.lines[it->second]) + "); each case must appear once");
    }
    return rows;
  };
  auto pred_rows = index_ids(pred, pred_id, pred_source);
  if (!pred_rows) return std::unexpected(pred_rows.error());
  auto truth_rows = index_ids(truth, truth_id, truth_source);
  if (!truth_rows) return std::unexpected(truth_rows.error());
  for (std::size_t r = 0; r < truth.rows.size(); ++r) {
    const std::string& id = truth.rows[r][static_cast<std::size_t>(truth_id)];
    if (!pred_rows->contains(id)) {
      const auto missing = std::count_if(truth.rows.begin(), truth.rows.end(), [&](const auto& row) {
        return !pred_rows->contains(row[static_cast<std::size_t>(truth_id)]);
      });
      return fail(ErrorCode::kInvalidData, where(truth_source, truth, r, id) + ": no prediction for this id in " +
                                               pred_source + " (" + std::to_string(missing) +
                                               " truth id(s) missing); predict every case or drop it from the truth file");
    }
  }
  for (std::size_t r = 0; r < pred.rows.size(); ++r) {
    const std::string& id = pred.rows[r][static_cast<std::size_t>(pred_id)];
    if (!truth_rows->contains(id))
      return fail(ErrorCode::kInvalidData, where(pred_source, pred, r, id) + ": id not in " + truth_source +
                                               "; every prediction needs a truth row");
  }

  const std::size_t n = truth.rows.size();
  set.ids.reserve(n);
  set.scores.reserve(n);
  set.labels.reserve(n);
  for (std::size_t r = 0; r < n; ++r) {
    const std::string& id = truth.rows[r][static_cast<std::size_t>(truth_id)];
    const std::size_t pr = pred_rows->at(id);
    std::vector<double> scores;
    for (int c : score_cols) {
      const std::string& text = pred.rows[pr][static_cast<std::size_t>(c)];
      const auto v = parse_double(text);
      if (!v)
        return fail(ErrorCode::kInvalidData, where(pred_source, pred, pr, id) + ": " + pred.header[static_cast<std::size_t>(c)] +
                                                 " '" + text + "' is not a finite number");
      if (*v < 0 || *v > 1)
        return fail(ErrorCode::kInvalidData, where(pred_source, pred, pr, id) + ": " + pred.header[static_cast<std::size_t>(c)] +
                                                 " = " + text + " is not a probability in [0, 1]; pass probabilities "
                                                 "(softmax or sigmoid outputs), not logits");
      scores.push_back(*v);
    }
    std::vector<int> labels;
    const int top = task == Task::kMultilabel || task == Task::kBinary ? 1 : set.classes - 1;
    for (int c : label_cols) {
      const std::string& text = truth.rows[r][static_cast<std::size_t>(c)];
      const auto v = parse_int(text);
      if (!v || *v < 0 || *v > top)
        return fail(ErrorCode::kInvalidData, where(truth_source, truth, r, id) + ": " +
                                                 truth.header[static_cast<std::size_t>(c)] + " '" + text +
                                                 "' is not a class in 0.." + std::to_string(top) +
                                                 (task == Task::kMultilabel || task == Task::kBinary
                                                      ? ""
                                                      : " (" + pred_source + " has " + std::to_string(set.classes) +
                                                            " score columns)"));
      labels.push_back(*v);
    }
    if (patient_col >= 0) {
      const std::string& p = truth.rows[r][static_cast<std::size_t>(patient_col)];
      if (trim(p).empty())
        return fail(ErrorCode::kInvalidData, where(truth_source, truth, r, id) + ": empty " + options.patient_column +
                                                 "; every case needs a patient id when --patient-column is given");
      set.patients.push_back(p);
    }
    for (std::size_t g = 0; g < subgroup_cols.size(); ++g) {
      const std::string_view v = trim(truth.rows[r][static_cast<std::size_t>(subgroup_cols[g])]);
      set.subgroups[g].second.emplace_back(v.empty() ? std::string(kMissingSubgroup) : std::string(v));
    }
    set.ids.push_back(id);
    set.scores.push_back(std::move(scores));
    set.labels.push_back(std::move(labels));
  }
  return set;
}

Result<PredictionSet> read_prediction_files(const std::filesystem::path& pred, const std::filesystem::path& truth,
                                            Task task, const ReadOptions& options) {
  auto p = read_csv(pred);
  if (!p) return std::unexpected(p.error().with_context("predictions"));
  auto t = read_csv(truth);
  if (!t) return std::unexpected(t.error().with_context("truth"));
  return match_predictions(*p, pred.string(), *t, truth.string(), task, options);
}

namespace {

MetricValue macro(const std::vector<MetricValue>& values, const std::string& unit) {
  double sum = 0;
  for (std::size_t k = 0; k < values.size(); ++k) {
    if (!values[k]) return MetricValue::undefined(values[k].reason + " for " + unit + " " + std::to_string(k));
    sum += *values[k].value;
  }
  if (values.empty()) return MetricValue::undefined("undefined: no classes");
  return MetricValue::of(sum / static_cast<double>(values.size()));
}

MetricValue pauc_of(const std::vector<RocPoint>& points, double max_fpr) {
  auto r = partial_roc_auc(points, max_fpr);
  return r ? *r : MetricValue::undefined(r.error().message());
}

uint8_t calibration_bin(double p) {
  const double c = std::clamp(p, 0.0, 1.0);
  return static_cast<uint8_t>(std::min(static_cast<int>(std::floor(c * kCalibrationBins)), kCalibrationBins - 1));
}

// ECE of the cases [first, first + n * stride) step `stride` weighted by counts (as calibration()).
struct EceSums {
  double count[kCalibrationBins] = {}, confidence[kCalibrationBins] = {}, outcome[kCalibrationBins] = {};
  double total = 0;
  void add(uint32_t w, uint8_t bin, double conf, uint8_t out) {
    const double wd = w;
    count[bin] += wd;
    confidence[bin] += wd * conf;
    outcome[bin] += out ? wd : 0.0;
    total += wd;
  }
  [[nodiscard]] MetricValue ece() const {
    if (total == 0) return MetricValue::undefined("undefined: no cases");
    double e = 0;
    for (int b = 0; b < kCalibrationBins; ++b)
      if (count[b] > 0) e += count[b] / total * std::abs(outcome[b] / count[b] - confidence[b] / count[b]);
    return MetricValue::of(e);
  }
};

}  // namespace

MetricTable::MetricTable(const PredictionSet& p, double threshold, std::optional<double> max_fpr)
    : task_(p.task), k_(p.classes), n_(p.ids.size()), max_fpr_(max_fpr) {
  const std::size_t n = n_;
  const bool per_label = task_ == Task::kMultilabel;
  const std::size_t k = static_cast<std::size_t>(k_);
  const std::size_t stride = per_label ? k : 1;
  truth_.resize(n * stride);
  decision_.resize(n * stride);
  brier_.resize(n * stride);
  confidence_.resize(n * stride);
  outcome_.resize(n * stride);
  bin_.resize(n * stride);
  for (std::size_t i = 0; i < n; ++i) {
    const auto& s = p.scores[i];
    if (task_ == Task::kBinary || per_label) {
      for (std::size_t c = 0; c < stride; ++c) {
        const std::size_t at = i * stride + c;
        truth_[at] = p.labels[i][c] != 0;
        decision_[at] = s[c] >= threshold;
        const double e = s[c] - truth_[at];
        brier_[at] = e * e;
        confidence_[at] = s[c];
        outcome_[at] = static_cast<uint8_t>(truth_[at]);
      }
    } else {
      truth_[i] = p.labels[i][0];
      decision_[i] = static_cast<int>(std::max_element(s.begin(), s.end()) - s.begin());  // first maximum
      double b = 0;
      for (std::size_t c = 0; c < k; ++c) {
        const double e = s[c] - (truth_[i] == static_cast<int>(c) ? 1.0 : 0.0);
        b += e * e;
      }
      brier_[i] = b;
      confidence_[i] = s[static_cast<std::size_t>(decision_[i])];
      outcome_[i] = decision_[i] == truth_[i];
    }
  }
  for (std::size_t a = 0; a < confidence_.size(); ++a) bin_[a] = calibration_bin(confidence_[a]);

  const std::size_t columns = task_ == Task::kBinary ? 1 : k;
  columns_.resize(columns);
  for (std::size_t c = 0; c < columns; ++c) {
    Column& col = columns_[c];
    std::vector<double> score(n);
    for (std::size_t i = 0; i < n; ++i) score[i] = p.scores[i][c];
    col.order.resize(n);
    std::iota(col.order.begin(), col.order.end(), 0u);
    std::stable_sort(col.order.begin(), col.order.end(), [&](uint32_t a, uint32_t b) { return score[a] > score[b]; });
    col.positive.resize(n);
    for (std::size_t j = 0; j < n; ++j) {
      const std::size_t i = col.order[j];
      col.positive[j] = task_ == Task::kBinary ? truth_[i] != 0
                        : per_label            ? truth_[i * k + c] != 0
                                               : truth_[i] == static_cast<int>(c);
      if (j + 1 == n || score[col.order[j + 1]] != score[i]) {
        col.group_end.push_back(static_cast<uint32_t>(j + 1));
        col.group_score.push_back(score[i]);
      }
    }
  }
  if (task_ == Task::kBinary) {
    // Binary: keep the per-case values in score order so that compute() makes one pass.
    const auto& order = columns_[0].order;
    auto permute = [&](auto& v) {
      auto copy = v;
      for (std::size_t j = 0; j < n; ++j) v[j] = copy[order[j]];
    };
    permute(truth_);
    permute(decision_);
    permute(brier_);
    permute(confidence_);
    permute(outcome_);
    permute(bin_);
  }
}

namespace {

// roc_points() of the weighted sample: the same points (integer counts) without sorting.
template <typename Column>
std::vector<RocPoint> weighted_points(const Column& col, const Counts& w) {
  std::vector<RocPoint> points;
  int64_t tp = 0, fp = 0;
  std::size_t j = 0;
  for (std::size_t g = 0; g < col.group_end.size(); ++g) {
    int64_t in_group = 0;
    for (const std::size_t end = col.group_end[g]; j < end; ++j) {
      const uint32_t c = w[col.order[j]];
      if (c == 0) continue;
      (col.positive[j] ? tp : fp) += c;
      in_group += c;
    }
    if (in_group > 0) points.push_back({col.group_score[g], tp, fp});
  }
  return points;
}

}  // namespace

MetricTable::Values MetricTable::compute(const Counts& w) const {
  Values out;
  const std::size_t n = n_;
  const std::size_t k = static_cast<std::size_t>(k_);
  if (task_ == Task::kBinary) {
    // One branch-free pass in score order: counts at the threshold (by category truth * 2 +
    // called), Brier and ECE sums, and the ROC points at the end of each run of equal scores.
    const Column& col = columns_[0];
    const uint32_t* order = col.order.data();
    const uint32_t* weight = w.data();
    const int* truth = truth_.data();
    const int* called = decision_.data();
    const double* sq = brier_.data();
    const double* conf = confidence_.data();
    const uint8_t* bins = bin_.data();
    int64_t by_category[4] = {0, 0, 0, 0};
    double brier = 0;
    double bin_count[kCalibrationBins] = {}, bin_conf[kCalibrationBins] = {}, bin_pos[kCalibrationBins] = {};
    std::vector<RocPoint> points;
    int64_t seen = 0;
    std::size_t j = 0;
    for (std::size_t g = 0; g < col.group_end.size(); ++g) {
      for (const std::size_t end = col.group_end[g]; j < end; ++j) {
        const uint32_t wi = weight[order[j]];
        const double wd = wi;
        by_category[truth[j] * 2 + called[j]] += wi;
        brier += wd * sq[j];
        bin_count[bins[j]] += wd;
        bin_conf[bins[j]] += wd * conf[j];
        bin_pos[bins[j]] += wd * truth[j];
      }
      const int64_t total = by_category[0] + by_category[1] + by_category[2] + by_category[3];
      if (total > seen) points.push_back({col.group_score[g], by_category[2] + by_category[3], by_category[0] + by_category[1]});
      seen = total;
    }
    BinaryCounts c;
    c.tn = by_category[0];
    c.fp = by_category[1];
    c.fn = by_category[2];
    c.tp = by_category[3];
    EceSums ece;
    for (int b = 0; b < kCalibrationBins; ++b) {
      ece.count[b] = bin_count[b];
      ece.confidence[b] = bin_conf[b];
      ece.outcome[b] = bin_pos[b];
      ece.total += bin_count[b];
    }
    const ConfusionMatrix cm{2, {c.tn, c.fp, c.fn, c.tp}};
    out.metrics = {{"auc", roc_auc(points)}};
    if (max_fpr_) out.metrics.emplace_back("pauc", pauc_of(points, *max_fpr_));
    out.metrics.insert(out.metrics.end(), {{"pr_auc", average_precision(points)},
                                           {"acc", accuracy(c)},
                                           {"sensitivity", sensitivity(c)},
                                           {"specificity", specificity(c)},
                                           {"ppv", ppv(c)},
                                           {"npv", npv(c)},
                                           {"f1", f1(c)},
                                           {"balanced_acc", balanced_accuracy(c)},
                                           {"kappa", cohen_kappa(cm, KappaWeights::kNone)},
                                           {"brier", ratio(brier, ece.total, "undefined: no cases")},
                                           {"ece", ece.ece()}});
    out.confusion = {cm};
    return out;
  }
  if (task_ == Task::kMultilabel) {
    std::vector<MetricValue> auc, pauc, ap, acc, se, sp, pp, np, f, ba, br, ec;
    for (std::size_t c = 0; c < k; ++c) {
      BinaryCounts b;
      double brier = 0;
      EceSums ece;
      for (std::size_t i = 0; i < n; ++i) {
        const uint32_t wi = w[i];
        if (wi == 0) continue;
        const std::size_t at = i * k + c;
        if (truth_[at]) (decision_[at] ? b.tp : b.fn) += wi;
        else (decision_[at] ? b.fp : b.tn) += wi;
        brier += wi * brier_[at];
        ece.add(wi, bin_[at], confidence_[at], outcome_[at]);
      }
      const auto points = weighted_points(columns_[c], w);
      auc.push_back(roc_auc(points));
      if (max_fpr_) pauc.push_back(pauc_of(points, *max_fpr_));
      ap.push_back(average_precision(points));
      acc.push_back(accuracy(b));
      se.push_back(sensitivity(b));
      sp.push_back(specificity(b));
      pp.push_back(ppv(b));
      np.push_back(npv(b));
      f.push_back(f1(b));
      ba.push_back(balanced_accuracy(b));
      br.push_back(ratio(brier, ece.total, "undefined: no cases"));
      ec.push_back(ece.ece());
      out.per_class.emplace_back("label_" + std::to_string(c),
                                 NamedValues{{"support", MetricValue::of(static_cast<double>(b.tp + b.fn))},
                                             {"auc", auc.back()},
                                             {"pr_auc", ap.back()},
                                             {"acc", acc.back()},
                                             {"sensitivity", se.back()},
                                             {"specificity", sp.back()},
                                             {"ppv", pp.back()},
                                             {"npv", np.back()},
                                             {"f1", f.back()},
                                             {"balanced_acc", ba.back()},
                                             {"brier", br.back()},
                                             {"ece", ec.back()}});
      out.confusion.push_back(ConfusionMatrix{2, {b.tn, b.fp, b.fn, b.tp}});
    }
    out.metrics = {{"auc", macro(auc, "label")}};
    if (max_fpr_) out.metrics.emplace_back("pauc", macro(pauc, "label"));
    out.metrics.insert(out.metrics.end(), {{"pr_auc", macro(ap, "label")},
                                           {"acc", macro(acc, "label")},
                                           {"sensitivity", macro(se, "label")},
                                           {"specificity", macro(sp, "label")},
                                           {"ppv", macro(pp, "label")},
                                           {"npv", macro(np, "label")},
                                           {"f1", macro(f, "label")},
                                           {"balanced_acc", macro(ba, "label")},
                                           {"brier", macro(br, "label")},
                                           {"ece", macro(ec, "label")}});
    return out;
  }
  // Multiclass and ordinal.
  ConfusionMatrix cm{k_, std::vector<int64_t>(k * k, 0)};
  double brier = 0;
  EceSums ece;
  for (std::size_t i = 0; i < n; ++i) {
    const uint32_t wi = w[i];
    if (wi == 0) continue;
    cm.counts[static_cast<std::size_t>(truth_[i]) * k + static_cast<std::size_t>(decision_[i])] += wi;
    brier += wi * brier_[i];
    ece.add(wi, bin_[i], confidence_[i], outcome_[i]);
  }
  std::vector<MetricValue> auc, pauc, ap, se, sp, pp, np, f;
  for (std::size_t c = 0; c < k; ++c) {
    const BinaryCounts b = one_vs_rest(cm, static_cast<int>(c));
    const auto points = weighted_points(columns_[c], w);
    auc.push_back(roc_auc(points));
    if (max_fpr_) pauc.push_back(pauc_of(points, *max_fpr_));
    ap.push_back(average_precision(points));
    se.push_back(sensitivity(b));
    sp.push_back(specificity(b));
    pp.push_back(ppv(b));
    np.push_back(npv(b));
    f.push_back(f1(b));
    out.per_class.emplace_back(std::to_string(c), NamedValues{{"support", MetricValue::of(static_cast<double>(b.tp + b.fn))},
                                                              {"auc", auc.back()},
                                                              {"pr_auc", ap.back()},
                                                              {"sensitivity", se.back()},
                                                              {"specificity", sp.back()},
                                                              {"ppv", pp.back()},
                                                              {"npv", np.back()},
                                                              {"f1", f.back()}});
  }
  int64_t hits = 0;
  for (int c = 0; c < k_; ++c) hits += cm.at(c, c);
  const MetricValue macro_sensitivity = macro(se, "class");
  out.metrics = {{"auc", macro(auc, "class")}};
  if (max_fpr_) out.metrics.emplace_back("pauc", macro(pauc, "class"));
  out.metrics.insert(out.metrics.end(),
                     {{"pr_auc", macro(ap, "class")},
                      {"acc", ratio(static_cast<double>(hits), ece.total, "undefined: no cases")},
                      {"sensitivity", macro_sensitivity},
                      {"specificity", macro(sp, "class")},
                      {"ppv", macro(pp, "class")},
                      {"npv", macro(np, "class")},
                      {"f1", macro(f, "class")},
                      {"balanced_acc", macro_sensitivity},
                      {"kappa", cohen_kappa(cm, KappaWeights::kNone)}});
  if (task_ == Task::kOrdinal) out.metrics.emplace_back("kappa_quadratic", cohen_kappa(cm, KappaWeights::kQuadratic));
  out.metrics.emplace_back("brier", ratio(brier, ece.total, "undefined: no cases"));
  out.metrics.emplace_back("ece", ece.ece());
  out.confusion = {std::move(cm)};
  return out;
}

std::vector<std::optional<double>> MetricTable::flat(const Counts& counts) const {
  const Values v = compute(counts);
  std::vector<std::optional<double>> out;
  for (const auto& [name, m] : v.metrics) out.push_back(m.value);
  for (const auto& [cls, values] : v.per_class)
    for (const auto& [name, m] : values)
      if (name != "support") out.push_back(m.value);
  return out;
}

namespace {

json value_json(const MetricValue& v) {
  if (v) return *v.value;
  return nullptr;
}

json point_json(const OperatingPoint& op) {
  return {{"threshold", op.threshold},
          {"sensitivity", op.sensitivity},
          {"specificity", op.specificity},
          {"youden_j", op.sensitivity + op.specificity - 1}};
}

Status check_options(const PredictionSet& p, const EvaluationOptions& o) {
  const auto& d = o.decision;
  const int targets = (d.threshold ? 1 : 0) + (d.target_sensitivity ? 1 : 0) + (d.target_specificity ? 1 : 0);
  if (targets > 1)
    return fail(ErrorCode::kInvalidArgument,
                "give at most one of --threshold, --target-sensitivity, --target-specificity");
  if ((p.task == Task::kMulticlass || p.task == Task::kOrdinal) && targets > 0)
    return fail(ErrorCode::kInvalidArgument, "a " + task_name(p.task) +
                                                 " prediction is the arg-max class; --threshold and targets apply to "
                                                 "binary and multilabel tasks only");
  if (p.task == Task::kMultilabel && (d.target_sensitivity || d.target_specificity))
    return fail(ErrorCode::kInvalidArgument,
                "--target-sensitivity/--target-specificity apply to binary tasks; use --threshold for multilabel");
  if (d.threshold && !std::isfinite(*d.threshold))
    return fail(ErrorCode::kInvalidArgument, "--threshold must be a finite number");
  for (const auto& t : {d.target_sensitivity, d.target_specificity})
    if (t && !(*t >= 0 && *t <= 1))
      return fail(ErrorCode::kInvalidArgument, "a target sensitivity/specificity must be in [0, 1], got " + std::to_string(*t));
  if (o.max_fpr && !(*o.max_fpr > 0 && *o.max_fpr <= 1))
    return fail(ErrorCode::kInvalidArgument, "--max-fpr must be in (0, 1], got " + std::to_string(*o.max_fpr));
  if (!(o.bootstrap.confidence > 0 && o.bootstrap.confidence < 1))
    return fail(ErrorCode::kInvalidArgument, "the confidence level must be in (0, 1), got " +
                                                 std::to_string(o.bootstrap.confidence));
  if (o.bootstrap.resamples < 0)
    return fail(ErrorCode::kInvalidArgument, "the number of bootstrap resamples must be >= 0");
  if (p.ids.empty()) return fail(ErrorCode::kInvalidData, "no cases to evaluate");
  return ok();
}


// Calibration curves of the whole set (the reliability diagram of metrics.json).
std::vector<std::pair<std::string, Calibration>> calibration_curves(const PredictionSet& p) {
  std::vector<std::pair<std::string, Calibration>> out;
  const std::size_t n = p.ids.size();
  if (p.task == Task::kBinary || p.task == Task::kMultilabel) {
    for (int c = 0; c < (p.task == Task::kBinary ? 1 : p.classes); ++c) {
      std::vector<double> s(n);
      std::vector<int> y(n);
      for (std::size_t i = 0; i < n; ++i) {
        s[i] = p.scores[i][static_cast<std::size_t>(c)];
        y[i] = p.labels[i][static_cast<std::size_t>(c)];
      }
      out.emplace_back(p.task == Task::kBinary ? "positive" : "label_" + std::to_string(c), calibration(s, y));
    }
    return out;
  }
  std::vector<double> confidence(n);
  std::vector<int> correct(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto& row = p.scores[i];
    const auto best = std::max_element(row.begin(), row.end()) - row.begin();
    confidence[i] = row[static_cast<std::size_t>(best)];
    correct[i] = best == p.labels[i][0];
  }
  out.emplace_back("top_label", calibration(confidence, correct));
  return out;
}

// DeLong interval of one ranking column (score column c against truth), for independent cases.
void delong_into(Estimate& est, const PredictionSet& p, int c, double confidence) {
  std::vector<double> s;
  std::vector<int> y;
  for (std::size_t i = 0; i < p.ids.size(); ++i) {
    s.push_back(p.scores[i][static_cast<std::size_t>(c)]);
    y.push_back(p.task == Task::kBinary || p.task == Task::kMultilabel ? p.labels[i][static_cast<std::size_t>(c)]
                                                                       : p.labels[i][0] == c);
  }
  if (auto dl = delong_auc(s, y)) {
    const auto [lo, hi] = dl->interval(confidence);
    est.ci_low = lo;
    est.ci_high = hi;
    est.ci_method = "delong";
    est.ci_note.clear();
  } else {
    est.ci_low.reset();
    est.ci_high.reset();
    est.ci_method = "none";
    est.ci_note = "no DeLong interval: " + dl.error().message();
  }
}

Estimate estimate_of(const MetricValue& point, const std::vector<Interval>& intervals, std::size_t j) {
  Estimate est;
  est.point = point;
  if (j < intervals.size()) {
    est.ci_low = intervals[j].low;
    est.ci_high = intervals[j].high;
    est.ci_method = intervals[j].low ? intervals[j].method : "none";
    est.ci_note = intervals[j].note;
  }
  return est;
}

}  // namespace

PredictionSet subset(const PredictionSet& p, const std::vector<std::size_t>& rows) {
  PredictionSet s;
  s.task = p.task;
  s.classes = p.classes;
  for (const auto& [name, values] : p.subgroups) s.subgroups.emplace_back(name, std::vector<std::string>{});
  for (std::size_t r : rows) {
    s.ids.push_back(p.ids[r]);
    s.scores.push_back(p.scores[r]);
    s.labels.push_back(p.labels[r]);
    if (!p.patients.empty()) s.patients.push_back(p.patients[r]);
    for (std::size_t g = 0; g < p.subgroups.size(); ++g) s.subgroups[g].second.push_back(p.subgroups[g].second[r]);
  }
  return s;
}

Result<Evaluation> evaluate(const PredictionSet& p, const EvaluationOptions& options) {
  if (auto st = check_options(p, options); !st) return std::unexpected(st.error());
  Evaluation e;
  e.task = p.task;
  e.classes = p.classes;
  e.n = static_cast<int64_t>(p.ids.size());
  e.by_patient = !p.patients.empty();
  e.confidence = options.bootstrap.confidence;
  e.resamples = options.bootstrap.resamples;
  e.seed = options.seed;

  double threshold = 0.5;
  const auto& d = options.decision;
  std::vector<double> s;
  std::vector<int> y;
  if (p.task == Task::kBinary) {
    for (std::size_t i = 0; i < p.ids.size(); ++i) {
      s.push_back(p.scores[i][0]);
      y.push_back(p.labels[i][0]);
    }
  }
  const char* note = "chosen on these data: the sensitivity and specificity at it are optimistic, and their intervals "
                     "are conditional on the threshold";
  if (p.task == Task::kBinary && (d.target_sensitivity || d.target_specificity)) {
    auto op = d.target_sensitivity ? threshold_for_sensitivity(s, y, *d.target_sensitivity)
                                   : threshold_for_specificity(s, y, *d.target_specificity);
    if (!op) return std::unexpected(op.error());
    threshold = op->threshold;
    e.operating_point = point_json(*op);
    e.operating_point["rule"] = d.target_sensitivity ? "target_sensitivity" : "target_specificity";
    e.operating_point["target"] = d.target_sensitivity ? *d.target_sensitivity : *d.target_specificity;
    e.operating_point["note"] = note;
  } else if (p.task == Task::kBinary || p.task == Task::kMultilabel) {
    threshold = d.threshold.value_or(0.5);
    e.operating_point = {{"rule", "threshold"}, {"threshold", threshold}};
  } else {
    e.operating_point = {{"rule", "argmax"}};
  }
  if (p.task == Task::kBinary || p.task == Task::kMultilabel) e.threshold = threshold;
  e.operating_point["positive_when"] = p.task == Task::kBinary || p.task == Task::kMultilabel ? "score >= threshold"
                                                                                               : "class = arg-max score";
  if (p.task == Task::kBinary) {
    const BinaryCounts c = binary_counts(s, y, threshold);
    e.operating_point["sensitivity"] = value_json(sensitivity(c));
    e.operating_point["specificity"] = value_json(specificity(c));
    if (auto yj = youden_threshold(s, y)) {
      e.operating_point["youden"] = point_json(*yj);
      e.operating_point["youden"]["note"] = note;
    } else {
      e.operating_point["youden"] = {{"threshold", nullptr}, {"reason", yj.error().message()}};
    }
  }

  std::vector<int> strata;
  if (p.task != Task::kMultilabel)
    for (const auto& l : p.labels) strata.push_back(l[0]);
  const Resampler resampler = Resampler::make(p.ids.size(), strata, p.patients);
  e.units = static_cast<int64_t>(resampler.units());
  if (options.bootstrap.resamples > 0 && resampler.smallest_stratum() < kSmallStratumUnits)
    e.warnings.push_back("the smallest class stratum holds " + std::to_string(resampler.smallest_stratum()) + " " +
                         (e.by_patient ? "patient(s)" : "case(s)") +
                         ": bootstrap intervals are unreliable (too narrow) with so few; collect more cases");

  const MetricTable table(p, threshold, options.max_fpr);
  const Counts everyone = resampler.unit_counts();
  MetricTable::Values point = table.compute(everyone);
  e.confusion = std::move(point.confusion);
  e.calibration = calibration_curves(p);

  std::vector<Interval> intervals;
  if (options.bootstrap.resamples > 0) {
    const CountStatistics stat = [&](const Counts& w) { return table.flat(w); };
    intervals = bootstrap_intervals(stat, table.flat(everyone), resampler, options.bootstrap, Rng(options.seed));
  }
  // DeLong replaces the bootstrap for the AUC of one binary problem when cases are independent.
  const bool delong = !e.by_patient;
  std::size_t j = 0;
  for (const auto& [name, value] : point.metrics) {
    Estimate est = estimate_of(value, intervals, j++);
    if (name == "auc" && p.task == Task::kBinary && delong && est.point) delong_into(est, p, 0, e.confidence);
    e.metrics.emplace_back(name, std::move(est));
  }
  for (std::size_t c = 0; c < point.per_class.size(); ++c) {
    NamedEstimates values;
    for (const auto& [name, value] : point.per_class[c].second) {
      if (name == "support") {
        Estimate est;
        est.point = value;
        values.emplace_back(name, std::move(est));
        continue;
      }
      Estimate est = estimate_of(value, intervals, j++);
      if (name == "auc" && delong && est.point) delong_into(est, p, static_cast<int>(c), e.confidence);
      values.emplace_back(name, std::move(est));
    }
    e.per_class.emplace_back(point.per_class[c].first, std::move(values));
  }
  return e;
}

namespace {

json estimate_json(const Estimate& est) {
  json m = {{"value", value_json(est.point)},
            {"ci_low", est.ci_low ? json(*est.ci_low) : json(nullptr)},
            {"ci_high", est.ci_high ? json(*est.ci_high) : json(nullptr)},
            {"ci_method", est.ci_method}};
  if (!est.point) m["reason"] = est.point.reason;
  if (!est.ci_note.empty()) m["ci_note"] = est.ci_note;
  return m;
}

}  // namespace

json to_json(const Estimate& est) { return estimate_json(est); }

json to_json(const Evaluation& e) {
  json metrics = json::object();
  for (const auto& [name, est] : e.metrics) metrics[name] = estimate_json(est);
  json per_class = json::object();
  for (const auto& [cls, values] : e.per_class) {
    json c = json::object();
    for (const auto& [name, est] : values) {
      if (name == "support") c[name] = est.point ? json(static_cast<int64_t>(*est.point.value)) : json(nullptr);
      else c[name] = estimate_json(est);
    }
    per_class[cls] = std::move(c);
  }
  json confusion = json::array();
  for (const auto& cm : e.confusion) {
    json rows = json::array();
    for (int t = 0; t < cm.k; ++t) {
      json row = json::array();
      for (int q = 0; q < cm.k; ++q) row.push_back(cm.at(t, q));
      rows.push_back(std::move(row));
    }
    confusion.push_back(std::move(rows));
  }
  json curves = json::object();
  for (const auto& [name, cal] : e.calibration) {
    json pts = json::array();
    for (const auto& b : cal.bins)
      pts.push_back({{"low", b.low}, {"high", b.high}, {"count", b.count},
                     {"mean_confidence", b.count ? json(b.mean_confidence) : json(nullptr)},
                     {"observed", b.count ? json(b.observed) : json(nullptr)}});
    curves[name] = {{"ece", value_json(cal.ece)}, {"mce", value_json(cal.mce)}, {"curve", std::move(pts)}};
  }
  json calibration = {{"binning", std::to_string(kCalibrationBins) + " equal-width bins on [0, 1]; bin = min(floor(" +
                                      std::to_string(kCalibrationBins) + " p), " +
                                      std::to_string(kCalibrationBins - 1) + ")"},
                      {"confidence", e.task == Task::kBinary       ? "positive-class score"
                                     : e.task == Task::kMultilabel ? "each label's score"
                                                                   : "top-label (max) probability"},
                      {"curves", std::move(curves)}};
  for (const auto& [name, est] : e.metrics)
    if (name == "brier" || name == "ece") calibration[name] = value_json(est.point);
  json out = {{"task", task_name(e.task)},
              {"n", e.n},
              {"classes", e.classes},
              {"metrics", std::move(metrics)},
              {"per_class", std::move(per_class)},
              {"operating_point", e.operating_point},
              {"calibration", std::move(calibration)},
              {"confusion_matrix", e.task == Task::kMultilabel ? confusion : (confusion.empty() ? json(nullptr) : confusion[0])},
              {"bootstrap",
               {{"resamples", e.resamples},
                {"seed", e.seed},
                {"confidence", e.confidence},
                {"unit", e.by_patient ? "patient" : "case"},
                {"units", e.units},
                {"stratified_by", e.task == Task::kMultilabel ? "none" : "class"}}},
              {"warnings", e.warnings}};
  return out;
}

}  // namespace lucent::metrics
