#include "lucent/nets/bundle.h"

#include <torch/torch.h>

#include <fstream>
#include <set>
#include <sstream>

#include "lucent/core/atomic_file.h"
#include "lucent/core/hash.h"
#include "lucent/core/safetensors.h"
#include "lucent/nets/torchscript.h"

namespace lucent::nets {
namespace fs = std::filesystem;

namespace {
constexpr int kFormatVersion = 1;

// The files SHA256SUMS must cover, which depend on the architecture.
std::vector<std::string> bundle_files(const std::string& architecture) {
  std::vector<std::string> files = {"weights.safetensors", "bundle.json", "model_card.md"};
  if (architecture == kTorchScriptArchitecture) files.emplace_back(kTorchScriptFile);
  return files;
}

std::string default_card(const BundleManifest& m) {
  std::ostringstream o;
  o << "# Model card: " << m.architecture.name << " (" << m.task << ")\n\n";
  o << "## Intended use\nResearch use only; not a medical device. Outputs: ";
  for (std::size_t i = 0; i < m.labels.size(); ++i) o << (i ? ", " : "") << m.labels[i];
  o << ".\n\n## Input\n" << m.architecture.in_channels << " channel(s), spatial size ";
  for (std::size_t i = 0; i < m.input_size.size(); ++i) o << (i ? "x" : "") << m.input_size[i];
  o << " after the declared preprocessing (bundle.json → preprocess).\n\n";
  o << "## Training\n```json\n" << m.training.dump(2) << "\n```\n\n## Metrics\n```json\n" << m.metrics.dump(2)
    << "\n```\n";
  return o.str();
}
}  // namespace

nlohmann::json to_json(const BundleManifest& m) {
  return {{"format", "lucent-bundle"},
          {"format_version", kFormatVersion},
          {"architecture",
           {{"name", m.architecture.name},
            {"spatial_dims", m.architecture.spatial_dims},
            {"in_channels", m.architecture.in_channels},
            {"num_outputs", m.architecture.num_outputs},
            {"options", m.architecture.options}}},
          {"preprocess", m.preprocess},
          {"input_size", m.input_size},
          {"task", m.task},
          {"labels", m.labels},
          {"temperature", m.temperature},
          {"training", m.training},
          {"metrics", m.metrics}};
}

Result<BundleManifest> manifest_from_json(const nlohmann::json& j) {
  try {
    if (j.value("format", "") != "lucent-bundle")
      return fail(ErrorCode::kInvalidData, "bundle.json: \"format\" is not \"lucent-bundle\"");
    if (j.value("format_version", 0) > kFormatVersion)
      return fail(ErrorCode::kUnsupported, "bundle.json: format_version " + std::to_string(j.value("format_version", 0)) +
                                               " is newer than this Lucent understands (" +
                                               std::to_string(kFormatVersion) + "); upgrade Lucent");
    BundleManifest m;
    const auto& a = j.at("architecture");
    m.architecture.name = a.at("name").get<std::string>();
    m.architecture.spatial_dims = a.at("spatial_dims").get<int>();
    m.architecture.in_channels = a.at("in_channels").get<int64_t>();
    m.architecture.num_outputs = a.at("num_outputs").get<int64_t>();
    m.architecture.options = a.value("options", std::map<std::string, std::string>{});
    m.preprocess = j.value("preprocess", nlohmann::json::array());
    m.input_size = j.at("input_size").get<std::vector<int64_t>>();
    m.task = j.at("task").get<std::string>();
    m.labels = j.value("labels", std::vector<std::string>{});
    m.temperature = j.value("temperature", 1.0);
    m.training = j.value("training", nlohmann::json::object());
    m.metrics = j.value("metrics", nlohmann::json::object());
    if (!(m.temperature > 0)) return fail(ErrorCode::kInvalidData, "bundle.json: temperature must be positive");
    return m;
  } catch (const nlohmann::json::exception& e) {
    return fail(ErrorCode::kInvalidData, std::string("bundle.json is malformed: ") + e.what());
  }
}

std::vector<std::pair<std::string, at::Tensor>> state_tensors(Net& net) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : net.named_parameters()) out.emplace_back(p.key(), p.value());
  for (const auto& b : net.named_buffers()) out.emplace_back(b.key(), b.value());
  return out;
}

Status load_state_tensors(Net& net, const std::map<std::string, at::Tensor>& tensors, const std::string& source) {
  torch::NoGradGuard guard;
  std::set<std::string> seen;
  for (auto& [name, target] : state_tensors(net)) {
    auto it = tensors.find(name);
    if (it == tensors.end())
      return fail(ErrorCode::kInvalidData, source + ": tensor " + name + " is missing; the weights belong to another architecture");
    if (it->second.sizes() != target.sizes())
      return fail(ErrorCode::kInvalidData, source + ": tensor " + name + " has shape " +
                                               c10::str(it->second.sizes()) + ", the architecture expects " +
                                               c10::str(target.sizes()));
    target.copy_(it->second.to(target.scalar_type()));
    seen.insert(name);
  }
  for (const auto& [name, t] : tensors)
    if (!seen.count(name))
      return fail(ErrorCode::kInvalidData, source + ": unexpected tensor " + name + "; the weights belong to another architecture");
  return ok();
}

