#include "lucent/nets/torchscript.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <torch/torch.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>

#include "lucent/core/atomic_file.h"
#include "lucent/core/hash.h"
#include "lucent/core/safetensors.h"
#include "support/test_support.h"

namespace lucent::nets {
namespace {
namespace fs = std::filesystem;

// The models come from Debian's python3-torch (tests/integration/bundle_support/make_models.py),
// generated once for the whole suite. Without torch the tests skip with the reason; any other
// failure of the generator fails them.
class TorchScriptTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<test::TempDir>();
    const fs::path script = fs::path(LUCENT_TEST_SOURCE_DIR) / "integration/bundle_support/make_models.py";
    if (!fs::exists("/usr/bin/python3")) {
      skip_ = "/usr/bin/python3 is missing; install python3-torch (scripts/setup.sh)";
      return;
    }
    const fs::path log = *dir_ / "make_models.log";
    const std::string cmd = "/usr/bin/python3 '" + script.string() + "' '" + (*dir_ / "models").string() +
                            "' > '" + log.string() + "' 2>&1";
    const int status = std::system(cmd.c_str());
    const int rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    auto text = read_file(log);
    if (rc == 77)
      skip_ = text ? *text : "make_models.py skipped";
    else if (rc != 0)
      broken_ = "make_models.py exited " + std::to_string(rc) + ": " + (text ? *text : "");
  }
  static void TearDownTestSuite() { dir_.reset(); }

  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(broken_.empty()) << broken_;
  }

  static fs::path model(const std::string& name) { return *dir_ / "models" / name; }

  static ImportSpec spec() {
    ImportSpec s;
    s.task = "binary";
    s.labels = {"normal", "pneumonia"};
    s.spatial_dims = 2;
    s.in_channels = 1;
    s.input_size = {28, 28};
    s.preprocess = nlohmann::json::parse(R"([{"name":"scale_intensity","in_min":0,"in_max":255}])");
    s.description = "unit-test CNN";
    return s;
  }

  static NetSpec net_spec(int64_t outputs = 2, int64_t channels = 1) {
    return {.name = "torchscript",
            .spatial_dims = 2,
            .in_channels = channels,
            .num_outputs = outputs,
            .options = {}};
  }

  static inline std::unique_ptr<test::TempDir> dir_;
  static inline std::string skip_;
  static inline std::string broken_;
};

at::Tensor ramp() {
  return torch::linspace(0, 1, 28 * 28).reshape({1, 1, 28, 28});
}

std::vector<double> expected_probs(const fs::path& file) {
  std::ifstream in(file);
  std::vector<double> v;
  double x;
  while (in >> x) v.push_back(x);
  return v;
}

TEST_F(TorchScriptTest, RunsAScriptedModelLikePyTorch) {
  auto net = TorchScriptNet::from_file(model("model.pt"));
  ASSERT_TRUE(net) << net.error().to_string();
  torch::NoGradGuard guard;
  const auto p = torch::softmax((*net)->forward(ramp()), 1)[0];
  const auto want = expected_probs(model("expected.txt"));
  ASSERT_EQ(want.size(), 2u);
  for (int k = 0; k < 2; ++k) EXPECT_NEAR(p[k].item<double>(), want[k], 1e-5) << "output " << k;
  EXPECT_FALSE((*net)->is_training());
}

TEST_F(TorchScriptTest, ExposesParametersAndBuffersUnderStateDictNames) {
  auto net = TorchScriptNet::from_file(model("model.pt"));
  ASSERT_TRUE(net) << net.error().to_string();
  std::map<std::string, at::Tensor> named;
  for (auto& [n, t] : state_tensors(**net)) named[n] = t;
  for (const char* n :
       {"features.0.weight", "features.1.running_mean", "features.1.running_var", "head.weight", "head.bias"})
    EXPECT_TRUE(named.count(n)) << n;
  // conv 1->8 (80) + batch norm (16) + conv 8->16 stride 2 (1168) + linear 16->2 (34)
  EXPECT_EQ((*net)->parameter_count(), 1298);
  // The views share storage: changing the registered tensor changes what the script computes.
  const auto before = (*net)->forward(ramp());
  {
    torch::NoGradGuard guard;
    named["head.bias"].add_(1.0);
  }
  const auto after = (*net)->forward(ramp());
  EXPECT_NEAR((after - before).abs().max().item<double>(), 1.0, 1e-5);
}

