// TorchScript models as Lucent nets, and importing one saved by PyTorch as a bundle.
//
// A model scripted in Python (`torch.jit.script(model)` or `torch.jit.trace`, then
// `torch.jit.save(m, "model.pt")`) carries its own code and weights. TorchScriptNet wraps it so
// that everything built on nets::Net — bundles, infer::Predictor, ensembles, TTA — runs it
// unchanged:
//
//   auto spec = parse_import_spec(*load_config("spec.yaml"), "spec.yaml");
//   auto bundle = import_torchscript("model.pt", *spec, "bundles/pneumonia");   // writes the bundle
//   auto b = load_bundle("bundles/pneumonia", registry);    // architecture "torchscript"
//   at::Tensor logits = b->net->forward(x);                 // (N, C, [Z,] Y, X) -> (N, K)
//
// The import spec (YAML, read strictly: unknown keys and wrong types are errors):
//
//   task: binary                        # binary | multiclass | multilabel | ordinal
//   labels: [normal, pneumonia]         # one per model output (binary: two logits, softmax)
//   spatial_dims: 2                     # 2 or 3
//   in_channels: 1
//   input_size: [28, 28]                # (y, x) or (z, y, x) after preprocessing
//   preprocess:                         # the transforms pipeline (as a recipe's pipeline.preprocess)
//     - {name: scale_intensity, in_min: 0, in_max: 255, out_min: 0, out_max: 1}
//   temperature: 1.0                    # optional; logits are divided by it
//   name: pneumonia-cnn                 # optional; for the model card
//   description: "..."                  # optional free text
//   source: "https://..."               # optional: where the model came from
//
// The model's forward must take one float32 tensor (N, in_channels, *input_size) on the CPU and
// return one floating-point tensor (N, len(labels)) of logits. The import checks this with one
// forward pass on zeros before writing anything.
//
// Security: a TorchScript archive is code run by LibTorch's interpreter (not arbitrary Python),
// but it can still do whatever TorchScript can do. Import only models you trust; once imported,
// the bundle's SHA256SUMS guard the copy like any other bundle file.
//
// Errors: kNotFound (a missing model or spec file), kInvalidData (not a TorchScript archive:
// text, truncated zip, a torch.save() checkpoint or pickle — each named, with the next step;
// a forward pass that fails or returns the wrong shape or type), kInvalidArgument (spec problems,
// naming the file and key), kAlreadyExists (the output folder exists and overwriting was not
// requested, or it is not a bundle), kIoError.
// Thread-safety: TorchScriptNet as nets::Net (eval-mode forward may run concurrently);
// the free functions share nothing.
#pragma once

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "lucent/core/error.h"
#include "lucent/nets/bundle.h"
#include "lucent/nets/net.h"

namespace lucent::nets {

// bundle.json architecture name of an imported TorchScript model, and the archive's file name
// inside such a bundle.
inline constexpr std::string_view kTorchScriptArchitecture = "torchscript";
inline constexpr std::string_view kTorchScriptFile = "model.torchscript";

// A torch::jit::Module behind the nets::Net interface. Its parameters and buffers are also
// registered on this torch::nn::Module under the same dotted names as in PyTorch's
// state_dict ("features.0.weight"), sharing storage with the scripted module: state_tensors(),
// load_state_tensors() and parameter_count() see exactly the tensors the script runs with.
// The archive's bytes are kept so that save_bundle() writes them back unchanged.
class TorchScriptNet : public Net {
 public:
  // `archive`: the bytes of a torch.jit.save() file; `source` names it in errors.
  // kInvalidData when the bytes are not a loadable TorchScript archive (with the reason).
  [[nodiscard]] static Result<std::shared_ptr<TorchScriptNet>> from_bytes(std::string archive,
                                                                          const std::string& source);
  // Reads `path` and calls from_bytes (kNotFound / kIoError for the file).
  [[nodiscard]] static Result<std::shared_ptr<TorchScriptNet>> from_file(const std::filesystem::path& path);

  ~TorchScriptNet() override;

  // Runs the scripted forward. Throws (as LibTorch does) when the script fails or returns
  // something other than a tensor; callers that take untrusted input use probe_output().
  at::Tensor forward(const at::Tensor& x) override;
  void train(bool on = true) override;
  void to(torch::Device device, torch::Dtype dtype, bool non_blocking = false) override;
  void to(torch::Dtype dtype, bool non_blocking = false) override;
  void to(torch::Device device, bool non_blocking = false) override;

  [[nodiscard]] const std::string& archive() const;

 private:
  struct Impl;
  TorchScriptNet();
  std::unique_ptr<Impl> impl_;
};

// One forward pass on zeros (1, spec.in_channels, *input_size) in eval mode without gradients;
// checks the result is a floating-point tensor of shape (1, spec.num_outputs).
// kInvalidData naming `source`, the input shape, and expected vs found otherwise.
[[nodiscard]] Status probe_output(Net& net, const NetSpec& spec, const std::vector<int64_t>& input_size,
                                  const std::string& source);

struct ImportSpec {
  std::string name;                 // optional display name; defaults to the model file's stem
  std::string task;                 // binary | multiclass | multilabel | ordinal
  std::vector<std::string> labels;  // one per output
  int spatial_dims = 2;
  int64_t in_channels = 1;
  std::vector<int64_t> input_size;  // spatial, after preprocessing
  nlohmann::json preprocess = nlohmann::json::array();
  double temperature = 1.0;
  std::string description;
  std::string source;
};

// Reads a spec (the JSON of load_config) strictly. kInvalidArgument naming `source` and the key
// for a missing required key (task, labels, spatial_dims, in_channels, input_size, preprocess),
// an unknown key, a wrong type, or an impossible value (binary needs exactly two labels, labels
// must be unique, input_size must have spatial_dims positive entries). The preprocess steps are
// not checked against a transforms registry here (nets does not depend on transforms): callers
// build the Pipeline to check them.
[[nodiscard]] Result<ImportSpec> parse_import_spec(const nlohmann::json& spec, const std::string& source);

struct ImportOptions {
  bool overwrite = false;  // replace `out` if it already holds a bundle (never any other folder)
};

// Loads `model`, probes it against `spec`, then writes a bundle at `out` (atomically, through
// save_bundle): bundle.json with architecture "torchscript", model.torchscript (the archive,
// byte for byte), weights.safetensors (its parameters and buffers), model_card.md, SHA256SUMS.
// training records {"imported": true, "source": {file, sha256, description, source}, "spec",
// "versions"}. Nothing is written when any check fails. Returns the bundle as load_bundle would.
[[nodiscard]] Result<LoadedBundle> import_torchscript(const std::filesystem::path& model,
                                                      const ImportSpec& spec,
                                                      const std::filesystem::path& out,
                                                      const ImportOptions& options = {});

}  // namespace lucent::nets
