#include "lucent/nets/torchscript.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/script.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <set>
#include <sstream>

#include "lucent/core/atomic_file.h"
#include "lucent/core/config.h"
#include "lucent/core/hash.h"

namespace lucent::nets {
namespace fs = std::filesystem;

namespace {

std::string torch_message(const std::exception& e) {
  std::string m = e.what();
  if (const auto* c10e = dynamic_cast<const c10::Error*>(&e)) m = c10e->what_without_backtrace();
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  // The interpreter prints the serialized code's traceback first and the cause last.
  if (m.find("Traceback of TorchScript") != std::string::npos) {
    if (const auto nl = m.rfind('\n'); nl != std::string::npos) m = "TorchScript raised " + m.substr(nl + 1);
  }
  if (m.size() > 600) m = m.substr(0, 600) + " ...";
  return m;
}

std::string shape_string(at::IntArrayRef sizes) {
  std::string s = "(";
  for (std::size_t i = 0; i < sizes.size(); ++i) s += (i ? ", " : "") + std::to_string(sizes[i]);
  return s + ")";
}

// Thrown by TorchScriptNet::forward when the script returns something other than a tensor.
struct NotATensor : std::runtime_error {
  using std::runtime_error::runtime_error;
};

constexpr std::string_view kSaveHint =
    "; save the scripted model with torch.jit.save(torch.jit.script(model), path)";

// Why `bytes` cannot be a torch.jit.save archive, or "" when it looks like one.
std::string classify_archive(const std::string& bytes) {
  if (bytes.empty()) return "is empty";
  if (bytes.size() >= 4 && bytes.compare(0, 4, "PK\x03\x04") == 0) {
    std::istringstream in(bytes);
    std::vector<std::string> records;
    try {
      caffe2::serialize::PyTorchStreamReader reader(&in);
      if (reader.hasRecord("constants.pkl") || reader.hasRecord("bytecode.pkl")) return "";
      if (reader.hasRecord("data.pkl"))
        return "is a torch.save() checkpoint (for example a state_dict): it holds weights but not the "
               "model's code";
      return "is a zip archive but not one written by torch.jit.save (no constants.pkl or data.pkl)";
    } catch (const std::exception& e) {
      return "is a truncated or damaged zip archive (" + torch_message(e) + ")";
    }
  }
  if (static_cast<unsigned char>(bytes[0]) == 0x80)
    return "is a Python pickle (torch.save with the legacy format, or pickle.dump), not a TorchScript "
           "archive";
  const std::size_t n = std::min<std::size_t>(bytes.size(), 512);
  bool text = true;
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c < 0x09 || (c > 0x0d && c < 0x20)) text = false;
  }
  return text ? "is a text file, not a TorchScript archive (a zip file written by torch.jit.save)"
              : "is not a TorchScript archive (expected a zip file written by torch.jit.save)";
}

// Registers the scripted module's parameters, buffers and children on `dst` (same tensors, so
// both views share storage) under PyTorch's dotted state_dict names.
void mirror(const torch::jit::Module& src, torch::nn::Module& dst) {
  for (const auto& p : src.named_parameters(/*recurse=*/false))
    if (p.value.defined()) dst.register_parameter(p.name, p.value, p.value.requires_grad());
  for (const auto& b : src.named_buffers(/*recurse=*/false))
    if (b.value.defined()) dst.register_buffer(b.name, b.value);
  for (const auto& c : src.named_children()) {
    auto child = std::make_shared<torch::nn::Module>();
    mirror(c.value, *child);
    dst.register_module(c.name, child);
  }
}

}  // namespace

struct TorchScriptNet::Impl {
  torch::jit::Module module;
  std::string archive;
};

TorchScriptNet::TorchScriptNet() : impl_(std::make_unique<Impl>()) {}
TorchScriptNet::~TorchScriptNet() = default;

