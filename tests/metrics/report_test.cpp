#include "lucent/metrics/report.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <set>

#include "lucent/core/atomic_file.h"
#include "lucent/core/rng.h"
#include "lucent/metrics/ranking.h"

namespace lucent::metrics {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

const std::string kHostileId = "</script><script>alert(1)</script>";

// n cases of a binary problem whose score separates the classes imperfectly; case 0 has a
// hostile id and is a confident false positive.
PredictionSet binary_set(int n, uint64_t seed) {
  PredictionSet p;
  p.task = Task::kBinary;
  p.classes = 2;
  Rng rng(seed);
  for (int i = 0; i < n; ++i) {
    const int y = i % 3 == 0;
    const double s = std::clamp(rng.normal(y ? 0.65 : 0.35, 0.18), 0.0, 1.0);
    p.ids.push_back(i == 0 ? kHostileId : "case-" + std::to_string(i));
    p.scores.push_back({i == 0 ? 0.99 : s});
    p.labels.push_back({i == 0 ? 0 : y});
  }
  return p;
}

PredictionSet multiclass_set(int n, int k, uint64_t seed) {
  PredictionSet p;
  p.task = Task::kMulticlass;
  p.classes = k;
  Rng rng(seed);
  for (int i = 0; i < n; ++i) {
    const int y = i % k;
    std::vector<double> s(static_cast<std::size_t>(k));
    double sum = 0;
    for (int c = 0; c < k; ++c) sum += s[static_cast<std::size_t>(c)] = rng.uniform(0, 1) + (c == y ? 0.8 : 0);
    for (auto& v : s) v /= sum;
    p.ids.push_back("m" + std::to_string(i));
    p.scores.push_back(s);
    p.labels.push_back({y});
  }
  return p;
}

json metrics_json(const PredictionSet& p, int64_t resamples = 200) {
  EvaluationOptions o;
  o.bootstrap.resamples = resamples;
  o.seed = 3;
  auto e = evaluate(p, o);
  EXPECT_TRUE(e) << e.error().message();
  return to_json(*e);
}

// The JSON payload of a rendered report, as the page's script reads it.
json payload_of(const std::string& html) {
  const std::string open = "<script type=\"application/json\" id=\"lucent-report-data\">";
  const auto a = html.find(open);
  EXPECT_NE(a, std::string::npos);
  const auto b = html.find("</script>", a);
  return json::parse(html.substr(a + open.size(), b - a - open.size()));
}

const json* find_chart(const json& payload, const std::string& id) {
  for (const auto& s : payload["sections"])
    for (const auto& c : s["charts"])
      if (c["id"] == id) return &c;
  return nullptr;
}

const json& section_of(const json& payload, const std::string& id) {
  for (const auto& s : payload["sections"])
    if (s["id"] == id) return s;
  throw std::runtime_error("no section " + id);
}

std::string notes_of(const json& section) {
  std::string all;
  for (const auto& n : section["notes"]) all += n.get<std::string>() + "\n";
  return all;
}

// lucent::remove_tree, not fs::remove_all (see core/atomic_file.h).
void remove_dir(const fs::path& d) {
  std::error_code ec;
  remove_tree(d, ec);
}

fs::path temp_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("lucent-report-test-" + name + "-" + std::to_string(::getpid()));
  remove_dir(d);
  fs::create_directories(d);
  return d;
}

