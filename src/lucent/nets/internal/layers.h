// Dimension-generic building blocks (2-D or 3-D chosen at run time), private to nets.
#pragma once

#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/container/sequential.h>

#include <map>
#include <string>

#include "lucent/core/error.h"

namespace lucent::nets::internal {

torch::nn::AnyModule conv(int dims, int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding,
                          bool bias = false);
torch::nn::AnyModule batch_norm(int dims, int64_t channels);
torch::nn::AnyModule max_pool(int dims, int64_t kernel, int64_t stride, int64_t padding);
torch::nn::AnyModule avg_pool(int dims, int64_t kernel, int64_t stride);
torch::nn::AnyModule relu();

// Reads typed options and fails on keys not in `known`.
class OptionReader {
 public:
  OptionReader(const std::string& net, const std::map<std::string, std::string>& options)
      : net_(net), options_(options) {}
  Result<int64_t> integer(const std::string& key, int64_t fallback);
  Result<double> number(const std::string& key, double fallback);
  Result<std::string> choice(const std::string& key, const std::string& fallback,
                             const std::vector<std::string>& allowed);
  // kInvalidArgument naming the first key never asked for.
  Status check_all_used() const;

  // The options every classifier shares: stem = small | standard, dropout in [0, 1).
  struct Common {
    std::string stem;
    double dropout = 0.0;
  };
  Result<Common> common();

 private:
  std::string net_;
  std::map<std::string, std::string> options_;
  std::vector<std::string> used_;
};

}  // namespace lucent::nets::internal
