#include "lucent/metrics/subgroup.h"

#include <gtest/gtest.h>

namespace lucent::metrics {
namespace {

Result<PredictionSet> match(const std::string& pred, const std::string& truth, Task task,
                            std::vector<std::string> subgroups, const std::string& patient = "") {
  auto p = parse_csv(pred, "pred.csv");
  auto t = parse_csv(truth, "truth.csv");
  if (!p) return std::unexpected(p.error());
  if (!t) return std::unexpected(t.error());
  return match_predictions(*p, "pred.csv", *t, "truth.csv", task,
                           {.patient_column = patient, .subgroup_columns = std::move(subgroups)});
}

const Estimate& metric(const Evaluation& e, const std::string& name) {
  for (const auto& [n, est] : e.metrics)
    if (n == name) return est;
  throw std::runtime_error("no metric " + name);
}

// F: AUC 1, TPR 1, FPR 0 at 0.5. M: AUC 3/4 (0.3 < 0.7 is the one wrong pair), TPR 1/2, FPR 1/2.
// One case with an empty sex cell is its own subgroup, "(missing)", too small to rank.
constexpr const char* kPred = "id,score\nf1,0.9\nf2,0.6\nf3,0.4\nf4,0.2\nm1,0.8\nm2,0.3\nm3,0.7\nm4,0.1\nx1,0.5\n";
constexpr const char* kTruth = "id,label,sex\nf1,1,F\nf2,1,F\nf3,0,F\nf4,0,F\nm1,1,M\nm2,1,M\nm3,0,M\nm4,0,M\nx1,1,\n";

TEST(Subgroups, HandComputedValuesGapsAndEqualisedOdds) {
  auto set = match(kPred, kTruth, Task::kBinary, {"sex"});
  ASSERT_TRUE(set) << set.error().message();
  ASSERT_EQ(set->subgroups.size(), 1u);
  EXPECT_EQ(set->subgroups[0].second.back(), kMissingSubgroup);
  const EvaluationOptions o{.bootstrap = {.resamples = 0}};
  auto overall = evaluate(*set, o);
  ASSERT_TRUE(overall);
  auto audit = audit_subgroups(*set, *overall, o, {.min_units = 2, .min_per_class = 1});
  ASSERT_TRUE(audit) << audit.error().message();
  const auto& col = audit->columns.at(0);
  ASSERT_EQ(col.groups.size(), 3u);  // "(missing)", "F", "M" (sorted)
  EXPECT_EQ(col.groups[0].value, "(missing)");
  EXPECT_TRUE(col.groups[0].too_small);
  EXPECT_NE(col.groups[0].reason.find("--min-subgroup"), std::string::npos) << col.groups[0].reason;
  EXPECT_DOUBLE_EQ(*metric(*col.groups[1].evaluation, "auc").point.value, 1.0);
  EXPECT_DOUBLE_EQ(*metric(*col.groups[2].evaluation, "auc").point.value, 0.75);
  EXPECT_EQ(metric(*col.groups[2].evaluation, "auc").ci_method, "delong");
  const auto& auc_gap = col.gaps.front();
  ASSERT_EQ(auc_gap.metric, "auc");
  EXPECT_DOUBLE_EQ(*auc_gap.gap, 0.25);
  EXPECT_EQ(auc_gap.highest, "F");
  EXPECT_EQ(auc_gap.lowest, "M");
  EXPECT_DOUBLE_EQ(*col.tpr_gap, 0.5);
  EXPECT_DOUBLE_EQ(*col.fpr_gap, 0.5);
  const auto js = subgroups_json(*audit);
  EXPECT_EQ(js["sex"]["(missing)"]["status"], "too_small");
  EXPECT_EQ(js["sex"]["(missing)"]["n"], 1);
  EXPECT_EQ(js["sex"]["M"]["positives"], 2);
  EXPECT_DOUBLE_EQ(js["sex"]["M"]["metrics"]["sensitivity"]["value"].get<double>(), 0.5);
  const auto aj = audit_json(*audit);
  EXPECT_DOUBLE_EQ(aj["columns"]["sex"]["equalised_odds"]["difference"].get<double>(), 0.5);
  EXPECT_EQ(aj["columns"]["sex"]["too_small"], nlohmann::ordered_json::parse(R"j(["(missing)"])j"));
}

TEST(Subgroups, KeepTheOverallThresholdChosenByATarget) {
  auto set = match(kPred, kTruth, Task::kBinary, {"sex"});
  ASSERT_TRUE(set);
  // Sensitivity 1 overall needs threshold 0.3 (the lowest positive score): M's 0.3 is then called positive.
  const EvaluationOptions o{.decision = {.target_sensitivity = 1.0}, .bootstrap = {.resamples = 0}};
  auto overall = evaluate(*set, o);
  ASSERT_TRUE(overall);
  EXPECT_DOUBLE_EQ(*overall->threshold, 0.3);
  auto audit = audit_subgroups(*set, *overall, o, {.min_units = 2, .min_per_class = 1});
  ASSERT_TRUE(audit);
  const auto& m = *audit->columns[0].groups[2].evaluation;
  EXPECT_DOUBLE_EQ(*m.threshold, 0.3);
  EXPECT_DOUBLE_EQ(*metric(m, "sensitivity").point.value, 1.0);
}

TEST(Subgroups, TooFewPositivesIsTooSmallNotRanked) {
  auto set = match(kPred, kTruth, Task::kBinary, {"sex"});
  ASSERT_TRUE(set);
  const EvaluationOptions o{.bootstrap = {.resamples = 0}};
  auto overall = evaluate(*set, o);
  auto audit = audit_subgroups(*set, *overall, o, {.min_units = 2, .min_per_class = 3});
  ASSERT_TRUE(audit);
  for (const auto& g : audit->columns[0].groups) {
    EXPECT_TRUE(g.too_small) << g.value;
    EXPECT_FALSE(g.evaluation);
  }
  EXPECT_NE(audit->columns[0].groups[1].reason.find("2 negative case(s), fewer than 3"), std::string::npos)
      << audit->columns[0].groups[1].reason;
  EXPECT_FALSE(audit->columns[0].gaps.front().gap);
  EXPECT_FALSE(audit->columns[0].tpr_gap);
}

TEST(Subgroups, UnknownColumnIsAnInvalidArgumentNamingIt) {
  auto set = match(kPred, kTruth, Task::kBinary, {"site"});
  ASSERT_FALSE(set);
  EXPECT_EQ(set.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(set.error().message().find("--subgroup 'site'"), std::string::npos) << set.error().message();
  EXPECT_NE(set.error().message().find("id, label, sex"), std::string::npos) << set.error().message();
}

TEST(Subgroups, FlagsASubgroupWhoseIntervalIsWhollyBelowOverall) {
  // Site A: 40 cases all right; site B: 40 cases all wrong. B's accuracy (0, interval [0, 0])
  // lies wholly below the overall 0.5.
  std::string pred = "id,score\n", truth = "id,label,site\n";
  for (int i = 0; i < 80; ++i) {
    const int y = i % 2;
    const bool right = i < 40;
    pred += "c" + std::to_string(i) + "," + ((y == 1) == right ? "0.9" : "0.1") + "\n";
    truth += "c" + std::to_string(i) + "," + std::to_string(y) + "," + (right ? "A" : "B") + "\n";
  }
  auto set = match(pred, truth, Task::kBinary, {"site"});
  ASSERT_TRUE(set);
  const EvaluationOptions o{.bootstrap = {.resamples = 200}, .seed = 3};
  auto overall = evaluate(*set, o);
  ASSERT_TRUE(overall);
  auto audit = audit_subgroups(*set, *overall, o);  // defaults: 30 cases, 5 per class
  ASSERT_TRUE(audit) << audit.error().message();
  bool flagged_acc = false;
  for (const auto& b : audit->columns[0].below_overall) {
    EXPECT_EQ(b.subgroup, "B");
    flagged_acc = flagged_acc || b.metric == "acc";
  }
  EXPECT_TRUE(flagged_acc);
  const auto& acc_gap = audit->columns[0].gaps[2];
  ASSERT_EQ(acc_gap.metric, "acc");
  EXPECT_DOUBLE_EQ(*acc_gap.gap, 1.0);
}

TEST(Subgroups, PatientLevelMinimumCountsPatients) {
  std::string pred = "id,score\n", truth = "id,label,patient,site\n";
  for (int i = 0; i < 60; ++i) {
    pred += "c" + std::to_string(i) + "," + std::to_string(0.1 + 0.8 * ((i * 7) % 10) / 10.0) + "\n";
    truth += "c" + std::to_string(i) + "," + std::to_string(i % 2) + ",p" + std::to_string(i / 2) + ",S\n";
  }
  auto set = match(pred, truth, Task::kBinary, {"site"}, "patient");
  ASSERT_TRUE(set);
  const EvaluationOptions o{.bootstrap = {.resamples = 0}};
  auto overall = evaluate(*set, o);
  auto audit = audit_subgroups(*set, *overall, o, {.min_units = 31, .min_per_class = 1});
  ASSERT_TRUE(audit);
  const auto& g = audit->columns[0].groups[0];
  EXPECT_EQ(g.n, 60);
  EXPECT_EQ(g.units, 30);
  EXPECT_TRUE(g.too_small);
  EXPECT_NE(g.reason.find("30 patient(s)"), std::string::npos) << g.reason;
}

}  // namespace
}  // namespace lucent::metrics