Result<std::shared_ptr<TorchScriptNet>> TorchScriptNet::from_bytes(std::string archive,
                                                                   const std::string& source) {
  if (auto why = classify_archive(archive); !why.empty())
    return fail(ErrorCode::kInvalidData, source + " " + why + std::string(kSaveHint));
  std::shared_ptr<TorchScriptNet> net(new TorchScriptNet());
  try {
    std::istringstream in(archive);
    net->impl_->module = torch::jit::load(in, torch::Device(torch::kCPU));
    mirror(net->impl_->module, *net);
    net->eval();
  } catch (const std::exception& e) {
    return fail(ErrorCode::kInvalidData, "cannot load TorchScript from " + source + ": " + torch_message(e) +
                                             std::string(kSaveHint) +
                                             " (same or older PyTorch than LibTorch " + TORCH_VERSION + ")");
  }
  if (!net->impl_->module.find_method("forward"))
    return fail(ErrorCode::kInvalidData,
                source +
                    " is a TorchScript module without a forward method; script a module "
                    "whose forward(x) returns the logits");
  net->impl_->archive = std::move(archive);
  return net;
}

Result<std::shared_ptr<TorchScriptNet>> TorchScriptNet::from_file(const fs::path& path) {
  auto bytes = read_file(path);
  if (!bytes) return std::unexpected(bytes.error());
  return from_bytes(std::move(*bytes), path.string());
}

at::Tensor TorchScriptNet::forward(const at::Tensor& x) {
  c10::IValue out = impl_->module.forward({x});
  if (!out.isTensor())
    throw NotATensor("the TorchScript forward returned " + out.tagKind() + ", expected a tensor of logits");
  return out.toTensor();
}

void TorchScriptNet::train(bool on) {
  impl_->module.train(on);
  torch::nn::Module::train(on);
}

// jit::Module::to replaces the data of its tensors in place (set_data), which the mirrored
// registrations share, so moving the scripted module moves both views.
void TorchScriptNet::to(torch::Device device, torch::Dtype dtype, bool non_blocking) {
  impl_->module.to(device, dtype, non_blocking);
}
void TorchScriptNet::to(torch::Dtype dtype, bool non_blocking) {
  impl_->module.to(dtype, non_blocking);
}
void TorchScriptNet::to(torch::Device device, bool non_blocking) {
  impl_->module.to(device, non_blocking);
}

const std::string& TorchScriptNet::archive() const {
  return impl_->archive;
}

Status probe_output(Net& net, const NetSpec& spec, const std::vector<int64_t>& input_size,
                    const std::string& source) {
  std::vector<int64_t> shape = {1, spec.in_channels};
  shape.insert(shape.end(), input_size.begin(), input_size.end());
  const std::string in = shape_string(shape);
  const std::string want = "(1, " + std::to_string(spec.num_outputs) + ")";
  at::Tensor y;
  const bool was_training = net.is_training();
  try {
    torch::NoGradGuard guard;
    net.eval();
    y = net.forward(torch::zeros(shape));
    if (was_training) net.train();
  } catch (const std::exception& e) {
    if (was_training) net.train();
    // Errors from inside the model are usually an input it cannot take; ours (a non-tensor
    // result) say what is wrong already.
    const bool from_torch = dynamic_cast<const NotATensor*>(&e) == nullptr;
    return fail(ErrorCode::kInvalidData,
                source + ": forward on zeros " + in + " failed: " + torch_message(e) +
                    (from_torch ? "; check in_channels and input_size against what the "
                                  "model expects"
                                : ""));
  }
  if (!y.defined() || y.dim() != 2 || y.size(0) != 1 || y.size(1) != spec.num_outputs)
    return fail(ErrorCode::kInvalidData, source + ": forward on zeros " + in + " returned shape " +
                                             (y.defined() ? shape_string(y.sizes()) : "none") +
                                             ", expected " + want + " (one logit per label; " +
                                             std::to_string(spec.num_outputs) + " label(s) declared)");
  if (!y.is_floating_point())
    return fail(ErrorCode::kInvalidData, source + ": forward on zeros " + in + " returned " +
                                             std::string(c10::toString(y.scalar_type())) +
                                             " values, expected floating-point logits " + want);
  return ok();
}

