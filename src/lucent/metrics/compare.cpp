#include "lucent/metrics/compare.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "lucent/metrics/ranking.h"

namespace lucent::metrics {
namespace {

using json = nlohmann::ordered_json;

json optional_json(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

// Structural components of one model (Sun & Xu 2014): V10 over positives, V01 over negatives.
void components(const std::vector<double>& pos, const std::vector<double>& neg, std::vector<double>& v10,
                std::vector<double>& v01) {
  std::vector<double> all = pos;
  all.insert(all.end(), neg.begin(), neg.end());
  const auto rx = midranks(pos), ry = midranks(neg), rz = midranks(all);
  const double m = static_cast<double>(pos.size()), n = static_cast<double>(neg.size());
  v10.resize(pos.size());
  v01.resize(neg.size());
  for (std::size_t i = 0; i < pos.size(); ++i) v10[i] = (rz[i] - rx[i]) / n;
  for (std::size_t j = 0; j < neg.size(); ++j) v01[j] = 1.0 - (rz[pos.size() + j] - ry[j]) / m;
}

double mean(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size()); }

// Sample covariance (divisor size − 1).
double covariance(const std::vector<double>& x, const std::vector<double>& y) {
  const double mx = mean(x), my = mean(y);
  double s = 0;
  for (std::size_t i = 0; i < x.size(); ++i) s += (x[i] - mx) * (y[i] - my);
  return s / static_cast<double>(x.size() - 1);
}

// Which cases each model gets right at its decision rule.
std::vector<bool> correct(const PredictionSet& p, std::optional<double> threshold) {
  std::vector<bool> out(p.ids.size());
  for (std::size_t i = 0; i < p.ids.size(); ++i) {
    const auto& row = p.scores[i];
    if (p.task == Task::kBinary) {
      out[i] = (row[0] >= threshold.value_or(0.5)) == (p.labels[i][0] != 0);
    } else {
      const auto best = std::max_element(row.begin(), row.end()) - row.begin();
      out[i] = best == p.labels[i][0];
    }
  }
  return out;
}

}  // namespace

Result<PairedPredictions> read_paired_files(const std::filesystem::path& pred_a, const std::filesystem::path& pred_b,
                                            const std::filesystem::path& truth, Task task, const ReadOptions& options) {
  auto t = read_csv(truth);
  if (!t) return std::unexpected(t.error().with_context("truth"));
  PairedPredictions pair;
  pair.name_a = pred_a.string();
  pair.name_b = pred_b.string();
  for (const auto& [path, out] : {std::pair{&pred_a, &pair.a}, std::pair{&pred_b, &pair.b}}) {
    auto p = read_csv(*path);
    if (!p) return std::unexpected(p.error().with_context("predictions"));
    auto set = match_predictions(*p, path->string(), *t, truth.string(), task, options);
    if (!set) return std::unexpected(set.error());
    *out = std::move(*set);
  }
  if (pair.a.classes != pair.b.classes)
    return fail(ErrorCode::kInvalidData, pred_a.string() + " has " + std::to_string(pair.a.classes) + " classes but " +
                                             pred_b.string() + " has " + std::to_string(pair.b.classes) +
                                             "; compare models of the same task and classes");
  return pair;
}

Result<DelongComparison> delong_compare(const std::vector<double>& a, const std::vector<double>& b,
                                        const std::vector<int>& truth, double confidence) {
  if (a.size() != truth.size() || b.size() != truth.size())
    return fail(ErrorCode::kInvalidArgument, "DeLong comparison: " + std::to_string(a.size()) + " and " +
                                                 std::to_string(b.size()) + " scores but " +
                                                 std::to_string(truth.size()) + " labels");
  std::vector<double> pos_a, neg_a, pos_b, neg_b;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    (truth[i] != 0 ? pos_a : neg_a).push_back(a[i]);
    (truth[i] != 0 ? pos_b : neg_b).push_back(b[i]);
  }
  if (pos_a.size() < 2 || neg_a.size() < 2)
    return fail(ErrorCode::kInvalidArgument, "the DeLong test needs at least 2 positive and 2 negative cases, found " +
                                                 std::to_string(pos_a.size()) + " and " + std::to_string(neg_a.size()));
  std::vector<double> v10a, v01a, v10b, v01b;
  components(pos_a, neg_a, v10a, v01a);
  components(pos_b, neg_b, v10b, v01b);
  DelongComparison d;
  d.positives = static_cast<int64_t>(pos_a.size());
  d.negatives = static_cast<int64_t>(neg_a.size());
  d.auc_a = mean(v10a);
  d.auc_b = mean(v10b);
  d.difference = d.auc_a - d.auc_b;
  const double m = static_cast<double>(d.positives), n = static_cast<double>(d.negatives);
  d.variance = (covariance(v10a, v10a) + covariance(v10b, v10b) - 2 * covariance(v10a, v10b)) / m +
               (covariance(v01a, v01a) + covariance(v01b, v01b) - 2 * covariance(v01a, v01b)) / n;
  d.variance = std::max(d.variance, 0.0);
  const double half = normal_quantile(1.0 - (1.0 - confidence) / 2.0) * std::sqrt(d.variance);
  d.ci_low = std::max(-1.0, d.difference - half);
  d.ci_high = std::min(1.0, d.difference + half);
  if (d.variance > 0) {
    d.z = d.difference / std::sqrt(d.variance);
    d.p_value = std::erfc(std::abs(*d.z) / std::sqrt(2.0));
  } else {
    d.p_value = d.difference == 0 ? 1.0 : 0.0;
  }
  return d;
}

