// Model bundle: everything needed to run a trained model exactly as it was trained.
//
//   bundle/
//     weights.safetensors   parameters and buffers as tensors (no pickles, no code)
//     bundle.json           architecture (name, dims, channels, outputs, options), the declared
//                           preprocessing pipeline, input size, task, label names, calibration
//                           temperature, training metadata (seed, data SHA-256s, config,
//                           versions, date) and headline metrics
//     model_card.md         intended use, data, metrics — for people
//     model.torchscript     only for architecture "torchscript" (a model imported from PyTorch,
//                           see torchscript.h): the torch.jit.save archive, byte for byte — its
//                           code and graph. weights.safetensors then holds the scripted module's
//                           parameters and buffers under PyTorch's state_dict names; they are
//                           loaded over the archive's own (identical as written by the import),
//                           so the safetensors file is inspectable and always what runs.
//     SHA256SUMS            SHA-256 of each file above; the bundle's id is the SHA-256 of this
//
//   auto st = save_bundle("run/bundle", *net, manifest);
//   auto b = load_bundle("run/bundle", registry);   // verifies every hash first
//
// Saving writes into a temporary sibling folder and renames it into place (never half a
// bundle); an existing bundle at `dir` is replaced only once the new one is complete. A
// TorchScriptNet must be saved with architecture "torchscript" and no other net may use that
// name (kInvalidArgument). Loading refuses a bundle whose files do not match SHA256SUMS or whose
// required files (per architecture) are not listed there (kPermissionDenied, naming the file),
// whose weights do not fit the architecture (kInvalidData, naming the tensor), whose
// model.torchscript does not load (kInvalidData), or whose bundle.json is malformed
// (kInvalidData). Architecture "torchscript" is built from model.torchscript, every other one
// by the registry. See docs/bundles.md. Thread-safety: free functions.
#pragma once

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lucent/core/error.h"
#include "lucent/nets/net.h"

namespace lucent::nets {

struct BundleManifest {
  NetSpec architecture;
  nlohmann::json preprocess = nlohmann::json::array();  // transforms pipeline declaration
  std::vector<int64_t> input_size;                       // spatial size the net was trained on
  std::string task;                                      // binary | multiclass | ordinal | multilabel
  std::vector<std::string> labels;                       // one name per output
  double temperature = 1.0;                              // logits are divided by it
  nlohmann::json training = nlohmann::json::object();
  nlohmann::json metrics = nlohmann::json::object();
  std::string model_card;                                // Markdown; generated when empty
};

[[nodiscard]] nlohmann::json to_json(const BundleManifest& m);
[[nodiscard]] Result<BundleManifest> manifest_from_json(const nlohmann::json& j);

[[nodiscard]] Status save_bundle(const std::filesystem::path& dir, Net& net, const BundleManifest& manifest);

struct LoadedBundle {
  std::shared_ptr<Net> net;   // in eval mode, on CPU
  BundleManifest manifest;
  std::string sha256;         // of SHA256SUMS
};
[[nodiscard]] Result<LoadedBundle> load_bundle(const std::filesystem::path& dir, const NetRegistry& registry);

// Parameters and buffers by name (what weights.safetensors holds), and the reverse.
[[nodiscard]] std::vector<std::pair<std::string, at::Tensor>> state_tensors(Net& net);
[[nodiscard]] Status load_state_tensors(Net& net, const std::map<std::string, at::Tensor>& tensors,
                                        const std::string& source);

}  // namespace lucent::nets