Result<ImportSpec> parse_import_spec(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object())
    return fail(ErrorCode::kInvalidArgument, source + ": expected a mapping of keys at the top level");
  ConfigReader r(j, source);
  ImportSpec s;
  s.name = r.string("name", "");
  s.task = r.string("task", "", {"binary", "multiclass", "multilabel", "ordinal"});
  const nlohmann::json labels = r.raw("labels", nlohmann::json());
  s.spatial_dims = static_cast<int>(r.integer("spatial_dims", 2, 2, 3));
  s.in_channels = r.integer("in_channels", 1, 1, 4096);
  const std::vector<double> size = r.numbers("input_size", {});
  s.preprocess = r.raw("preprocess", nlohmann::json());
  s.temperature = r.number("temperature", 1.0, 1e-6);
  s.description = r.string("description", "");
  s.source = r.string("source", "");
  if (auto st = r.finish(); !st) return std::unexpected(st.error());

  const std::pair<const char*, const char*> required[] = {
      {"task", "binary, multiclass, multilabel or ordinal"},
      {"labels", "a list with one name per model output"},
      {"spatial_dims", "2 or 3"},
      {"in_channels", "the number of input channels the model takes"},
      {"input_size", "the spatial size after preprocessing, e.g. [28, 28]"},
      {"preprocess", "the transforms pipeline, a list (may be [] when the model takes raw values)"}};
  for (const auto& [key, what] : required)
    if (!r.has(key))
      return fail(ErrorCode::kInvalidArgument,
                  source + ": missing required key '" + key + "' (" + what + "); see docs/bundles.md");

  auto bad = [&](const std::string& key, const std::string& what) {
    return fail(ErrorCode::kInvalidArgument, source + ": " + key + " " + what);
  };
  if (!labels.is_array() || labels.empty())
    return bad("labels", "must be a non-empty list of names, found " + labels.dump());
  std::set<std::string> seen;
  for (const auto& l : labels) {
    if (!l.is_string() || l.get<std::string>().empty())
      return bad("labels", "must hold only non-empty names (strings), found " + l.dump());
    if (!seen.insert(l.get<std::string>()).second)
      return bad("labels", "names '" + l.get<std::string>() + "' twice");
    s.labels.push_back(l.get<std::string>());
  }
  if (s.task == "binary" && s.labels.size() != 2)
    return bad("labels",
               "has " + std::to_string(s.labels.size()) +
                   " name(s); a binary model must return two logits (softmax), one per label — a model "
                   "with one sigmoid logit z can return torch.cat([torch.zeros_like(z), z], 1)");
  if ((s.task == "multiclass" || s.task == "ordinal") && s.labels.size() < 2)
    return bad("labels", "needs at least two names for a " + s.task + " task");
  if (size.size() != static_cast<std::size_t>(s.spatial_dims))
    return bad("input_size", "has " + std::to_string(size.size()) + " entries, expected spatial_dims = " +
                                 std::to_string(s.spatial_dims) + " ((y, x) or (z, y, x))");
  for (double v : size) {
    if (v < 1 || v != static_cast<double>(static_cast<int64_t>(v)) || v > 1e6)
      return bad("input_size", "must hold positive whole numbers, found " + nlohmann::json(v).dump());
    s.input_size.push_back(static_cast<int64_t>(v));
  }
  if (!s.preprocess.is_array())
    return bad("preprocess",
               "must be a list of transform steps, found " + std::string(s.preprocess.type_name()));
  for (const auto& step : s.preprocess)
    if (!step.is_object() || !step.contains("name"))
      return bad("preprocess", "steps must be mappings with a name, found " + step.dump());
  return s;
}