TEST(Report, WritesOneFileWithEveryChartAndTheLibrariesInlined) {
  const auto p = binary_set(150, 1);
  const fs::path dir = temp_dir("write");
  auto st = write_report(dir / "report.html", metrics_json(p), p, {.band_resamples = 100});
  ASSERT_TRUE(st) << st.error().message();
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path().filename());
  EXPECT_EQ(files, std::vector<fs::path>{"report.html"});  // no temporary left behind
  auto html = read_file(dir / "report.html");
  ASSERT_TRUE(html);
  EXPECT_TRUE(html->starts_with("<!DOCTYPE html>"));
  EXPECT_NE(html->find("vega 6."), std::string::npos);
  EXPECT_NE(html->find("vega-lite 6."), std::string::npos);
  EXPECT_NE(html->find("vega-embed 7."), std::string::npos);
  EXPECT_NE(html->find("Content-Security-Policy"), std::string::npos);
  // Offline: no script or stylesheet is loaded from elsewhere.
  EXPECT_EQ(html->find("<script src"), std::string::npos);
  EXPECT_EQ(html->find("<link"), std::string::npos);
  const json payload = payload_of(*html);
  for (const char* id : {"roc", "pr", "reliability", "confusion"}) {
    const json* c = find_chart(payload, id);
    ASSERT_NE(c, nullptr) << id;
    EXPECT_EQ((*c)["spec"]["$schema"], "https://vega.github.io/schema/vega-lite/v6.json") << id;
  }
  EXPECT_EQ(find_chart(payload, "forest"), nullptr);
  remove_dir(dir);
}

TEST(Report, HostileIdStaysDataAndNeverMarkup) {
  const auto p = binary_set(60, 2);
  auto html = render_report(metrics_json(p, 0), p, {.band_resamples = 0});
  ASSERT_TRUE(html) << html.error().message();
  EXPECT_EQ(html->find(kHostileId), std::string::npos);
  EXPECT_EQ(html->find("alert(1)</script>"), std::string::npos);
  EXPECT_NE(html->find("\\u003c/script\\u003e\\u003cscript\\u003ealert(1)\\u003c/script\\u003e"), std::string::npos);
  // The page script puts strings on the page only as text.
  const std::string page_script = html->substr(html->rfind("<script>\n"));
  EXPECT_NE(page_script.find("textContent"), std::string::npos);
  EXPECT_EQ(page_script.find("innerHTML"), std::string::npos);
  // It is the most confident error, and round-trips exactly through the JSON.
  const json worst = section_of(payload_of(*html), "worst")["table"];
  EXPECT_EQ(worst["rows"][0][1], kHostileId);
  EXPECT_DOUBLE_EQ(worst["rows"][0].back().get<double>(), 0.99);  // confidence in the wrong call
  // <script> elements: the payload, three libraries, the page script.
  // (The inlined libraries contain no "</script": the build checks.)
  std::size_t scripts = 0;
  for (auto at = html->find("</script>"); at != std::string::npos; at = html->find("</script>", at + 1)) ++scripts;
  EXPECT_EQ(scripts, 5u);
}

TEST(Report, InvalidUtf8InAnIdIsReplacedNotThrown) {
  auto p = binary_set(30, 3);
  p.ids[1] = std::string("bad\xff\xfe", 5);
  auto html = render_report(metrics_json(p, 0), p, {.band_resamples = 0});
  ASSERT_TRUE(html) << html.error().message();
}

