#include "lucent/core/config.h"

#include <gtest/gtest.h>

namespace lucent {
namespace {

nlohmann::json yaml(const std::string& text) { return *parse_yaml(text, "test.yaml"); }

TEST(Config, ReadsTypedValuesWithDefaults) {
  auto cfg = yaml("train:\n  epochs: 3\n  lr: 1e-3\n  name: adam\n  milestones: [0.5, 0.75]\n");
  ConfigReader r(cfg, "test.yaml");
  EXPECT_EQ(r.integer("train.epochs", 1, 1), 3);
  EXPECT_DOUBLE_EQ(r.number("train.lr", 0.1, 0.0), 1e-3);
  EXPECT_EQ(r.string("train.name", "sgd", {"sgd", "adam"}), "adam");
  EXPECT_EQ(r.numbers("train.milestones", {}), (std::vector<double>{0.5, 0.75}));
  EXPECT_EQ(r.integer("train.batch_size", 128), 128);
  EXPECT_TRUE(r.finish());
}

TEST(Config, UnknownKeyIsNamed) {
  auto cfg = yaml("train:\n  epochs: 3\n  epohcs: 4\n");
  ConfigReader r(cfg, "test.yaml");
  (void)r.integer("train.epochs", 1);
  auto st = r.finish();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(st.error().message().find("unknown key 'train.epohcs'"), std::string::npos);
}

TEST(Config, WrongTypeAndImpossibleValueAreNamed) {
  auto cfg = yaml("train:\n  epochs: many\n  lr: -1\n");
  ConfigReader r(cfg, "test.yaml");
  (void)r.integer("train.epochs", 1, 1);
  (void)r.number("train.lr", 0.1, 0.0);
  auto st = r.finish();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message().find("train.epochs must be an integer"), std::string::npos);
  ConfigReader r2(cfg, "test.yaml");
  (void)r2.number("train.lr", 0.1, 0.0);
  (void)r2.raw("train.epochs", nullptr);
  EXPECT_NE(r2.finish().error().message().find("train.lr is -1"), std::string::npos);
}

TEST(Config, OverridesSetNestedValuesParsedAsYaml) {
  auto cfg = yaml("train:\n  epochs: 3\n");
  ASSERT_TRUE(apply_override(cfg, "train.epochs=7"));
  ASSERT_TRUE(apply_override(cfg, "model.options.stem=small"));
  ASSERT_TRUE(apply_override(cfg, "train.milestones=[0.5, 0.75]"));
  EXPECT_EQ(cfg["train"]["epochs"], 7);
  EXPECT_EQ(cfg["model"]["options"]["stem"], "small");
  EXPECT_EQ(cfg["train"]["milestones"].size(), 2u);
  EXPECT_FALSE(apply_override(cfg, "no-equals-sign"));
}

TEST(Config, InvalidYamlNamesTheLine) {
  auto r = parse_yaml("a: [1, 2\nb: 3\n", "bad.yaml");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("bad.yaml is not valid YAML"), std::string::npos);
}

}  // namespace
}  // namespace lucent