McNemar mcnemar(const std::vector<bool>& a, const std::vector<bool>& b) {
  McNemar m;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (a[i] && b[i]) ++m.both_right;
    else if (a[i]) ++m.a_only;
    else if (b[i]) ++m.b_only;
    else ++m.both_wrong;
  }
  const int64_t discordant = m.a_only + m.b_only;
  if (discordant < kMcNemarExactBelow) {
    // P(X <= k), X ~ Bin(d, 1/2), by summing exact binomial coefficients (d < 25: no overflow).
    m.method = "exact_binomial";
    const int64_t k = std::min(m.a_only, m.b_only);
    double coefficient = 1, tail = 0;
    for (int64_t i = 0; i <= k; ++i) {
      tail += coefficient;
      coefficient = coefficient * static_cast<double>(discordant - i) / static_cast<double>(i + 1);
    }
    m.p_value = std::min(1.0, 2.0 * tail * std::pow(0.5, static_cast<double>(discordant)));
  } else {
    m.method = "chi_square_continuity_corrected";
    const double diff = std::abs(static_cast<double>(m.a_only - m.b_only)) - 1.0;
    m.statistic = diff * diff / static_cast<double>(discordant);
    m.p_value = std::erfc(std::sqrt(*m.statistic / 2.0));  // chi-square survival, 1 degree of freedom
  }
  return m;
}

Result<Comparison> compare(const PairedPredictions& pair, const EvaluationOptions& options) {
  const PredictionSet& a = pair.a;
  const PredictionSet& b = pair.b;
  if (a.ids != b.ids || a.labels != b.labels || a.patients != b.patients || a.task != b.task || a.classes != b.classes)
    return fail(ErrorCode::kInvalidArgument, "the two prediction sets are not scored on the same cases; read them "
                                             "with read_paired_files");
  // Point estimates, option checks and each model's operating point, without resampling.
  EvaluationOptions point_options = options;
  point_options.bootstrap.resamples = 0;
  auto ea = evaluate(a, point_options);
  if (!ea) return std::unexpected(ea.error().with_context(pair.name_a));
  auto eb = evaluate(b, point_options);
  if (!eb) return std::unexpected(eb.error().with_context(pair.name_b));

  Comparison c;
  c.task = a.task;
  c.classes = a.classes;
  c.n = static_cast<int64_t>(a.ids.size());
  c.by_patient = !a.patients.empty();
  c.confidence = options.bootstrap.confidence;
  c.resamples = options.bootstrap.resamples;
  c.seed = options.seed;
  c.name_a = pair.name_a;
  c.name_b = pair.name_b;
  c.decision = {{"rule", ea->operating_point["rule"]}, {"positive_when", ea->operating_point["positive_when"]}};
  if (ea->threshold) {
    c.decision["threshold_a"] = *ea->threshold;
    c.decision["threshold_b"] = *eb->threshold;
  }

  std::vector<int> strata;
  if (a.task != Task::kMultilabel)
    for (const auto& l : a.labels) strata.push_back(l[0]);
  const Resampler resampler = Resampler::make(a.ids.size(), strata, a.patients);
  c.units = static_cast<int64_t>(resampler.units());
  if (options.bootstrap.resamples > 0 && resampler.smallest_stratum() < kSmallStratumUnits)
    c.warnings.push_back("the smallest class stratum holds " + std::to_string(resampler.smallest_stratum()) + " " +
                         (c.by_patient ? "patient(s)" : "case(s)") +
                         ": bootstrap intervals and p-values are unreliable with so few; collect more cases");

  const MetricTable ta(a, ea->threshold.value_or(0.5), options.max_fpr);
  const MetricTable tb(b, eb->threshold.value_or(0.5), options.max_fpr);
  const auto differences = [&](const Counts& w) {
    const auto va = ta.compute(w).metrics, vb = tb.compute(w).metrics;
    std::vector<std::optional<double>> out;
    for (std::size_t j = 0; j < va.size(); ++j)
      out.push_back(va[j].second && vb[j].second ? std::optional(*va[j].second.value - *vb[j].second.value)
                                                 : std::nullopt);
    return out;
  };
  const Counts everyone = resampler.unit_counts();
  const auto estimate = differences(everyone);
  std::vector<Interval> intervals;
  if (options.bootstrap.resamples > 0) {
    BootstrapOptions bo = options.bootstrap;
    bo.null_value = 0.0;
    intervals = bootstrap_intervals(CountStatistics(differences), estimate, resampler, bo, Rng(options.seed));
  }
  const auto pa = ta.compute(everyone).metrics, pb = tb.compute(everyone).metrics;
  for (std::size_t j = 0; j < pa.size(); ++j) {
    PairedDifference d;
    d.metric = pa[j].first;
    d.a = pa[j].second;
    d.b = pb[j].second;
    d.difference = estimate[j];
    if (j < intervals.size()) {
      d.ci_low = intervals[j].low;
      d.ci_high = intervals[j].high;
      d.p_value = intervals[j].low ? intervals[j].p_value : std::nullopt;
      d.ci_method = intervals[j].low ? "paired_" + intervals[j].method : "none";
      d.note = intervals[j].note;
    } else if (options.bootstrap.resamples == 0) {
      d.note = "no interval: --bootstrap 0";
    }
    if (!d.difference && d.note.empty()) d.note = "no difference: the metric is undefined for at least one model";
    c.metrics.push_back(std::move(d));
  }

  if (a.task != Task::kBinary) {
    c.delong_reason = "the DeLong test compares the AUCs of one binary problem; the " + task_name(a.task) +
                      " AUC difference is in the paired bootstrap row";
  } else if (c.by_patient) {
    c.delong_reason = "DeLong assumes independent cases; with --patient-column the AUC difference is tested by the "
                      "patient-level paired bootstrap";
  } else {
    std::vector<double> sa, sb;
    std::vector<int> y;
    for (std::size_t i = 0; i < a.ids.size(); ++i) {
      sa.push_back(a.scores[i][0]);
      sb.push_back(b.scores[i][0]);
      y.push_back(a.labels[i][0]);
    }
    auto d = delong_compare(sa, sb, y, options.bootstrap.confidence);
    if (d) c.delong = *d;
    else c.delong_reason = d.error().message();
  }

  if (a.task == Task::kMultilabel) {
    c.mcnemar_reason = "McNemar compares one right/wrong decision per case; multilabel decisions are compared per "
                       "metric by the paired bootstrap";
  } else {
    c.mcnemar = mcnemar(correct(a, ea->threshold), correct(b, eb->threshold));
    if (c.by_patient)
      c.warnings.push_back("McNemar assumes independent cases; with several cases per patient its p-value is too "
                           "small — prefer the patient-level paired bootstrap of acc");
  }
  return c;
}

