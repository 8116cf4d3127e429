// `lucent deid`: de-identify a DICOM file or folder tree (PS3.15 profile and options), verify
// already de-identified files (--check), or read an encrypted lookup table (--reidentify).
#include <iostream>
#include <memory>

#include "commands.h"
#include "lucent/deid/batch.h"
#include "lucent/deid/deidentifier.h"

namespace lucent::app {
namespace {

struct DeidArgs {
  std::string input, output, profile = "basic", key, rules, audit, quarantine, lookup, check, reidentify;
  std::vector<std::string> options;
  bool new_key = false;
  int threads = 1;
};

int run_deid(const DeidArgs& a) {
  using namespace lucent::deid;
  Options opt;
  if (a.profile != "basic")
    return report(Error(ErrorCode::kInvalidArgument, "unknown profile '" + a.profile + "'; the only profile is 'basic' "
                                                     "(PS3.15 Basic Application Level Confidentiality Profile)"));
  for (const auto& o : a.options)
    if (auto s = opt.enable(o); !s) return report(s.error());
  if (auto v = opt.validate(); !v) return report(v.error());

  if (!a.check.empty()) {
    auto s = check_tree(a.check, opt, std::cout);
    if (!s) return report(s.error());
    std::cerr << "checked " << s->files << " files: " << s->findings << " findings in " << s->files_with_findings
              << " files, " << s->unreadable << " unreadable\n";
    return (s->findings > 0 || s->unreadable > 0) ? error_code_info(ErrorCode::kInvalidData).cli_exit_code : 0;
  }
  if (a.key.empty())
    return report(Error(ErrorCode::kInvalidArgument, "--key KEYFILE is required (create one with --key FILE --new-key)"));
  auto key = a.new_key ? ProjectKey::create(a.key) : ProjectKey::load(a.key);
  if (!key) return report(key.error());
  if (a.new_key) std::cerr << "created key file " << a.key << " (mode 0600); keep it secret and backed up\n";

  if (!a.reidentify.empty()) {
    auto text = read_lookup(*key, a.reidentify);
    if (!text) return report(text.error());
    std::cout << *text << "\n";
    return 0;
  }
  if (a.input.empty() || a.output.empty()) {
    if (a.new_key && a.input.empty()) return 0;
    return report(Error(ErrorCode::kInvalidArgument, "give INPUT and OUTPUT (or --check FOLDER)"));
  }
  std::optional<PixelRules> rules;
  if (!a.rules.empty()) {
    auto r = PixelRules::load(a.rules);
    if (!r) return report(r.error());
    rules = std::move(*r);
  }
  auto d = Deidentifier::create(opt, *key, std::move(rules));
  if (!d) return report(d.error());
  BatchConfig cfg;
  cfg.input = a.input;
  cfg.output = a.output;
  cfg.audit = a.audit;
  cfg.quarantine = a.quarantine;
  if (!a.lookup.empty()) cfg.lookup = a.lookup;
  cfg.threads = a.threads;
  cfg.progress = true;
  auto s = run_batch(**d, cfg);
  if (!s) return report(s.error());
  std::cout << s->to_json() << "\n";
  if (s->quarantined > 0)
    std::cerr << "warning: " << s->quarantined << " file(s) quarantined; see the reason files and the audit log\n";
  return 0;
}

}  // namespace

void add_deid_command(CLI::App& app, Runner& run) {
  auto a = std::make_shared<DeidArgs>();
  auto* cmd = app.add_subcommand("deid", "De-identify DICOM files (PS3.15 Basic Profile + options); verify with --check");
  cmd->add_option("INPUT", a->input, "DICOM file or folder tree (never modified)");
  cmd->add_option("OUTPUT", a->output, "Output folder (mirrors the input with pseudonymised names)");
  cmd->add_option("--profile", a->profile, "Confidentiality profile")->default_str("basic");
  std::string names;
  for (const auto& n : lucent::deid::option_names()) names += (names.empty() ? "" : ", ") + n;
  cmd->add_option("--option", a->options, "Profile option, repeatable: " + names);
  cmd->add_option("--key", a->key, "Project key file (64 hex digits, mode 0600)");
  cmd->add_flag("--new-key", a->new_key, "Create the key file given by --key (refuses to overwrite)");
  cmd->add_option("--rules", a->rules, "Pixel rules file (CTP style), e.g. configs/deid/pixel_rules.script");
  cmd->add_option("--audit", a->audit, "Audit log, JSON lines (default: OUTPUT.audit.jsonl)");
  cmd->add_option("--quarantine", a->quarantine, "Quarantine folder for reasons (default: OUTPUT.quarantine)");
  cmd->add_option("--lookup", a->lookup, "Encrypted re-identification table to create or extend (AES-256-GCM)");
  cmd->add_option("--reidentify", a->reidentify, "Decrypt and print a lookup table (needs --key)");
  cmd->add_option("--threads", a->threads, "Worker threads")->check(CLI::PositiveNumber);
  cmd->add_option("--check", a->check, "Verify already de-identified files under FOLDER; non-zero exit on findings");
  cmd->callback([&run, a] { run = [a] { return run_deid(*a); }; });
}

}  // namespace lucent::app