namespace {

nlohmann::json spec_to_json(const ImportSpec& s) {
  return {{"name", s.name},
          {"task", s.task},
          {"labels", s.labels},
          {"spatial_dims", s.spatial_dims},
          {"in_channels", s.in_channels},
          {"input_size", s.input_size},
          {"preprocess", s.preprocess},
          {"temperature", s.temperature},
          {"description", s.description},
          {"source", s.source}};
}

std::string import_card(const ImportSpec& s, const std::string& file, const std::string& sha256) {
  std::ostringstream o;
  o << "# Model card: " << s.name << " (imported TorchScript, " << s.task << ")\n\n";
  if (!s.description.empty()) o << s.description << "\n\n";
  o << "## Origin\nImported with `lucent bundle import` from `" << file << "` (SHA-256 " << sha256
    << "), stored unchanged as `" << kTorchScriptFile << "`.";
  if (!s.source.empty()) o << " Source: " << s.source << ".";
  o << "\nLucent did not train this model and holds no metrics for it; evaluate it on your data before "
       "use.\n\n";
  o << "## Intended use\nResearch use only; not a medical device. Outputs: ";
  for (std::size_t i = 0; i < s.labels.size(); ++i) o << (i ? ", " : "") << s.labels[i];
  o << ".\n\n## Input\n" << s.in_channels << " channel(s), spatial size ";
  for (std::size_t i = 0; i < s.input_size.size(); ++i) o << (i ? "x" : "") << s.input_size[i];
  o << " after the declared preprocessing:\n```json\n" << s.preprocess.dump(2) << "\n```\n";
  return o.str();
}

bool looks_like_bundle(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "bundle.json", ec) && fs::is_regular_file(dir / "SHA256SUMS", ec);
}

}  // namespace

Result<LoadedBundle> import_torchscript(const fs::path& model, const ImportSpec& spec, const fs::path& out,
                                        const ImportOptions& options) {
  std::error_code ec;
  if (fs::exists(out, ec)) {
    if (!options.overwrite)
      return fail(ErrorCode::kAlreadyExists, out.string() +
                                                 " already exists; choose another --out, or pass --force "
                                                 "to replace the bundle there");
    if (!looks_like_bundle(out))
      return fail(ErrorCode::kAlreadyExists, out.string() +
                                                 " exists and is not a Lucent bundle (no bundle.json and "
                                                 "SHA256SUMS); refusing to replace it, even with --force");
  }
  auto bytes = read_file(model);
  if (!bytes) return std::unexpected(bytes.error().with_context("model"));
  const std::string sha256 = sha256_hex(*bytes);
  auto net = TorchScriptNet::from_bytes(std::move(*bytes), model.string());
  if (!net) return std::unexpected(net.error());

  BundleManifest m;
  m.architecture = {.name = std::string(kTorchScriptArchitecture),
                    .spatial_dims = spec.spatial_dims,
                    .in_channels = spec.in_channels,
                    .num_outputs = static_cast<int64_t>(spec.labels.size()),
                    .options = {}};
  if (auto st = probe_output(**net, m.architecture, spec.input_size, model.string()); !st)
    return std::unexpected(st.error());
  ImportSpec named = spec;
  if (named.name.empty()) named.name = model.stem().string();
  m.preprocess = spec.preprocess;
  m.input_size = spec.input_size;
  m.task = spec.task;
  m.labels = spec.labels;
  m.temperature = spec.temperature;
  m.training = {{"imported", true},
                {"name", named.name},
                {"source",
                 {{"file", model.filename().string()},
                  {"sha256", sha256},
                  {"description", spec.description},
                  {"origin", spec.source}}},
                {"spec", spec_to_json(named)},
                {"versions", {{"lucent", "0.1.0"}, {"libtorch", TORCH_VERSION}}}};
  m.model_card = import_card(named, model.filename().string(), sha256);
  if (auto st = save_bundle(out, **net, m); !st) return std::unexpected(st.error());
  // Read back through the normal path: what the caller gets is what predict will load.
  return load_bundle(out, NetRegistry{});
}

}  // namespace lucent::nets