json to_json(const Comparison& c) {
  json delong = nullptr;
  if (c.delong) {
    const auto& d = *c.delong;
    delong = {{"auc_a", d.auc_a},       {"auc_b", d.auc_b},     {"difference", d.difference},
              {"ci_low", d.ci_low},     {"ci_high", d.ci_high}, {"variance", d.variance},
              {"z", optional_json(d.z)}, {"p_value", d.p_value}, {"positives", d.positives},
              {"negatives", d.negatives},
              {"method", "DeLong 1988 test for correlated AUCs, Sun & Xu 2014 midrank algorithm"}};
  } else {
    delong = {{"p_value", nullptr}, {"reason", c.delong_reason}};
  }
  json mc = nullptr;
  if (c.mcnemar) {
    const auto& m = *c.mcnemar;
    mc = {{"both_right", m.both_right},
          {"a_right_b_wrong", m.a_only},
          {"a_wrong_b_right", m.b_only},
          {"both_wrong", m.both_wrong},
          {"discordant", m.a_only + m.b_only},
          {"method", m.method},
          {"statistic", optional_json(m.statistic)},
          {"p_value", m.p_value},
          {"rule", "exact binomial when discordant pairs < " + std::to_string(kMcNemarExactBelow) +
                       ", else chi-square with continuity correction"}};
  } else {
    mc = {{"p_value", nullptr}, {"reason", c.mcnemar_reason}};
  }
  json metrics = json::object();
  for (const auto& d : c.metrics) {
    json m = {{"a", d.a ? json(*d.a.value) : json(nullptr)},
              {"b", d.b ? json(*d.b.value) : json(nullptr)},
              {"difference", optional_json(d.difference)},
              {"ci_low", optional_json(d.ci_low)},
              {"ci_high", optional_json(d.ci_high)},
              {"p_value", optional_json(d.p_value)},
              {"ci_method", d.ci_method}};
    if (!d.a) m["a_reason"] = d.a.reason;
    if (!d.b) m["b_reason"] = d.b.reason;
    if (!d.note.empty()) m["ci_note"] = d.note;
    metrics[d.metric] = std::move(m);
  }
  return {{"task", task_name(c.task)},
          {"n", c.n},
          {"classes", c.classes},
          {"models", {{"a", c.name_a}, {"b", c.name_b}, {"difference", "a - b"}}},
          {"decision", c.decision},
          {"delong", std::move(delong)},
          {"mcnemar", std::move(mc)},
          {"metrics", std::move(metrics)},
          {"bootstrap",
           {{"resamples", c.resamples},
            {"seed", c.seed},
            {"confidence", c.confidence},
            {"unit", c.by_patient ? "patient" : "case"},
            {"units", c.units},
            {"stratified_by", c.task == Task::kMultilabel ? "none" : "class"},
            {"paired", "the same resample scores both models"},
            {"p_value", "shift method: (1 + #{|d* - d| >= |d|}) / (B + 1)"}}},
          {"warnings", c.warnings}};
}

}  // namespace lucent::metrics