TEST(Report, RocAndPrCurvesFollowTheScoresWithBandsAroundThem) {
  PredictionSet p;
  p.task = Task::kBinary;
  for (auto [s, y] : std::vector<std::pair<double, int>>{{0.9, 1}, {0.8, 1}, {0.7, 0}, {0.6, 1}, {0.2, 0}, {0.1, 0}}) {
    p.ids.push_back(std::to_string(p.ids.size()));
    p.scores.push_back({s});
    p.labels.push_back({y});
  }
  auto html = render_report(metrics_json(p, 0), p, {.threshold = 0.65, .band_resamples = 0});
  ASSERT_TRUE(html);
  const json payload = payload_of(*html);
  const json& roc_layers = (*find_chart(payload, "roc"))["spec"]["layer"];
  // No band without resamples: diagonal, curve, operating point, its label.
  ASSERT_EQ(roc_layers.size(), 4u);
  std::vector<std::pair<double, double>> got;
  for (const auto& r : roc_layers[1]["data"]["values"]) got.emplace_back(r["fpr"].get<double>(), r["tpr"].get<double>());
  const std::vector<std::pair<double, double>> want = {{0, 0}, {0, 1.0 / 3}, {0, 2.0 / 3}, {1.0 / 3, 2.0 / 3},
                                                       {1.0 / 3, 1}, {2.0 / 3, 1}, {1, 1}};
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i].first, want[i].first, 1e-12) << i;
    EXPECT_NEAR(got[i].second, want[i].second, 1e-12) << i;
  }
  // Operating point at score >= 0.65: TP 2 of 3, FP 1 of 3.
  const json& op = roc_layers[2]["data"]["values"][0];
  EXPECT_NEAR(op["tpr"].get<double>(), 2.0 / 3, 1e-12);
  EXPECT_NEAR(op["fpr"].get<double>(), 1.0 / 3, 1e-12);
  EXPECT_NEAR(op["precision"].get<double>(), 2.0 / 3, 1e-12);
  // PR: step curve from recall 0 with the top threshold's precision; its step area is the AP.
  const json& pr = (*find_chart(payload, "pr"))["spec"]["layer"][1]["data"]["values"];
  double ap = 0, last_recall = 0;
  for (const auto& r : pr) {
    ap += (r["recall"].get<double>() - last_recall) * r["precision"].get<double>();
    last_recall = r["recall"].get<double>();
  }
  EXPECT_NEAR(ap, *average_precision(std::vector<double>{0.9, 0.8, 0.7, 0.6, 0.2, 0.1},
                                     std::vector<int>{1, 1, 0, 1, 0, 0}).value, 1e-12);

  const auto big = binary_set(300, 4);
  auto banded = render_report(metrics_json(big, 0), big, {.band_resamples = 200});
  ASSERT_TRUE(banded);
  const json bp = payload_of(*banded);
  const json& band = (*find_chart(bp, "roc"))["spec"]["layer"][0];
  EXPECT_EQ(band["mark"]["type"], "area");
  EXPECT_EQ(band["data"]["values"].size(), 101u);
  for (const auto& r : band["data"]["values"]) {
    EXPECT_LE(r["lo"].get<double>(), r["hi"].get<double>());
    EXPECT_GE(r["lo"].get<double>(), 0.0);
    EXPECT_LE(r["hi"].get<double>(), 1.0);
  }
  // At FPR 0.5 a useful model's band lies above chance, and is not a point.
  const json& mid = band["data"]["values"][50];
  EXPECT_GT(mid["lo"].get<double>(), 0.5);
  EXPECT_GT(mid["hi"].get<double>() - mid["lo"].get<double>(), 0.01);
  // Same seed, same band.
  auto again = render_report(metrics_json(big, 0), big, {.band_resamples = 200});
  EXPECT_EQ((*find_chart(payload_of(*again), "roc"))["spec"]["layer"][0], band);
}

TEST(Report, MulticlassHasOneCurvePerClassAndAKByKMatrix) {
  const auto p = multiclass_set(90, 3, 5);
  auto html = render_report(metrics_json(p, 0), p, {.band_resamples = 50});
  ASSERT_TRUE(html) << html.error().message();
  const json payload = payload_of(*html);
  std::set<std::string> curves;
  for (const auto& r : (*find_chart(payload, "roc"))["spec"]["layer"][2]["data"]["values"]) curves.insert(r["curve"]);
  EXPECT_EQ(curves, (std::set<std::string>{"class 0", "class 1", "class 2"}));
  const json& cm = (*find_chart(payload, "confusion"))["spec"]["data"]["values"];
  ASSERT_EQ(cm.size(), 9u);
  int64_t total = 0;
  for (const auto& r : cm) total += r["count"].get<int64_t>();
  EXPECT_EQ(total, 90);
  // Reliability of the top label; its bins hold every case.
  int64_t binned = 0;
  for (const auto& r : (*find_chart(payload, "reliability"))["spec"]["vconcat"][1]["data"]["values"]) binned += r["count"].get<int64_t>();
  EXPECT_EQ(binned, 90);
}

