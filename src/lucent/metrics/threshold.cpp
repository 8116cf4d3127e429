#include "lucent/metrics/threshold.h"

#include <cmath>
#include <limits>
#include <string>

#include "lucent/metrics/ranking.h"

namespace lucent::metrics {

int64_t ConfusionMatrix::total() const {
  int64_t n = 0;
  for (int64_t c : counts) n += c;
  return n;
}

ConfusionMatrix confusion_matrix(const std::vector<int>& truth, const std::vector<int>& predicted, int k) {
  ConfusionMatrix cm{k, std::vector<int64_t>(static_cast<std::size_t>(k) * static_cast<std::size_t>(k), 0)};
  for (std::size_t i = 0; i < truth.size() && i < predicted.size(); ++i) {
    if (truth[i] < 0 || truth[i] >= k || predicted[i] < 0 || predicted[i] >= k) continue;
    ++cm.counts[static_cast<std::size_t>(truth[i] * k + predicted[i])];
  }
  return cm;
}

BinaryCounts binary_counts(const std::vector<double>& scores, const std::vector<int>& truth, double threshold) {
  BinaryCounts c;
  for (std::size_t i = 0; i < scores.size() && i < truth.size(); ++i) {
    const bool called = scores[i] >= threshold, positive = truth[i] != 0;
    if (positive) (called ? c.tp : c.fn) += 1;
    else (called ? c.fp : c.tn) += 1;
  }
  return c;
}

BinaryCounts one_vs_rest(const ConfusionMatrix& cm, int c) {
  BinaryCounts b;
  for (int t = 0; t < cm.k; ++t)
    for (int p = 0; p < cm.k; ++p) {
      const int64_t n = cm.at(t, p);
      if (t == c) (p == c ? b.tp : b.fn) += n;
      else (p == c ? b.fp : b.tn) += n;
    }
  return b;
}

namespace {
double d(int64_t x) { return static_cast<double>(x); }
}  // namespace

MetricValue sensitivity(const BinaryCounts& c) {
  return ratio(d(c.tp), d(c.tp + c.fn), "undefined: no positive case");
}
MetricValue specificity(const BinaryCounts& c) {
  return ratio(d(c.tn), d(c.tn + c.fp), "undefined: no negative case");
}
MetricValue ppv(const BinaryCounts& c) {
  return ratio(d(c.tp), d(c.tp + c.fp), "undefined: no case called positive");
}
MetricValue npv(const BinaryCounts& c) {
  return ratio(d(c.tn), d(c.tn + c.fn), "undefined: no case called negative");
}
MetricValue f1(const BinaryCounts& c) {
  // 2TP / (2TP + FP + FN) equals 2PR / (P + R) whenever both are defined and not both zero.
  if (c.tp + c.fn == 0) return MetricValue::undefined("undefined: no positive case");
  if (c.tp + c.fp == 0) return MetricValue::undefined("undefined: no case called positive");
  return MetricValue::of(2.0 * d(c.tp) / (2.0 * d(c.tp) + d(c.fp) + d(c.fn)));
}
MetricValue balanced_accuracy(const BinaryCounts& c) {
  const auto se = sensitivity(c), sp = specificity(c);
  if (!se) return se;
  if (!sp) return sp;
  return MetricValue::of((*se.value + *sp.value) / 2.0);
}
MetricValue accuracy(const BinaryCounts& c) {
  return ratio(d(c.tp + c.tn), d(c.tp + c.tn + c.fp + c.fn), "undefined: no cases");
}

MetricValue cohen_kappa(const ConfusionMatrix& cm, KappaWeights weights) {
  const int k = cm.k;
  const double n = d(cm.total());
  if (n == 0) return MetricValue::undefined("undefined: no cases");
  std::vector<double> rows(static_cast<std::size_t>(k), 0), cols(static_cast<std::size_t>(k), 0);
  for (int t = 0; t < k; ++t)
    for (int p = 0; p < k; ++p) {
      rows[static_cast<std::size_t>(t)] += d(cm.at(t, p));
      cols[static_cast<std::size_t>(p)] += d(cm.at(t, p));
    }
  double observed = 0, expected = 0;
  for (int t = 0; t < k; ++t)
    for (int p = 0; p < k; ++p) {
      const double w = weights == KappaWeights::kNone ? (t == p ? 0.0 : 1.0) : d((t - p) * (t - p));
      observed += w * d(cm.at(t, p));
      expected += w * rows[static_cast<std::size_t>(t)] * cols[static_cast<std::size_t>(p)] / n;
    }
  if (expected == 0)
    return MetricValue::undefined("undefined: chance agreement is perfect (truth and predictions each hold one class)");
  return MetricValue::of(1.0 - observed / expected);
}

namespace {

struct Curve {
  std::vector<RocPoint> points;
  int64_t positives = 0, negatives = 0;
};

Result<Curve> curve_of(const std::vector<double>& scores, const std::vector<int>& truth, const char* what) {
  if (scores.size() != truth.size())
    return fail(ErrorCode::kInvalidArgument, std::string(what) + ": " + std::to_string(scores.size()) +
                                                 " scores but " + std::to_string(truth.size()) + " labels");
  Curve c{roc_points(scores, truth)};
  if (!c.points.empty()) {
    c.positives = c.points.back().true_positives;
    c.negatives = c.points.back().false_positives;
  }
  if (c.positives == 0 || c.negatives == 0)
    return fail(ErrorCode::kInvalidArgument, std::string(what) + " is undefined: only one class present (" +
                                                 std::to_string(c.positives) + " positive, " +
                                                 std::to_string(c.negatives) + " negative cases)");
  return c;
}

OperatingPoint point_of(const Curve& c, const RocPoint& p) {
  return {p.threshold, d(p.true_positives) / d(c.positives), 1.0 - d(p.false_positives) / d(c.negatives)};
}

Status check_target(double target, const char* what) {
  if (!(target >= 0 && target <= 1))
    return fail(ErrorCode::kInvalidArgument, std::string("target ") + what + " must be in [0, 1], got " +
                                                 std::to_string(target));
  return ok();
}

}  // namespace

Result<OperatingPoint> threshold_for_sensitivity(const std::vector<double>& scores, const std::vector<int>& truth,
                                                 double target) {
  if (auto st = check_target(target, "sensitivity"); !st) return std::unexpected(st.error());
  auto c = curve_of(scores, truth, "threshold for a target sensitivity");
  if (!c) return std::unexpected(c.error());
  // Points run from the highest threshold down; sensitivity only grows. The lowest threshold
  // reaches sensitivity 1, so a point is always found.
  for (const auto& p : c->points)
    if (d(p.true_positives) / d(c->positives) >= target) return point_of(*c, p);
  return point_of(*c, c->points.back());
}

Result<OperatingPoint> threshold_for_specificity(const std::vector<double>& scores, const std::vector<int>& truth,
                                                 double target) {
  if (auto st = check_target(target, "specificity"); !st) return std::unexpected(st.error());
  auto c = curve_of(scores, truth, "threshold for a target specificity");
  if (!c) return std::unexpected(c.error());
  // Specificity falls as the threshold falls: keep the last (lowest) point that still reaches it.
  const RocPoint above_all{std::nextafter(c->points.front().threshold, std::numeric_limits<double>::infinity()), 0, 0};
  RocPoint best = above_all;
  for (const auto& p : c->points) {
    if (1.0 - d(p.false_positives) / d(c->negatives) >= target) best = p;
    else break;
  }
  return point_of(*c, best);
}

Result<OperatingPoint> youden_threshold(const std::vector<double>& scores, const std::vector<int>& truth) {
  auto c = curve_of(scores, truth, "Youden's J");
  if (!c) return std::unexpected(c.error());
  // J = tp/P - fp/N; compared exactly as tp*N - fp*P so that ties are ties.
  const RocPoint* best = &c->points.front();
  auto j_scaled = [&](const RocPoint& p) { return p.true_positives * c->negatives - p.false_positives * c->positives; };
  for (const auto& p : c->points)
    if (j_scaled(p) > j_scaled(*best)) best = &p;
  return point_of(*c, *best);
}

}  // namespace lucent::metrics
