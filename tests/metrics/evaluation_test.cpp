#include "lucent/metrics/evaluation.h"

#include <gtest/gtest.h>

#include "lucent/metrics/ranking.h"

namespace lucent::metrics {
namespace {

Result<PredictionSet> match(const std::string& pred, const std::string& truth, Task task,
                            const std::string& patient = "") {
  auto p = parse_csv(pred, "pred.csv");
  auto t = parse_csv(truth, "truth.csv");
  if (!p) return std::unexpected(p.error());
  if (!t) return std::unexpected(t.error());
  return match_predictions(*p, "pred.csv", *t, "truth.csv", task, {.patient_column = patient});
}

void expect_error(const Result<PredictionSet>& r, ErrorCode code, const std::vector<std::string>& fragments) {
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), code) << r.error().message();
  for (const auto& f : fragments)
    EXPECT_NE(r.error().message().find(f), std::string::npos) << "'" << f << "' not in: " << r.error().message();
}

TEST(MatchPredictions, AcceptsLucentPredictOutputAndUsesScore1ForBinary) {
  auto r = match("id,score_0,score_1,predicted\nb,0.3,0.7,tumour\na,0.9,0.1,normal\n",
                 "id,label,site\na,0,x\nb,1,y\n", Task::kBinary);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->ids, (std::vector<std::string>{"a", "b"}));  // truth order
  EXPECT_DOUBLE_EQ(r->scores[0][0], 0.1);
  EXPECT_DOUBLE_EQ(r->scores[1][0], 0.7);
}

TEST(MatchPredictions, NamesFileLineAndIdOfEachBadInput) {
  const std::string truth = "id,label\na,0\nb,1\nc,1\n";
  expect_error(match("id,score\na,0.1\nb,0.2\nb,0.3\nc,0.4\n", truth, Task::kBinary), ErrorCode::kInvalidData,
               {"pred.csv line 4", "'b'", "duplicated", "line 3"});
  expect_error(match("id,score\na,0.1\nb,0.2\n", truth, Task::kBinary), ErrorCode::kInvalidData,
               {"truth.csv line 4", "'c'", "no prediction"});
  expect_error(match("id,score\na,0.1\nb,0.2\nc,0.3\nd,0.4\n", truth, Task::kBinary), ErrorCode::kInvalidData,
               {"pred.csv line 5", "'d'", "not in truth.csv"});
  expect_error(match("id,score\na,0.1\nb,abc\nc,0.3\n", truth, Task::kBinary), ErrorCode::kInvalidData,
               {"pred.csv line 3", "'b'", "'abc' is not a finite number"});
  expect_error(match("id,score\na,0.1\nb,1.5\nc,0.3\n", truth, Task::kBinary), ErrorCode::kInvalidData,
               {"pred.csv line 3", "'b'", "not a probability in [0, 1]"});
  expect_error(match("id,score\na,0.1\nb,nan\nc,0.3\n", truth, Task::kBinary), ErrorCode::kInvalidData,
               {"'b'", "not a finite number"});
  expect_error(match("id,score\na,0.1\nb,0.2\nc,0.3\n", "id,label\na,0\nb,2\nc,1\n", Task::kBinary),
               ErrorCode::kInvalidData, {"truth.csv line 3", "'b'", "0..1"});
  expect_error(match("id,score_0,score_1,score_2\na,0.1,0.2,0.7\n", "id,label\na,3\n", Task::kMulticlass),
               ErrorCode::kInvalidData, {"truth.csv line 2", "'a'", "0..2"});
  expect_error(match("id,score\n", truth, Task::kBinary), ErrorCode::kInvalidData, {"pred.csv", "no prediction rows"});
  expect_error(match("id,prob\na,0.1\n", "id,label\na,0\n", Task::kBinary), ErrorCode::kInvalidData,
               {"pred.csv", "no score column"});
  expect_error(match("id,score\na,0.1\n", "id,label\na,0\n", Task::kBinary, "patient"), ErrorCode::kInvalidArgument,
               {"--patient-column 'patient'", "truth.csv"});
}