TEST(Report, MultilabelHasOneConfusionMatrixPerLabel) {
  PredictionSet p;
  p.task = Task::kMultilabel;
  p.classes = 2;
  Rng rng(9);
  for (int i = 0; i < 40; ++i) {
    p.ids.push_back("ml" + std::to_string(i));
    p.labels.push_back({i % 2, i % 5 == 0});
    p.scores.push_back({std::clamp(0.3 + 0.4 * (i % 2) + rng.normal(0, 0.2), 0.0, 1.0), rng.uniform(0, 1)});
  }
  auto html = render_report(metrics_json(p, 0), p, {.band_resamples = 0});
  ASSERT_TRUE(html) << html.error().message();
  const json spec = (*find_chart(payload_of(*html), "confusion"))["spec"];
  EXPECT_EQ(spec["facet"]["field"], "label");
  EXPECT_EQ(spec["data"]["values"].size(), 8u);
}

TEST(Report, SubgroupForestPlotWhenMetricsJsonHasSubgroupsElseANote) {
  const auto p = binary_set(80, 6);
  json mj = metrics_json(p, 0);
  auto plain = render_report(mj, p, {.band_resamples = 0});
  ASSERT_TRUE(plain);
  const json no_groups = payload_of(*plain);
  EXPECT_EQ(find_chart(no_groups, "forest"), nullptr);
  EXPECT_NE(notes_of(section_of(no_groups, "subgroups")).find("no \"subgroups\" section"), std::string::npos);

  mj["subgroups"] = json::parse(R"({"sex": {
      "F": {"n": 40, "metrics": {"auc": {"value": 0.8, "ci_low": 0.7, "ci_high": 0.9},
                                 "sensitivity": {"value": null, "ci_low": null, "ci_high": null}}},
      "<b>M</b>": {"n": 40, "metrics": {"auc": {"value": 0.6, "ci_low": 0.5, "ci_high": 0.7}}},
      "X": {"n": 3, "status": "too_small", "reason": "3 cases, fewer than 30"}}})");
  mj["subgroup_audit"] = json::parse(R"({"columns": {"sex": {"below_overall": [
      {"subgroup": "<b>M</b>", "metric": "auc", "value": 0.6, "ci_high": 0.7, "overall": 0.8}]}}})");
  auto html = render_report(mj, p, {.band_resamples = 0});
  ASSERT_TRUE(html);
  EXPECT_EQ(html->find("<b>M</b>"), std::string::npos);
  const json payload = payload_of(*html);
  const json* forest = find_chart(payload, "forest");
  ASSERT_NE(forest, nullptr);
  const json& charts = (*forest)["spec"]["hconcat"];
  ASSERT_EQ(charts.size(), 2u);  // auc, sensitivity
  const json& auc = charts[0];
  EXPECT_EQ(auc["data"]["values"].size(), 2u);
  EXPECT_EQ(auc["data"]["values"][1]["group"], "sex = <b>M</b> (n = 40)");
  // subgroup_audit's "below overall" colours that point; the too-small group keeps its row.
  EXPECT_EQ(auc["data"]["values"][0]["flag"], "—");
  EXPECT_EQ(auc["data"]["values"][1]["flag"], "interval worse than overall");
  EXPECT_EQ(auc["layer"].back()["encoding"]["y"]["scale"]["domain"].back(), "sex = X (n = 3) — too small");
  EXPECT_NE(notes_of(section_of(payload, "subgroups")).find("sex = X: not evaluated: 3 cases, fewer than 30"),
            std::string::npos);
  // The overall value is the dashed rule.
  bool overall = false;
  for (const auto& l : auc["layer"])
    if (l.contains("data") && l["data"]["values"][0].contains("overall"))
      overall = std::abs(l["data"]["values"][0]["overall"].get<double>() - mj["metrics"]["auc"]["value"].get<double>()) < 1e-12;
  EXPECT_TRUE(overall);
}

