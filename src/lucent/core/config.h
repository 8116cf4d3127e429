// Configuration files: YAML (or JSON) read into nlohmann::json, `--set key.path=value`
// overrides, and a strict reader that names unknown keys, wrong types and impossible values.
//
//   auto cfg = load_config("configs/pneumoniamnist.yaml");          // json
//   auto st  = apply_override(*cfg, "train.epochs=3");
//   ConfigReader r(*cfg, "configs/pneumoniamnist.yaml");
//   int64_t epochs = r.integer("train.epochs", 100, /*min=*/1);
//   ...; if (auto st = r.finish(); !st) return st;   // first problem, or an unknown key
//
// Errors are collected (the first is returned by finish()) so a reader can be used without
// checking after every call. Messages name the file and the dotted key path.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "lucent/core/error.h"

namespace lucent {

[[nodiscard]] Result<nlohmann::json> load_config(const std::filesystem::path& path);
[[nodiscard]] Result<nlohmann::json> parse_yaml(const std::string& text, const std::string& source);
// "a.b.c=value"; the value is parsed as a YAML scalar or flow collection ("[1, 2]", "0.1", "true").
[[nodiscard]] Status apply_override(nlohmann::json& config, const std::string& assignment);

class ConfigReader {
 public:
  ConfigReader(const nlohmann::json& root, std::string source) : root_(root), source_(std::move(source)) {}

  [[nodiscard]] bool has(const std::string& path) const;
  int64_t integer(const std::string& path, int64_t fallback, std::optional<int64_t> min = {},
                  std::optional<int64_t> max = {});
  double number(const std::string& path, double fallback, std::optional<double> min = {},
                std::optional<double> max = {});
  bool boolean(const std::string& path, bool fallback);
  std::string string(const std::string& path, const std::string& fallback, const std::vector<std::string>& allowed = {});
  std::vector<double> numbers(const std::string& path, const std::vector<double>& fallback);
  // A sub-tree taken as is (e.g. a transforms pipeline); its keys count as used.
  nlohmann::json raw(const std::string& path, const nlohmann::json& fallback);
  // Reports the first error, or the first key in the file that no call asked for.
  [[nodiscard]] Status finish() const;

 private:
  const nlohmann::json* find(const std::string& path) const;
  void error(const std::string& path, const std::string& what);
  void collect_unknown(const nlohmann::json& node, const std::string& prefix, std::vector<std::string>& out) const;

  const nlohmann::json& root_;
  std::string source_;
  std::set<std::string> used_;
  std::optional<Error> first_error_;
};

}  // namespace lucent