TEST(Evaluate, SingleClassGivesUndefinedValuesNotNanOrCrash) {
  auto set = match("id,score\na,0.1\nb,0.8\nc,0.6\n", "id,label\na,1\nb,1\nc,1\n", Task::kBinary);
  ASSERT_TRUE(set);
  auto e = evaluate(*set, {.bootstrap = {.resamples = 50}});
  ASSERT_TRUE(e) << e.error().message();
  const auto js = to_json(*e);
  EXPECT_TRUE(js["metrics"]["auc"]["value"].is_null());
  EXPECT_NE(js["metrics"]["auc"]["reason"].get<std::string>().find("only one class present"), std::string::npos);
  EXPECT_TRUE(js["metrics"]["specificity"]["value"].is_null());
  EXPECT_DOUBLE_EQ(js["metrics"]["sensitivity"]["value"].get<double>(), 2.0 / 3.0);
  EXPECT_TRUE(js["operating_point"]["youden"]["threshold"].is_null());
  ASSERT_EQ(js["warnings"].size(), 1u);
  EXPECT_NE(js["warnings"][0].get<std::string>().find("unreliable"), std::string::npos);
  // No NaN anywhere: dump() would print "null" for NaN, so check the values are finite numbers or null.
  for (const auto& [name, m] : js["metrics"].items())
    if (!m["value"].is_null()) EXPECT_TRUE(std::isfinite(m["value"].get<double>())) << name;
}