TEST_F(TorchScriptTest, RefusesFilesThatAreNotTorchScript) {
  const std::pair<const char*, const char*> cases[] = {
      {"notes.txt", "is a text file"},
      {"truncated.pt", "truncated or damaged zip archive"},
      {"state_dict.pt", "torch.save() checkpoint"},
      {"legacy.pkl", "Python pickle"},
  };
  for (const auto& [file, fragment] : cases) {
    auto net = TorchScriptNet::from_file(model(file));
    ASSERT_FALSE(net) << file;
    EXPECT_EQ(net.error().code(), ErrorCode::kInvalidData) << file;
    EXPECT_NE(net.error().message().find(fragment), std::string::npos)
        << file << ": " << net.error().message();
    EXPECT_NE(net.error().message().find(file), std::string::npos) << net.error().message();
    EXPECT_NE(net.error().message().find("torch.jit.save"), std::string::npos) << net.error().message();
  }
  auto missing = TorchScriptNet::from_file(model("nothing.pt"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

TEST_F(TorchScriptTest, ProbeNamesExpectedAndFoundShapes) {
  auto three = TorchScriptNet::from_file(model("three_outputs.pt"));
  ASSERT_TRUE(three) << three.error().to_string();
  auto st = probe_output(**three, net_spec(2), {28, 28}, "three_outputs.pt");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kInvalidData);
  EXPECT_NE(st.error().message().find("returned shape (1, 3), expected (1, 2)"), std::string::npos)
      << st.error().message();
  EXPECT_NE(st.error().message().find("(1, 1, 28, 28)"), std::string::npos) << st.error().message();

  auto good = TorchScriptNet::from_file(model("model.pt"));
  ASSERT_TRUE(good);
  EXPECT_TRUE(probe_output(**good, net_spec(2), {28, 28}, "model.pt"));
  st = probe_output(**good, net_spec(2, 3), {28, 28}, "model.pt");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message().find("forward on zeros (1, 3, 28, 28) failed"), std::string::npos)
      << st.error().message();

  auto tuple = TorchScriptNet::from_file(model("tuple.pt"));
  ASSERT_TRUE(tuple);
  st = probe_output(**tuple, net_spec(2), {28, 28}, "tuple.pt");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message().find("expected a tensor of logits"), std::string::npos)
      << st.error().message();

  auto ints = TorchScriptNet::from_file(model("int_output.pt"));
  ASSERT_TRUE(ints);
  st = probe_output(**ints, net_spec(2), {28, 28}, "int_output.pt");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message().find("floating-point"), std::string::npos) << st.error().message();
}

