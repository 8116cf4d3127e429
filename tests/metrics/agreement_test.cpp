#include "lucent/metrics/agreement.h"

#include <gtest/gtest.h>

namespace lucent::metrics {
namespace {

Result<Ratings> ratings_of(const std::string& text) {
  auto t = parse_csv(text, "ratings.csv");
  if (!t) return std::unexpected(t.error());
  return parse_ratings(*t, "ratings.csv");
}

// 3 readers, 4 cases: P_i = 1, 1, 1/3, 1/3 → P̄ = 2/3; p = (1/2, 1/2) → P̄e = 1/2; κ = 1/3.
constexpr const char* kRatings = "id,r1,r2,r3\na,1,1,1\nb,0,0,0\nc,1,1,0\nd,0,0,1\n";

TEST(Agreement, FleissKappaOfAHandComputedTable) {
  auto r = ratings_of(kRatings);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->readers, (std::vector<std::string>{"r1", "r2", "r3"}));
  EXPECT_EQ(r->categories, 2);
  EXPECT_NEAR(*fleiss_kappa(r->values, 2).value, 1.0 / 3.0, 1e-15);
  // Perfect agreement on one category: chance agreement 1, undefined.
  EXPECT_FALSE(fleiss_kappa({{1, 1}, {1, 1}}, 2));
  // Wikipedia's worked example (Fleiss' kappa, 10 subjects, 14 raters, 5 categories): 0.210.
  const int table[10][5] = {{0, 0, 0, 0, 14}, {0, 2, 6, 4, 2}, {0, 0, 3, 5, 6}, {0, 3, 9, 2, 0}, {2, 2, 8, 1, 1},
                            {7, 7, 0, 0, 0}, {3, 2, 6, 3, 0}, {2, 5, 3, 2, 2}, {6, 5, 2, 1, 0}, {0, 2, 2, 3, 7}};
  std::vector<std::vector<int>> rows;
  for (const auto& counts : table) {
    std::vector<int> row;
    for (int c = 0; c < 5; ++c)
      for (int k = 0; k < counts[c]; ++k) row.push_back(c);
    rows.push_back(row);
  }
  EXPECT_NEAR(*fleiss_kappa(rows, 5).value, 0.20993070442195522, 1e-12);
}

TEST(Agreement, MajorityOfTheOtherReadersBreaksTiesUpward) {
  auto r = ratings_of(kRatings);
  ASSERT_TRUE(r);
  // Without r1, readers r2 and r3: a 1/1 → 1, b 0/0 → 0, c 1/0 → tie → 1, d 0/1 → tie → 1.
  EXPECT_EQ(majority_without(*r, 0), (std::vector<int>{1, 0, 1, 1}));
}

TEST(Agreement, ReadersAndModelScoredAsInCheXNet) {
  auto r = ratings_of(kRatings);
  ASSERT_TRUE(r);
  const std::vector<int> model = {1, 0, 1, 0};
  auto a = agreement(*r, model, {.bootstrap = {.resamples = 0}});
  ASSERT_TRUE(a) << a.error().message();
  // r1 = (1,0,1,0) against G1 = (1,0,1,1): TP 2, FN 1, FP 0 → F1 = 4/5.
  EXPECT_DOUBLE_EQ(*a->reader_scores[0].f1.point.value, 0.8);
  // G2 (r1, r3) = (1,0,1,1); G3 (r1, r2) = (1,0,1,0). r2 = (1,0,1,0): F1 vs G2 = 0.8. r3 = (1,0,0,1) vs
  // G3 = (1,0,1,0): TP 1, FN 1, FP 1 → 0.5. The model = r1's ratings: F1 0.8, 0.8 and 1 → mean 13/15.
  EXPECT_DOUBLE_EQ(*a->reader_scores[1].f1.point.value, 0.8);
  EXPECT_DOUBLE_EQ(*a->reader_scores[2].f1.point.value, 0.5);
  EXPECT_NEAR(*a->mean_reader.f1.point.value, 2.1 / 3.0, 1e-15);
  EXPECT_NEAR(*a->model->f1.point.value, 13.0 / 15.0, 1e-15);
  EXPECT_NEAR(*a->model_minus_mean_reader->f1.point.value, 13.0 / 15.0 - 0.7, 1e-15);
  ASSERT_EQ(a->pairwise.size(), 3u);
  // r1 vs r2 agree on every case: kappa 1.
  EXPECT_DOUBLE_EQ(*a->pairwise[0].second.point.value, 1.0);
  EXPECT_NEAR(*a->fleiss.point.value, 1.0 / 3.0, 1e-15);
}

TEST(Agreement, BootstrapGivesIntervalsAroundEachValue) {
  std::string text = "id,r1,r2,r3,r4\n";
  for (int i = 0; i < 60; ++i) {
    const int y = i % 3 == 0;
    text += "c" + std::to_string(i) + "," + std::to_string(y) + "," + std::to_string(i % 7 == 0 ? 1 - y : y) + "," +
            std::to_string(i % 5 == 0 ? 1 - y : y) + "," + std::to_string(i % 11 == 0 ? 1 - y : y) + "\n";
  }
  auto r = ratings_of(text);
  ASSERT_TRUE(r);
  std::vector<int> model;
  for (int i = 0; i < 60; ++i) model.push_back((i % 3 == 0) != (i % 13 == 0));
  auto a = agreement(*r, model, {.bootstrap = {.resamples = 300}, .seed = 2});
  ASSERT_TRUE(a);
  for (const Estimate* e : {&a->fleiss, &a->model_minus_mean_reader->f1, &a->model->kappa}) {
    ASSERT_TRUE(e->point && e->ci_low && e->ci_high);
    EXPECT_LE(*e->ci_low, *e->point.value);
    EXPECT_GE(*e->ci_high, *e->point.value);
  }
  const auto js = to_json(*a);
  EXPECT_TRUE(js["versus_other_readers"]["model_minus_mean_reader"]["f1"]["ci_low"].is_number());
}

TEST(Agreement, BadRatingsNameTheLineIdAndReader) {
  auto r = ratings_of("id,r1,r2\na,1,0\nb,1,yes\n");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidData);
  EXPECT_NE(r.error().message().find("ratings.csv line 3 (id 'b'): r2 'yes'"), std::string::npos) << r.error().message();
  auto one = ratings_of("id,r1\na,1\n");
  ASSERT_FALSE(one);
  EXPECT_NE(one.error().message().find("at least 2"), std::string::npos);
  auto dup = ratings_of("id,r1,r2\na,1,0\na,1,1\n");
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error().message().find("duplicated id"), std::string::npos);
}

TEST(Agreement, ModelPredictionsMustCoverTheRatedCases) {
  auto r = ratings_of(kRatings);
  ASSERT_TRUE(r);
  auto pred = parse_csv("id,score\na,0.9\nb,0.1\nc,0.7\n", "pred.csv");
  auto m = parse_model_decisions(*pred, "pred.csv", *r, 0.5);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message().find("'d'"), std::string::npos) << m.error().message();
  pred = parse_csv("id,score\na,0.9\nb,0.1\nc,0.7\nd,0.2\nz,0.3\n", "pred.csv");
  m = parse_model_decisions(*pred, "pred.csv", *r, 0.5);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message().find("pred.csv line 6 (id 'z')"), std::string::npos) << m.error().message();
  pred = parse_csv("id,score\na,0.9\nb,0.1\nc,0.7\nd,0.2\n", "pred.csv");
  m = parse_model_decisions(*pred, "pred.csv", *r, 0.5);
  ASSERT_TRUE(m);
  EXPECT_EQ(*m, (std::vector<int>{1, 0, 1, 0}));
}

}  // namespace
}  // namespace lucent::metrics