TEST(Evaluate, BinaryHandComputedAtThreshold) {
  auto set = match("id,score\na,0.9\nb,0.8\nc,0.7\nd,0.6\ne,0.5\nf,0.4\n",
                   "id,label\na,1\nb,1\nc,0\nd,1\ne,0\nf,0\n", Task::kBinary);
  ASSERT_TRUE(set);
  auto e = evaluate(*set, {.decision = {.threshold = 0.65}, .bootstrap = {.resamples = 0}});
  ASSERT_TRUE(e);
  const auto js = to_json(*e);
  // Called positive: a, b, c → tp 2, fp 1, tn 2, fn 1.
  EXPECT_DOUBLE_EQ(js["metrics"]["sensitivity"]["value"].get<double>(), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(js["metrics"]["ppv"]["value"].get<double>(), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(js["metrics"]["acc"]["value"].get<double>(), 4.0 / 6.0);
  EXPECT_DOUBLE_EQ(js["metrics"]["auc"]["value"].get<double>(), 8.0 / 9.0);
  EXPECT_EQ(js["metrics"]["auc"]["ci_method"], "delong");
  EXPECT_EQ(js["metrics"]["f1"]["ci_method"], "none");
  EXPECT_EQ(js["confusion_matrix"], nlohmann::ordered_json::parse("[[2,1],[1,2]]"));
}

TEST(Evaluate, TargetSensitivitySetsTheThreshold) {
  auto set = match("id,score\na,0.9\nb,0.8\nc,0.7\nd,0.6\ne,0.5\nf,0.4\n",
                   "id,label\na,1\nb,1\nc,0\nd,1\ne,0\nf,0\n", Task::kBinary);
  auto e = evaluate(*set, {.decision = {.target_sensitivity = 1.0}, .bootstrap = {.resamples = 0}});
  ASSERT_TRUE(e);
  EXPECT_DOUBLE_EQ(e->operating_point["threshold"].get<double>(), 0.6);
  EXPECT_EQ(e->operating_point["rule"], "target_sensitivity");
  auto bad = evaluate(*set, {.decision = {.threshold = 0.5, .target_sensitivity = 0.9}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
}

TEST(Evaluate, MacroValueNamesTheClassThatMakesItUndefined) {
  // Class 2 never occurs in the truth: its one-vs-rest AUC, and so the macro AUC, is undefined.
  auto set = match("id,score_0,score_1,score_2\na,0.6,0.2,0.2\nb,0.2,0.7,0.1\nc,0.5,0.3,0.2\nd,0.3,0.3,0.4\n",
                   "id,label\na,0\nb,1\nc,0\nd,1\n", Task::kMulticlass);
  ASSERT_TRUE(set);
  auto e = evaluate(*set, {.bootstrap = {.resamples = 20}});
  ASSERT_TRUE(e);
  const auto js = to_json(*e);
  EXPECT_TRUE(js["metrics"]["auc"]["value"].is_null());
  EXPECT_NE(js["metrics"]["auc"]["reason"].get<std::string>().find("for class 2"), std::string::npos);
  EXPECT_DOUBLE_EQ(js["per_class"]["0"]["auc"]["value"].get<double>(), 1.0);
  EXPECT_EQ(js["per_class"]["0"]["support"], 2);
  EXPECT_TRUE(js["per_class"]["2"]["auc"]["value"].is_null());
  EXPECT_DOUBLE_EQ(js["metrics"]["acc"]["value"].get<double>(), 3.0 / 4.0);  // d is predicted 2
  EXPECT_EQ(js["confusion_matrix"], nlohmann::ordered_json::parse("[[2,0,0],[0,1,1],[0,0,0]]"));
}

TEST(Evaluate, MulticlassRejectsAThreshold) {
  auto set = match("id,score_0,score_1,score_2\na,0.1,0.2,0.7\nb,0.6,0.2,0.2\n", "id,label\na,2\nb,0\n",
                   Task::kMulticlass);
  ASSERT_TRUE(set);
  auto e = evaluate(*set, {.decision = {.threshold = 0.3}});
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message().find("arg-max"), std::string::npos);
}

TEST(Evaluate, BootstrapIsDeterministicAndPatientLevelWhenAsked) {
  std::string pred = "id,score\n", truth = "id,label,patient\n";
  Rng gen(8);
  for (int i = 0; i < 60; ++i) {
    const int y = i % 3 == 0;
    pred += "c" + std::to_string(i) + "," + std::to_string(std::clamp(gen.normal(0.4 + 0.2 * y, 0.2), 0.0, 1.0)) + "\n";
    truth += "c" + std::to_string(i) + "," + std::to_string(y) + ",p" + std::to_string(i / 3) + "\n";
  }
  auto cases = match(pred, truth, Task::kBinary);
  auto patients = match(pred, truth, Task::kBinary, "patient");
  ASSERT_TRUE(cases);
  ASSERT_TRUE(patients);
  const EvaluationOptions o{.bootstrap = {.resamples = 300}, .seed = 5};
  const auto a = to_json(*evaluate(*cases, o)), b = to_json(*evaluate(*cases, o));
  EXPECT_EQ(a.dump(), b.dump());
  const auto p = to_json(*evaluate(*patients, o));
  EXPECT_EQ(p["bootstrap"]["unit"], "patient");
  EXPECT_EQ(p["bootstrap"]["units"], 20);
  EXPECT_EQ(p["metrics"]["auc"]["ci_method"], "bootstrap_bca");  // DeLong assumes independent cases
  EXPECT_EQ(a["metrics"]["auc"]["ci_method"], "delong");
  EXPECT_TRUE(a["metrics"]["f1"]["ci_low"].is_number());
}

TEST(MetricTable, CountsOfAResampleGiveTheMetricsOfTheResampleWrittenOut) {
  // The bootstrap's fast path (counts swept over presorted columns) against the reference
  // functions on the resample's cases listed one by one, with ties and repeats.
  PredictionSet p;
  Rng gen(11);
  for (int i = 0; i < 300; ++i) {
    const int y = gen.bernoulli(0.3) ? 1 : 0;
    p.ids.push_back("c" + std::to_string(i));
    p.scores.push_back({std::round(std::clamp(gen.normal(0.4 + 0.2 * y, 0.2), 0.0, 1.0) * 20) / 20});
    p.labels.push_back({y});
  }
  std::vector<int> strata;
  for (const auto& l : p.labels) strata.push_back(l[0]);
  const auto r = Resampler::make(p.ids.size(), strata, {});
  const MetricTable table(p, 0.45, 0.3);
  for (uint64_t b = 0; b < 5; ++b) {
    Rng a = Rng(9).fork(b), c = Rng(9).fork(b);
    const auto cases = r.draw(a);
    Counts w;
    r.draw_counts(c, w);
    std::vector<double> s;
    std::vector<int> y;
    for (int64_t i : cases) {
      s.push_back(p.scores[static_cast<std::size_t>(i)][0]);
      y.push_back(p.labels[static_cast<std::size_t>(i)][0]);
    }
    const auto v = table.compute(w).metrics;
    const BinaryCounts bc = binary_counts(s, y, 0.45);
    auto value = [&](const std::string& name) {
      for (const auto& [n, m] : v)
        if (n == name) return *m.value;
      return -1.0;
    };
    EXPECT_EQ(value("auc"), *roc_auc(s, y).value);
    EXPECT_EQ(value("pauc"), *partial_roc_auc(s, y, 0.3)->value);
    EXPECT_EQ(value("pr_auc"), *average_precision(s, y).value);
    EXPECT_EQ(value("f1"), *f1(bc).value);
    EXPECT_EQ(value("kappa"), *cohen_kappa(ConfusionMatrix{2, {bc.tn, bc.fp, bc.fn, bc.tp}}, KappaWeights::kNone).value);
    EXPECT_NEAR(value("brier"), *brier_score(s, y).value, 1e-14);
    EXPECT_NEAR(value("ece"), *calibration(s, y).ece.value, 1e-14);
  }
}

}  // namespace
}  // namespace lucent::metrics