Status save_bundle(const fs::path& dir, Net& net, const BundleManifest& manifest) {
  auto* script = dynamic_cast<TorchScriptNet*>(&net);
  if ((manifest.architecture.name == kTorchScriptArchitecture) != (script != nullptr))
    return fail(ErrorCode::kInvalidArgument, "bundle " + dir.string() + ": architecture '" + manifest.architecture.name +
                                                 "' does not match the net (TorchScript nets, and only they, are saved "
                                                 "as architecture '" + std::string(kTorchScriptArchitecture) + "')");
  std::error_code ec;
  const fs::path parent = dir.parent_path().empty() ? fs::path(".") : dir.parent_path();
  fs::create_directories(parent, ec);
  const fs::path tmp = temporary_sibling(dir);
  remove_tree(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) return fail(ErrorCode::kIoError, "cannot create " + tmp.string() + ": " + ec.message());
  auto cleanup = [&] { remove_tree(tmp, ec); };

  std::vector<std::pair<std::string, at::Tensor>> named;
  for (auto& [n, t] : state_tensors(net)) named.emplace_back(n, t.detach().to(at::kCPU));
  Status st = write_safetensors(tmp / "weights.safetensors", named, {{"architecture", manifest.architecture.name}});
  if (st) st = write_file_atomically(tmp / "bundle.json", to_json(manifest).dump(2) + "\n");
  if (st) st = write_file_atomically(tmp / "model_card.md", manifest.model_card.empty() ? default_card(manifest) : manifest.model_card);
  if (st && script) st = write_file_atomically(tmp / kTorchScriptFile, script->archive());
  std::string sums;
  for (const auto& f : bundle_files(manifest.architecture.name)) {
    if (!st) break;
    auto h = sha256_file(tmp / f);
    if (!h) st = std::unexpected(h.error());
    else sums += *h + "  " + f + "\n";
  }
  if (st) st = write_file_atomically(tmp / "SHA256SUMS", sums);
  if (!st) {
    cleanup();
    return st;
  }
  // Replace an older bundle only once the new one is complete.
  const fs::path old = temporary_sibling(dir);
  if (fs::exists(dir, ec)) fs::rename(dir, old, ec);
  fs::rename(tmp, dir, ec);
  if (ec) {
    cleanup();
    return fail(ErrorCode::kIoError, "cannot move bundle into " + dir.string() + ": " + ec.message());
  }
  remove_tree(old, ec);
  return ok();
}

Result<LoadedBundle> load_bundle(const fs::path& dir, const NetRegistry& registry) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return fail(ErrorCode::kNotFound, "bundle folder " + dir.string() + " does not exist");
  auto sums = read_file(dir / "SHA256SUMS");
  if (!sums) return fail(ErrorCode::kInvalidData, dir.string() + " is not a Lucent bundle (no SHA256SUMS)");
  std::istringstream lines(*sums);
  std::string hash, name;
  std::map<std::string, std::string> listed;  // file -> SHA-256
  while (lines >> hash >> name) {
    auto actual = sha256_file(dir / name);
    if (!actual) return fail(ErrorCode::kPermissionDenied, "bundle " + dir.string() + ": file " + name + " listed in SHA256SUMS is missing");
    if (*actual != hash)
      return fail(ErrorCode::kPermissionDenied, "bundle " + dir.string() + ": " + name +
                                                    " does not match SHA256SUMS (expected " + hash + ", found " +
                                                    *actual + "); the bundle was modified or corrupted — do not use it");
    listed[name] = hash;
  }
  auto not_covered = [&](const std::string& f) {
    return fail(ErrorCode::kPermissionDenied, "bundle " + dir.string() + ": " + f + " is not covered by SHA256SUMS");
  };
  for (const char* f : {"weights.safetensors", "bundle.json", "model_card.md"})
    if (!listed.count(f)) return not_covered(f);
  auto text = read_file(dir / "bundle.json");
  if (!text) return std::unexpected(text.error());
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(*text);
  } catch (const std::exception& e) {
    return fail(ErrorCode::kInvalidData, (dir / "bundle.json").string() + " is not valid JSON: " + e.what());
  }
  auto manifest = manifest_from_json(j);
  if (!manifest) return std::unexpected(manifest.error().with_context(dir.string()));
  for (const auto& f : bundle_files(manifest->architecture.name))
    if (!listed.count(f)) return not_covered(f);
  Result<std::shared_ptr<Net>> net = std::shared_ptr<Net>();
  if (manifest->architecture.name == kTorchScriptArchitecture) {
    // Hash the very bytes that are loaded, so the checked archive is the one that runs.
    const fs::path file = dir / kTorchScriptFile;
    auto bytes = read_file(file);
    if (!bytes) return std::unexpected(bytes.error());
    if (const std::string h = sha256_hex(*bytes); h != listed.at(std::string(kTorchScriptFile)))
      return fail(ErrorCode::kPermissionDenied, "bundle " + dir.string() + ": " + std::string(kTorchScriptFile) +
                                                    " does not match SHA256SUMS (expected " +
                                                    listed.at(std::string(kTorchScriptFile)) + ", found " + h +
                                                    "); the bundle was modified or corrupted — do not use it");
    auto script = TorchScriptNet::from_bytes(std::move(*bytes), file.string());
    if (!script) return std::unexpected(script.error().with_context("bundle " + dir.string()));
    net = std::shared_ptr<Net>(std::move(*script));
  } else {
    net = registry.create(manifest->architecture);
  }
  if (!net) return std::unexpected(net.error().with_context("bundle " + dir.string()));
  auto weights = read_safetensors(dir / "weights.safetensors");
  if (!weights) return std::unexpected(weights.error());
  if (auto st = load_state_tensors(**net, weights->tensors, (dir / "weights.safetensors").string()); !st)
    return std::unexpected(st.error());
  (*net)->eval();
  return LoadedBundle{*net, *manifest, sha256_hex(*sums)};
}

}  // namespace lucent::nets