TEST(Report, ThumbnailsOfImageFilesAndAReasonForOthers) {
  auto p = binary_set(20, 7);
  const fs::path dir = temp_dir("thumbs");
  const std::string png("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16);
  ASSERT_TRUE(write_file_atomically(dir / "a.png", png));
  ASSERT_TRUE(write_file_atomically(dir / "b.nii", "not an image the browser shows"));
  std::vector<std::string> paths(p.ids.size());
  paths[0] = (dir / "a.png").string();
  for (std::size_t i = 1; i < paths.size(); ++i) paths[i] = (dir / "b.nii").string();
  auto html = render_report(metrics_json(p, 0), p, {.image_paths = paths, .band_resamples = 0});
  ASSERT_TRUE(html) << html.error().message();
  const json table = section_of(payload_of(*html), "worst")["table"];
  EXPECT_EQ(table["columns"].back(), "image");
  EXPECT_EQ(table["rows"][0].back()["src"], "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg==");
  ASSERT_GT(table["rows"].size(), 1u);
  EXPECT_NE(table["rows"][1].back()["note"].get<std::string>().find("not a PNG, JPEG or GIF"), std::string::npos);

  paths.pop_back();
  auto bad = render_report(metrics_json(p, 0), p, {.image_paths = paths, .band_resamples = 0});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.error().message().find("19 image paths for 20 cases"), std::string::npos);
  remove_dir(dir);
}

TEST(Report, ImagePathsFromTheTruthCsvAreRelativeToIt) {
  const fs::path dir = temp_dir("csv");
  ASSERT_TRUE(write_file_atomically(dir / "truth.csv", "id,label,image\na,0,img/a.png\nb,1,/abs/b.png\nc,0,\n"));
  auto paths = image_paths_from_csv(dir / "truth.csv", {"c", "b", "a"});
  ASSERT_TRUE(paths) << paths.error().message();
  EXPECT_EQ(*paths, (std::vector<std::string>{"", "/abs/b.png", (dir / "img/a.png").string()}));
  auto none = image_paths_from_csv(dir / "truth.csv", {"a"}, "thumbnail");
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message().find("no column 'thumbnail'"), std::string::npos);
  ASSERT_TRUE(write_file_atomically(dir / "plain.csv", "id,label\na,0\n"));
  EXPECT_TRUE(image_paths_from_csv(dir / "plain.csv", {"a"})->empty());
  remove_dir(dir);
}

TEST(Report, ProvenanceHashesTheFilesAndShowsThemInTheHeader) {
  const fs::path dir = temp_dir("prov");
  ASSERT_TRUE(write_file_atomically(dir / "pred.csv", "abc"));
  auto prov = file_provenance({{"predictions", dir / "pred.csv"}});
  ASSERT_TRUE(prov) << prov.error().message();
  EXPECT_EQ((*prov)["predictions"]["sha256"], "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const auto p = binary_set(20, 8);
  auto html = render_report(metrics_json(p, 0), p, {.provenance = *prov, .band_resamples = 0});
  ASSERT_TRUE(html);
  const json rows = payload_of(*html)["provenance"];
  EXPECT_EQ(rows[1], json::array({"predictions.sha256", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}));
  auto missing = file_provenance({{"truth", dir / "nope.csv"}});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message().find("truth"), std::string::npos);
  remove_dir(dir);
}

TEST(Report, OneClassCurveIsLeftOutWithAReason) {
  auto p = binary_set(20, 10);
  for (auto& l : p.labels) l[0] = 0;
  auto html = render_report(metrics_json(p, 0), p, {.band_resamples = 20});
  ASSERT_TRUE(html) << html.error().message();
  const json payload = payload_of(*html);
  EXPECT_EQ(find_chart(payload, "roc"), nullptr);
  EXPECT_NE(notes_of(section_of(payload, "curves")).find("only one class present"), std::string::npos);
  EXPECT_NE(find_chart(payload, "confusion"), nullptr);
}

}  // namespace
}  // namespace lucent::metrics
