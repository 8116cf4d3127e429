#include "lucent/metrics/evaluation.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>
#include <unordered_map>

#include "lucent/metrics/ranking.h"

namespace lucent::metrics {
namespace {

using json = nlohmann::ordered_json;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<double> parse_double(std::string_view text) {
  text = trim(text);
  if (text.empty()) return std::nullopt;
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<int> parse_int(std::string_view text) {
  text = trim(text);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  int v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

std::string where(const std::string& source, const CsvTable& t, std::size_t row, const std::string& id) {
  return source + " line " + std::to_string(t.lines[row]) + " (id '" + id + "')";
}

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

using Named = std::vector<std::pair<std::string, MetricValue>>;

MetricValue macro(const std::vector<MetricValue>& values, const std::string& unit) {
  double sum = 0;
  for (std::size_t k = 0; k < values.size(); ++k) {
    if (!values[k]) return MetricValue::undefined(values[k].reason + " for " + unit + " " + std::to_string(k));
    sum += *values[k].value;
  }
  if (values.empty()) return MetricValue::undefined("undefined: no classes");
  return MetricValue::of(sum / static_cast<double>(values.size()));
}

struct Context {
  double threshold = 0.5;            // binary and multilabel decisions
  std::optional<double> max_fpr;
};

// Everything for the cases `idx`; per_class / confusion / calibration are filled when given.
struct Details {
  std::vector<std::pair<std::string, Named>> per_class;
  std::vector<ConfusionMatrix> confusion;
  std::vector<std::pair<std::string, Calibration>> calibration;
};

MetricValue pauc_of(const std::vector<RocPoint>& points, double max_fpr) {
  auto r = partial_roc_auc(points, max_fpr);
  return r ? *r : MetricValue::undefined(r.error().message());
}

Named binary_metrics(const PredictionSet& p, const std::vector<int64_t>& idx, const Context& ctx, Details* details) {
  std::vector<double> s;
  std::vector<int> y;
  s.reserve(idx.size());
  y.reserve(idx.size());
  for (int64_t i : idx) {
    s.push_back(p.scores[static_cast<std::size_t>(i)][0]);
    y.push_back(p.labels[static_cast<std::size_t>(i)][0]);
  }
  const BinaryCounts c = binary_counts(s, y, ctx.threshold);
  const ConfusionMatrix cm{2, {c.tn, c.fp, c.fn, c.tp}};
  Calibration cal = calibration(s, y);
  const auto points = roc_points(s, y);
  Named out = {{"auc", roc_auc(points)}};
  if (ctx.max_fpr) out.emplace_back("pauc", pauc_of(points, *ctx.max_fpr));
  out.insert(out.end(), {{"pr_auc", average_precision(points)},
                         {"acc", accuracy(c)},
                         {"sensitivity", sensitivity(c)},
                         {"specificity", specificity(c)},
                         {"ppv", ppv(c)},
                         {"npv", npv(c)},
                         {"f1", f1(c)},
                         {"balanced_acc", balanced_accuracy(c)},
                         {"kappa", cohen_kappa(cm, KappaWeights::kNone)},
                         {"brier", brier_score(s, y)},
                         {"ece", cal.ece}});
  if (details) {
    details->confusion = {cm};
    details->calibration = {{"positive", std::move(cal)}};
  }
  return out;
}

Named multiclass_metrics(const PredictionSet& p, const std::vector<int64_t>& idx, const Context& ctx, Details* details) {
  const int k = p.classes;
  const std::size_t n = idx.size();
  std::vector<int> y(n), pred(n), correct(n);
  std::vector<double> confidence(n);
  std::vector<std::vector<double>> col(static_cast<std::size_t>(k), std::vector<double>(n));
  double brier_sum = 0;
  for (std::size_t r = 0; r < n; ++r) {
    const auto& row = p.scores[static_cast<std::size_t>(idx[r])];
    y[r] = p.labels[static_cast<std::size_t>(idx[r])][0];
    pred[r] = static_cast<int>(std::max_element(row.begin(), row.end()) - row.begin());  // first maximum
    confidence[r] = row[static_cast<std::size_t>(pred[r])];
    correct[r] = pred[r] == y[r];
    for (int c = 0; c < k; ++c) {
      col[static_cast<std::size_t>(c)][r] = row[static_cast<std::size_t>(c)];
      const double e = row[static_cast<std::size_t>(c)] - (y[r] == c ? 1.0 : 0.0);
      brier_sum += e * e;
    }
  }
  const ConfusionMatrix cm = confusion_matrix(y, pred, k);
  std::vector<MetricValue> auc, pauc, ap, se, sp, pp, np, f;
  for (int c = 0; c < k; ++c) {
    std::vector<int> yc(n);
    for (std::size_t r = 0; r < n; ++r) yc[r] = y[r] == c;
    const BinaryCounts b = one_vs_rest(cm, c);
    const auto points = roc_points(col[static_cast<std::size_t>(c)], yc);
    auc.push_back(roc_auc(points));
    if (ctx.max_fpr) pauc.push_back(pauc_of(points, *ctx.max_fpr));
    ap.push_back(average_precision(points));
    se.push_back(sensitivity(b));
    sp.push_back(specificity(b));
    pp.push_back(ppv(b));
    np.push_back(npv(b));
    f.push_back(f1(b));
    if (details)
      details->per_class.emplace_back(std::to_string(c), Named{{"support", MetricValue::of(static_cast<double>(b.tp + b.fn))},
                                                                {"auc", auc.back()},
                                                                {"pr_auc", ap.back()},
                                                                {"sensitivity", se.back()},
                                                                {"specificity", sp.back()},
                                                                {"ppv", pp.back()},
                                                                {"npv", np.back()},
                                                                {"f1", f.back()}});
  }
  int64_t hits = 0;
  for (int c = 0; c < k; ++c) hits += cm.at(c, c);
  Calibration cal = calibration(confidence, correct);
  Named out = {{"auc", macro(auc, "class")}};
  if (ctx.max_fpr) out.emplace_back("pauc", macro(pauc, "class"));
  const MetricValue macro_sensitivity = macro(se, "class");
  out.insert(out.end(), {{"pr_auc", macro(ap, "class")},
                         {"acc", ratio(static_cast<double>(hits), static_cast<double>(n), "undefined: no cases")},
                         {"sensitivity", macro_sensitivity},
                         {"specificity", macro(sp, "class")},
                         {"ppv", macro(pp, "class")},
                         {"npv", macro(np, "class")},
                         {"f1", macro(f, "class")},
                         {"balanced_acc", macro_sensitivity},
                         {"kappa", cohen_kappa(cm, KappaWeights::kNone)}});
  if (p.task == Task::kOrdinal) out.emplace_back("kappa_quadratic", cohen_kappa(cm, KappaWeights::kQuadratic));
  out.emplace_back("brier", ratio(brier_sum, static_cast<double>(n), "undefined: no cases"));
  out.emplace_back("ece", cal.ece);
  if (details) {
    details->confusion = {cm};
    details->calibration = {{"top_label", std::move(cal)}};
  }
  return out;
}

Named multilabel_metrics(const PredictionSet& p, const std::vector<int64_t>& idx, const Context& ctx, Details* details) {
  const int k = p.classes;
  const std::size_t n = idx.size();
  std::vector<MetricValue> auc, pauc, ap, acc, se, sp, pp, np, f, ba, br, ec;
  for (int c = 0; c < k; ++c) {
    std::vector<double> s(n);
    std::vector<int> y(n);
    for (std::size_t r = 0; r < n; ++r) {
      s[r] = p.scores[static_cast<std::size_t>(idx[r])][static_cast<std::size_t>(c)];
      y[r] = p.labels[static_cast<std::size_t>(idx[r])][static_cast<std::size_t>(c)];
    }
    const BinaryCounts b = binary_counts(s, y, ctx.threshold);
    Calibration cal = calibration(s, y);
    const auto points = roc_points(s, y);
    auc.push_back(roc_auc(points));
    if (ctx.max_fpr) pauc.push_back(pauc_of(points, *ctx.max_fpr));
    ap.push_back(average_precision(points));
    acc.push_back(accuracy(b));
    se.push_back(sensitivity(b));
    sp.push_back(specificity(b));
    pp.push_back(ppv(b));
    np.push_back(npv(b));
    f.push_back(f1(b));
    ba.push_back(balanced_accuracy(b));
    br.push_back(brier_score(s, y));
    ec.push_back(cal.ece);
    if (details) {
      const std::string name = "label_" + std::to_string(c);
      details->per_class.emplace_back(name, Named{{"support", MetricValue::of(static_cast<double>(b.tp + b.fn))},
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
      details->confusion.push_back(ConfusionMatrix{2, {b.tn, b.fp, b.fn, b.tp}});
      details->calibration.emplace_back(name, std::move(cal));
    }
  }
  Named out = {{"auc", macro(auc, "label")}};
  if (ctx.max_fpr) out.emplace_back("pauc", macro(pauc, "label"));
  out.insert(out.end(), {{"pr_auc", macro(ap, "label")},
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

Named all_metrics(const PredictionSet& p, const std::vector<int64_t>& idx, const Context& ctx, Details* details) {
  switch (p.task) {
    case Task::kBinary: return binary_metrics(p, idx, ctx, details);
    case Task::kMultilabel: return multilabel_metrics(p, idx, ctx, details);
    case Task::kMulticlass:
    case Task::kOrdinal: return multiclass_metrics(p, idx, ctx, details);
  }
  return {};
}

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

}  // namespace

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

  Context ctx;
  ctx.max_fpr = options.max_fpr;
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
    ctx.threshold = op->threshold;
    e.operating_point = point_json(*op);
    e.operating_point["rule"] = d.target_sensitivity ? "target_sensitivity" : "target_specificity";
    e.operating_point["target"] = d.target_sensitivity ? *d.target_sensitivity : *d.target_specificity;
    e.operating_point["note"] = note;
  } else if (p.task == Task::kBinary || p.task == Task::kMultilabel) {
    ctx.threshold = d.threshold.value_or(0.5);
    e.operating_point = {{"rule", "threshold"}, {"threshold", ctx.threshold}};
  } else {
    e.operating_point = {{"rule", "argmax"}};
  }
  e.operating_point["positive_when"] = p.task == Task::kBinary || p.task == Task::kMultilabel ? "score >= threshold"
                                                                                               : "class = arg-max score";
  if (p.task == Task::kBinary) {
    const BinaryCounts c = binary_counts(s, y, ctx.threshold);
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

  Details details;
  const auto all = resampler.all_cases();
  const Named point = all_metrics(p, all, ctx, &details);
  e.per_class = std::move(details.per_class);
  e.confusion = std::move(details.confusion);
  e.calibration = std::move(details.calibration);

  std::vector<Interval> intervals;
  if (options.bootstrap.resamples > 0) {
    std::vector<std::optional<double>> estimate;
    for (const auto& [name, v] : point) estimate.push_back(v.value);
    const Statistics stat = [&](const std::vector<int64_t>& cases) {
      std::vector<std::optional<double>> out;
      for (const auto& [name, v] : all_metrics(p, cases, ctx, nullptr)) out.push_back(v.value);
      return out;
    };
    intervals = bootstrap_intervals(stat, estimate, resampler, options.bootstrap, Rng(options.seed));
  }
  for (std::size_t j = 0; j < point.size(); ++j) {
    Estimate est;
    est.point = point[j].second;
    const bool delong = point[j].first == "auc" && p.task == Task::kBinary && !e.by_patient;
    if (delong && est.point) {
      if (auto dl = delong_auc(s, y)) {
        const auto [lo, hi] = dl->interval(options.bootstrap.confidence);
        est.ci_low = lo;
        est.ci_high = hi;
        est.ci_method = "delong";
      } else {
        est.ci_note = "no DeLong interval: " + dl.error().message();
      }
    } else if (j < intervals.size()) {
      est.ci_low = intervals[j].low;
      est.ci_high = intervals[j].high;
      est.ci_method = intervals[j].low ? intervals[j].method : "none";
      est.ci_note = intervals[j].note;
    }
    e.metrics.emplace_back(point[j].first, std::move(est));
  }
  return e;
}

json to_json(const Evaluation& e) {
  json metrics = json::object();
  for (const auto& [name, est] : e.metrics) {
    json m = {{"value", value_json(est.point)},
              {"ci_low", est.ci_low ? json(*est.ci_low) : json(nullptr)},
              {"ci_high", est.ci_high ? json(*est.ci_high) : json(nullptr)},
              {"ci_method", est.ci_method}};
    if (!est.point) m["reason"] = est.point.reason;
    if (!est.ci_note.empty()) m["ci_note"] = est.ci_note;
    metrics[name] = std::move(m);
  }
  json per_class = json::object();
  for (const auto& [cls, values] : e.per_class) {
    json c = json::object();
    for (const auto& [name, v] : values) {
      c[name] = value_json(v);
      if (!v) c[name + "_reason"] = v.reason;
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
