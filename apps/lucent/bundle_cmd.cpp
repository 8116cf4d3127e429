#include <iostream>

#include "commands.h"
#include "lucent/core/config.h"
#include "lucent/core/task.h"
#include "lucent/nets/bundle.h"
#include "lucent/nets/torchscript.h"
#include "lucent/transforms/transform.h"

namespace lucent::app {
namespace {
namespace fs = std::filesystem;

struct ImportArgs {
  std::string model;
  std::string spec;
  std::string out;
  bool force = false;
};

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

std::string size_string(const std::vector<int64_t>& v) {
  std::string s;
  for (auto x : v) s += (s.empty() ? "" : "x") + std::to_string(x);
  return s;
}

void print_bundle(const fs::path& dir, const nets::LoadedBundle& b) {
  const auto& m = b.manifest;
  const auto& a = m.architecture;
  std::cout << "bundle        " << dir.string() << "\n"
            << "id            " << b.sha256 << "\n"
            << "architecture  " << a.name << " (" << a.spatial_dims << "-D, " << a.in_channels
            << " channel(s), " << a.num_outputs << " output(s), " << b.net->parameter_count()
            << " parameters)\n"
            << "task          " << m.task << "\n"
            << "labels        " << join(m.labels) << "\n"
            << "input         " << size_string(m.input_size) << " after " << m.preprocess.size()
            << " preprocess step(s)\n";
  if (m.temperature != 1.0) std::cout << "temperature   " << m.temperature << "\n";
  if (m.training.value("imported", false)) {
    const auto src = m.training.value("source", nlohmann::json::object());
    std::cout << "imported from " << src.value("file", "?") << " (SHA-256 " << src.value("sha256", "?")
              << ")\n";
  }
}

int run_import(const ImportArgs& a) {
  auto cfg = load_config(a.spec);
  if (!cfg) return report(cfg.error().with_context("--spec"));
  auto spec = nets::parse_import_spec(*cfg, a.spec);
  if (!spec) return report(spec.error());
  transforms::TransformRegistry tfs;
  transforms::register_builtin_transforms(tfs);
  if (auto p = transforms::Pipeline::from_json(spec->preprocess, tfs); !p)
    return report(p.error().with_context(a.spec + ": preprocess"));
  auto bundle = nets::import_torchscript(a.model, *spec, a.out, {.overwrite = a.force});
  if (!bundle) return report(bundle.error());
  std::cout << "imported " << a.model << " → " << a.out << "\n";
  print_bundle(a.out, *bundle);
  return 0;
}

// Hashes, bundle.json, the net (built and weights loaded), the preprocess pipeline, and one
// forward pass on zeros of the declared input shape.
int run_verify(const std::string& dir) {
  nets::NetRegistry nets;
  nets::register_builtin_nets(nets);
  auto b = nets::load_bundle(dir, nets);
  if (!b) return report(b.error());
  if (auto t = parse_task(b->manifest.task); !t) return report(t.error().with_context("bundle " + dir));
  if (b->manifest.labels.size() != static_cast<std::size_t>(b->manifest.architecture.num_outputs))
    return report(Error(ErrorCode::kInvalidData,
                        "bundle " + dir + ": " + std::to_string(b->manifest.labels.size()) + " labels for " +
                            std::to_string(b->manifest.architecture.num_outputs) + " outputs"));
  transforms::TransformRegistry tfs;
  transforms::register_builtin_transforms(tfs);
  if (auto p = transforms::Pipeline::from_json(b->manifest.preprocess, tfs); !p)
    return report(p.error().with_context("bundle " + dir + " preprocess"));
  if (b->manifest.input_size.size() != static_cast<std::size_t>(b->manifest.architecture.spatial_dims))
    return report(
        Error(ErrorCode::kInvalidData, "bundle " + dir + ": input_size has " +
                                           std::to_string(b->manifest.input_size.size()) + " entries for a " +
                                           std::to_string(b->manifest.architecture.spatial_dims) + "-D net"));
  if (auto st =
          nets::probe_output(*b->net, b->manifest.architecture, b->manifest.input_size, "bundle " + dir);
      !st)
    return report(st.error());
  print_bundle(dir, *b);
  std::cout << "verify ok\n";
  return 0;
}

}  // namespace

void add_bundle_command(CLI::App& app, Runner& run) {
  auto* cmd =
      app.add_subcommand("bundle", "Import models as bundles and check bundles (see docs/bundles.md)");
  cmd->require_subcommand(1);

  auto i = std::make_shared<ImportArgs>();
  auto* imp =
      cmd->add_subcommand("import", "Wrap a TorchScript model saved by PyTorch (torch.jit.save) as a bundle");
  imp->add_option("model", i->model, "TorchScript archive (torch.jit.save)")->required();
  imp->add_option("--spec", i->spec, "YAML: task, labels, spatial_dims, in_channels, input_size, preprocess")
      ->required();
  imp->add_option("--out", i->out, "Bundle folder to create")->required();
  imp->add_flag("--force", i->force, "Replace an existing bundle at --out");
  imp->callback([&run, i] { run = [i] { return run_import(*i); }; });

  auto dir = std::make_shared<std::string>();
  auto* verify = cmd->add_subcommand("verify", "Check a bundle's hashes, load it and run it once on zeros");
  verify->add_option("dir", *dir, "Bundle folder")->required();
  verify->callback([&run, dir] { run = [dir] { return run_verify(*dir); }; });
}

}  // namespace lucent::app