TEST_F(TorchScriptTest, ImportThenLoadRunsTheSameModel) {
  const fs::path out = *dir_ / "import-ok" / "bundle";
  auto imported = import_torchscript(model("model.pt"), spec(), out);
  ASSERT_TRUE(imported) << imported.error().to_string();
  for (const char* f :
       {"weights.safetensors", "bundle.json", "model_card.md", "model.torchscript", "SHA256SUMS"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  const auto source_hash = *sha256_file(model("model.pt"));
  EXPECT_EQ(*sha256_file(out / "model.torchscript"), source_hash);  // byte for byte
  EXPECT_NE(read_file(out / "SHA256SUMS")->find(source_hash + "  model.torchscript"), std::string::npos);

  NetRegistry registry;
  register_builtin_nets(registry);
  auto b = load_bundle(out, registry);
  ASSERT_TRUE(b) << b.error().to_string();
  EXPECT_EQ(b->manifest.architecture.name, "torchscript");
  EXPECT_EQ(b->manifest.architecture.num_outputs, 2);
  EXPECT_EQ(b->manifest.labels, spec().labels);
  EXPECT_EQ(b->manifest.preprocess, spec().preprocess);
  EXPECT_EQ(b->manifest.input_size, (std::vector<int64_t>{28, 28}));
  EXPECT_TRUE(b->manifest.training.at("imported").get<bool>());
  EXPECT_EQ(b->manifest.training.at("source").at("file"), "model.pt");
  EXPECT_EQ(b->manifest.training.at("source").at("sha256"), source_hash);
  EXPECT_EQ(b->sha256, imported->sha256);
  EXPECT_NE(read_file(out / "model_card.md")->find("unit-test CNN"), std::string::npos);

  auto direct = TorchScriptNet::from_file(model("model.pt"));
  ASSERT_TRUE(direct);
  torch::NoGradGuard guard;
  const auto x = torch::rand({4, 1, 28, 28});
  EXPECT_TRUE(torch::allclose(b->net->forward(x), (*direct)->forward(x), 0, 0));

  auto weights = read_safetensors(out / "weights.safetensors");
  ASSERT_TRUE(weights) << weights.error().to_string();
  EXPECT_TRUE(weights->tensors.count("features.1.running_var"));
  EXPECT_EQ(weights->tensors.size(), state_tensors(*b->net).size());
}

TEST_F(TorchScriptTest, ImportsAModelWithoutParameters) {
  const fs::path out = *dir_ / "import-noparams";
  auto imported = import_torchscript(model("noparams.pt"), spec(), out);
  ASSERT_TRUE(imported) << imported.error().to_string();
  EXPECT_EQ(imported->net->parameter_count(), 0);
  torch::NoGradGuard guard;
  const auto y = imported->net->forward(torch::full({1, 1, 28, 28}, 0.5));
  EXPECT_NEAR(y[0][0].item<double>(), 0.5, 1e-6);
  EXPECT_NEAR(y[0][1].item<double>(), -1.0, 1e-6);
}

TEST_F(TorchScriptTest, RefusesATamperedArchive) {
  const fs::path out = *dir_ / "import-tamper";
  ASSERT_TRUE(import_torchscript(model("model.pt"), spec(), out));
  {
    std::fstream f(out / "model.torchscript", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-30, std::ios::end);
    f.write("\x01", 1);
  }
  auto b = load_bundle(out, NetRegistry{});
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(b.error().message().find("model.torchscript does not match SHA256SUMS"), std::string::npos)
      << b.error().message();
}

TEST_F(TorchScriptTest, RefusesAnArchiveThatSHA256SUMSDoesNotCover) {
  const fs::path out = *dir_ / "import-uncovered";
  ASSERT_TRUE(import_torchscript(model("model.pt"), spec(), out));
  std::istringstream in(*read_file(out / "SHA256SUMS"));
  std::string line, kept;
  while (std::getline(in, line))
    if (line.find("model.torchscript") == std::string::npos) kept += line + "\n";
  ASSERT_TRUE(write_file_atomically(out / "SHA256SUMS", kept));
  auto b = load_bundle(out, NetRegistry{});
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(b.error().message().find("model.torchscript is not covered by SHA256SUMS"), std::string::npos)
      << b.error().message();
}

TEST_F(TorchScriptTest, FailedImportWritesNothing) {
  const fs::path parent = *dir_ / "import-fail";
  fs::create_directories(parent);
  auto wrong = spec();
  wrong.labels = {"a", "b"};
  auto r = import_torchscript(model("three_outputs.pt"), wrong, parent / "bundle");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidData);
  r = import_torchscript(model("state_dict.pt"), spec(), parent / "bundle");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidData);
  EXPECT_TRUE(fs::is_empty(parent)) << "no bundle and no temporary folder may be left behind";
}

TEST_F(TorchScriptTest, ReplacesOnlyABundleAndOnlyWhenAsked) {
  const fs::path out = *dir_ / "import-twice";
  ASSERT_TRUE(import_torchscript(model("model.pt"), spec(), out));
  auto again = import_torchscript(model("model.pt"), spec(), out);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_NE(again.error().message().find("--force"), std::string::npos);
  auto forced = import_torchscript(model("noparams.pt"), spec(), out, {.overwrite = true});
  ASSERT_TRUE(forced) << forced.error().to_string();
  EXPECT_EQ(*sha256_file(out / "model.torchscript"), *sha256_file(model("noparams.pt")));

  const fs::path other = *dir_ / "not-a-bundle";
  fs::create_directories(other);
  ASSERT_TRUE(write_file_atomically(other / "keep.txt", "precious"));
  auto refused = import_torchscript(model("model.pt"), spec(), other, {.overwrite = true});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_NE(refused.error().message().find("not a Lucent bundle"), std::string::npos);
  EXPECT_EQ(*read_file(other / "keep.txt"), "precious");
}

