#include "lucent/metrics/classification.h"

#include <algorithm>
#include <numeric>

namespace lucent::metrics {

Result<double> binary_auc(const std::vector<double>& scores, const std::vector<int>& truth) {
  if (scores.size() != truth.size())
    return fail(ErrorCode::kInvalidArgument, "AUC: " + std::to_string(scores.size()) + " scores but " +
                                                 std::to_string(truth.size()) + " labels");
  const std::size_t n = scores.size();
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
  // Mid-ranks for ties; AUC = (sum of positive ranks - P(P+1)/2) / (P N).
  double rank_sum = 0;
  std::size_t positives = 0;
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i;
    while (j + 1 < n && scores[order[j + 1]] == scores[order[i]]) ++j;
    const double mid_rank = (static_cast<double>(i) + static_cast<double>(j)) / 2.0 + 1.0;
    for (std::size_t k = i; k <= j; ++k) {
      if (truth[order[k]] != 0) {
        rank_sum += mid_rank;
        ++positives;
      }
    }
    i = j + 1;
  }
  const std::size_t negatives = n - positives;
  if (positives == 0 || negatives == 0)
    return fail(ErrorCode::kInvalidArgument, "AUC is undefined: the labels hold only " +
                                                 std::string(positives == 0 ? "negatives" : "positives"));
  const double p = static_cast<double>(positives);
  return (rank_sum - p * (p + 1) / 2.0) / (p * static_cast<double>(negatives));
}

namespace {

Status check_shapes(const std::vector<std::vector<double>>& probs, const std::vector<std::vector<int>>& labels,
                    Task task) {
  if (probs.empty()) return fail(ErrorCode::kInvalidArgument, "no predictions to score");
  if (probs.size() != labels.size())
    return fail(ErrorCode::kInvalidArgument, std::to_string(probs.size()) + " predictions but " +
                                                 std::to_string(labels.size()) + " labels");
  const std::size_t k = probs.front().size();
  for (std::size_t i = 0; i < probs.size(); ++i) {
    if (probs[i].size() != k)
      return fail(ErrorCode::kInvalidArgument, "prediction row " + std::to_string(i) + " has " +
                                                   std::to_string(probs[i].size()) + " scores, expected " +
                                                   std::to_string(k));
    const std::size_t want = task == Task::kMultilabel ? k : 1;
    if (labels[i].size() != want)
      return fail(ErrorCode::kInvalidArgument, "label row " + std::to_string(i) + " has " +
                                                   std::to_string(labels[i].size()) + " values, expected " +
                                                   std::to_string(want));
    if (task != Task::kMultilabel && (labels[i][0] < 0 || static_cast<std::size_t>(labels[i][0]) >= std::max<std::size_t>(k, 2)))
      return fail(ErrorCode::kInvalidArgument, "label " + std::to_string(labels[i][0]) + " in row " +
                                                   std::to_string(i) + " is outside 0.." + std::to_string(k - 1));
  }
  return ok();
}

double positive_score(const std::vector<double>& row) { return row.back(); }

}  // namespace

Result<double> roc_auc(const std::vector<std::vector<double>>& probs, const std::vector<std::vector<int>>& labels,
                       Task task) {
  if (auto st = check_shapes(probs, labels, task); !st) return std::unexpected(st.error());
  const std::size_t n = probs.size(), k = probs.front().size();
  if (task == Task::kBinary) {
    std::vector<double> s(n);
    std::vector<int> t(n);
    for (std::size_t i = 0; i < n; ++i) {
      s[i] = positive_score(probs[i]);
      t[i] = labels[i][0] != 0;
    }
    return binary_auc(s, t);
  }
  double total = 0;
  for (std::size_t c = 0; c < k; ++c) {
    std::vector<double> s(n);
    std::vector<int> t(n);
    for (std::size_t i = 0; i < n; ++i) {
      s[i] = probs[i][c];
      t[i] = task == Task::kMultilabel ? labels[i][c] != 0 : labels[i][0] == static_cast<int>(c);
    }
    auto auc = binary_auc(s, t);
    if (!auc) return std::unexpected(auc.error().with_context("column " + std::to_string(c)));
    total += *auc;
  }
  return total / static_cast<double>(k);
}

Result<double> accuracy(const std::vector<std::vector<double>>& probs, const std::vector<std::vector<int>>& labels,
                        Task task) {
  if (auto st = check_shapes(probs, labels, task); !st) return std::unexpected(st.error());
  const std::size_t n = probs.size(), k = probs.front().size();
  double correct = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (task == Task::kBinary) {
      correct += ((positive_score(probs[i]) > 0.5) == (labels[i][0] != 0));
    } else if (task == Task::kMultilabel) {
      double row = 0;
      for (std::size_t c = 0; c < k; ++c) row += ((probs[i][c] > 0.5) == (labels[i][c] != 0));
      correct += row / static_cast<double>(k);
    } else {
      const auto best = std::max_element(probs[i].begin(), probs[i].end()) - probs[i].begin();
      correct += (best == labels[i][0]);
    }
  }
  return correct / static_cast<double>(n);
}

}  // namespace lucent::metrics