TEST_F(TorchScriptTest, SaveRefusesAMismatchedArchitectureName) {
  NetRegistry registry;
  register_builtin_nets(registry);
  BundleManifest m;
  m.architecture = {
      .name = "torchscript", .spatial_dims = 2, .in_channels = 1, .num_outputs = 2, .options = {}};
  m.input_size = {28, 28};
  m.task = "binary";
  m.labels = {"a", "b"};
  auto resnet = registry.create({.name = "resnet10",
                                 .spatial_dims = 2,
                                 .in_channels = 1,
                                 .num_outputs = 2,
                                 .options = {{"width", "8"}}});
  ASSERT_TRUE(resnet);
  auto st = save_bundle(*dir_ / "mismatch", **resnet, m);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(*dir_ / "mismatch"));
}

// The spec reader needs no torch model; plain tests.
nlohmann::json good_spec() {
  return nlohmann::json::parse(R"({"task": "binary", "labels": ["normal", "pneumonia"], "spatial_dims": 2,
    "in_channels": 1, "input_size": [28, 28], "preprocess": [{"name": "normalize", "mean": 0.5, "std": 0.5}],
    "temperature": 1.5, "description": "d", "source": "s", "name": "n"})");
}

TEST(ImportSpec, ReadsEveryKey) {
  auto s = parse_import_spec(good_spec(), "spec.yaml");
  ASSERT_TRUE(s) << s.error().to_string();
  EXPECT_EQ(s->task, "binary");
  EXPECT_EQ(s->labels, (std::vector<std::string>{"normal", "pneumonia"}));
  EXPECT_EQ(s->input_size, (std::vector<int64_t>{28, 28}));
  EXPECT_EQ(s->preprocess.size(), 1u);
  EXPECT_DOUBLE_EQ(s->temperature, 1.5);
  EXPECT_EQ(s->name, "n");
}

TEST(ImportSpec, NamesTheOffendingKey) {
  struct Case {
    std::function<void(nlohmann::json&)> edit;
    const char* fragment;
  };
  const Case cases[] = {
      {[](auto& j) { j["lables"] = j["labels"]; }, "unknown key 'lables'"},
      {[](auto& j) { j.erase("labels"); }, "missing required key 'labels'"},
      {[](auto& j) { j.erase("preprocess"); }, "missing required key 'preprocess'"},
      {[](auto& j) { j["in_channels"] = "one"; }, "in_channels must be an integer"},
      {[](auto& j) { j["task"] = "regression"; }, "task is 'regression', expected one of"},
      {[](auto& j) {
         j["labels"] = {"a", "b", "c"};
       },
       "a binary model must return two logits"},
      {[](auto& j) {
         j["labels"] = {"a", "a"};
       },
       "names 'a' twice"},
      {[](auto& j) {
         j["input_size"] = {28, 28, 28};
       },
       "input_size has 3 entries, expected spatial_dims = 2"},
      {[](auto& j) {
         j["input_size"] = {28.5, 28};
       },
       "input_size must hold positive whole numbers"},
      {[](auto& j) { j["spatial_dims"] = 4; }, "spatial_dims is 4"},
      {[](auto& j) { j["temperature"] = 0; }, "temperature is 0"},
      {[](auto& j) { j["preprocess"] = "scale"; }, "preprocess must be a list"},
  };
  for (const auto& c : cases) {
    auto j = good_spec();
    c.edit(j);
    auto s = parse_import_spec(j, "spec.yaml");
    ASSERT_FALSE(s) << c.fragment;
    EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument) << c.fragment;
    EXPECT_NE(s.error().message().find(c.fragment), std::string::npos) << s.error().message();
    EXPECT_NE(s.error().message().find("spec.yaml"), std::string::npos) << s.error().message();
  }
}

}  // namespace
}  // namespace lucent::nets
