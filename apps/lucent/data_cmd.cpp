// `lucent data fetch|verify|list|manifest|split|check`: parsing and printing; the logic is in
// lucent/data/fetch.h and lucent/data/manifest.h.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

#include "commands.h"
#include "lucent/data/fetch.h"
#include "lucent/data/manifest.h"

namespace lucent::app {
namespace {
namespace fs = std::filesystem;

struct FetchArgs {
  std::string dataset;
  std::string subset;  // MedMNIST set
  int size_px = 28;
  std::string dest;
  bool force = false;
  std::string url;     // hidden: replaces the Zenodo base URL
  std::string tables;  // hidden: folder of the committed tables
};

struct VerifyArgs {
  std::string dataset;
  std::string dir;
  bool all = false;
  std::string tables;
};

constexpr std::size_t kListedPerCategory = 25;

std::string human_bytes(std::uintmax_t n) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(1);
  if (n >= (1ull << 30)) s << static_cast<double>(n) / (1ull << 30) << " GiB";
  else if (n >= (1ull << 20)) s << static_cast<double>(n) / (1ull << 20) << " MiB";
  else if (n >= 1024) s << static_cast<double>(n) / 1024 << " KiB";
  else s << n << " B";
  return s.str();
}

std::string env_or(const char* name, std::string fallback) {
  if (const char* v = std::getenv(name); v && *v) return v;
  return fallback;
}

// A MedMNIST set named directly ("lucent data fetch breastmnist") is read as "medmnist breastmnist".
bool is_medmnist_set(std::string_view name, const std::string& tables_hint) {
  auto tables = data::find_dataset_tables(tables_hint);
  if (!tables) return false;
  auto catalog = data::MedmnistCatalog::load(*tables / "medmnist.json");
  return catalog && catalog->contains(name);
}

void print_manual(const data::DatasetInfo& d, const std::string& tables_hint) {
  std::cout << d.name << ": " << d.title << "\n"
            << "Automatic download is not implemented for " << d.name
            << ": its official source is a web page or archive that Lucent does not fetch or checksum itself.\n"
            << "Get it by hand:\n"
            << "  official source: " << d.official_source << "\n"
            << "  terms:           " << d.terms << "\n\n"
            << d.instructions << "\n\n"
            << "Then check the copy file by file:\n"
            << "  lucent data verify " << d.name << " DIR\n";
  std::string count;
  if (auto tables = data::find_dataset_tables(tables_hint)) {
    if (auto list = data::load_sha256_list(*tables / d.checksum_list)) count = std::to_string(list->size()) + " files, ";
  }
  std::cout << "The checksum list (configs/datasets/" << d.checksum_list << ", " << count << "SHA-256) describes\n"
            << d.list_describes << ".\n";
}

int run_fetch(const FetchArgs& a) {
  std::string dataset = a.dataset;
  std::string subset = a.subset;
  auto info = data::find_dataset(dataset);
  if (!info && subset.empty() && is_medmnist_set(dataset, a.tables)) {
    subset = dataset;
    dataset = "medmnist";
    info = data::find_dataset(dataset);
  }
  if (!info) return report(info.error());
  if ((*info)->method == data::FetchMethod::kManual) {
    if (!subset.empty())
      return report(Error(ErrorCode::kInvalidArgument,
                          "dataset " + dataset + " has no subsets; use: lucent data fetch " + dataset));
    print_manual(**info, a.tables);
    return 0;
  }

  auto tables = data::find_dataset_tables(a.tables);
  if (!tables) return report(tables.error());
  auto catalog = data::MedmnistCatalog::load(*tables / "medmnist.json");
  if (!catalog) return report(catalog.error());
  if (subset.empty())
    return report(Error(ErrorCode::kInvalidArgument, "name a MedMNIST set: lucent data fetch medmnist NAME "
                                                     "[--size 28|64|128|224]; the release has: " +
                                                         catalog->names()));

  data::FetchOptions opts;
  opts.force = a.force;
  opts.base_url = !a.url.empty() ? a.url : env_or(std::string(data::kBaseUrlEnv).c_str(), std::string(data::kMedmnistBaseUrl));
  const std::string data_root = env_or("LUCENT_DATA", "");
  const fs::path dest = !a.dest.empty()     ? fs::path(a.dest)
                        : data_root.empty() ? fs::path("data") / "medmnist"
                                            : fs::path(data_root) / "medmnist";

  const bool show_progress = ::isatty(STDERR_FILENO) == 1;
  if (show_progress) {
    auto last = std::make_shared<std::chrono::steady_clock::time_point>();
    const std::string file = data::medmnist_file_name(subset, a.size_px);
    opts.download.on_progress = [last, file](std::uint64_t got, std::uint64_t total) {
      const auto now = std::chrono::steady_clock::now();
      if (now - *last < std::chrono::milliseconds(250) && (total == 0 || got < total)) return;
      *last = now;
      std::cerr << "\r  " << file << ": " << human_bytes(got);
      if (total > 0) std::cerr << " / " << human_bytes(total) << " (" << (100 * got / total) << " %)";
      std::cerr << "   " << std::flush;
    };
  }

  auto result = data::fetch_medmnist(*catalog, subset, a.size_px, dest, opts);
  if (show_progress) std::cerr << "\r" << std::string(72, ' ') << "\r" << std::flush;
  if (!result) return report(result.error());
  switch (result->outcome) {
    case data::FetchOutcome::kAlreadyPresent:
      std::cout << result->path.string() << ": already present, checksum ok (MD5 " << result->md5 << ")\n";
      break;
    case data::FetchOutcome::kDownloaded:
    case data::FetchOutcome::kReplaced:
      std::cout << result->path.string() << ": "
                << (result->outcome == data::FetchOutcome::kReplaced ? "replaced (the old copy had the wrong checksum)"
                                                                     : "downloaded")
                << ", " << human_bytes(result->bytes) << ", MD5 " << result->md5 << " ok\n"
                << "  from " << result->url << "\n";
      break;
  }
  return 0;
}

template <typename T, typename Print>
void print_capped(const std::vector<T>& items, bool all, Print print) {
  const std::size_t n = all ? items.size() : std::min(items.size(), kListedPerCategory);
  for (std::size_t i = 0; i < n; ++i) print(items[i]);
  if (n < items.size()) std::cout << "  ... and " << (items.size() - n) << " more (--all lists every one)\n";
}

int run_verify(const VerifyArgs& a) {
  std::string dataset = a.dataset;
  auto info = data::find_dataset(dataset);
  if (!info && is_medmnist_set(dataset, a.tables)) {
    dataset = "medmnist";
    info = data::find_dataset(dataset);
  }
  if (!info) return report(info.error());
  auto tables = data::find_dataset_tables(a.tables);
  if (!tables) return report(tables.error());

  Result<data::VerifyReport> rep = fail(ErrorCode::kInternal, "not run");
  std::string list_name;
  if ((*info)->method == data::FetchMethod::kAutomatic) {
    auto catalog = data::MedmnistCatalog::load(*tables / "medmnist.json");
    if (!catalog) return report(catalog.error());
    list_name = "medmnist.json";
    rep = data::verify_medmnist_folder(*catalog, a.dir);
  } else {
    list_name = std::string((*info)->checksum_list);
    auto list = data::load_sha256_list(*tables / list_name);
    if (!list) return report(list.error());
    rep = data::verify_folder(*list, a.dir);
  }
  if (!rep) return report(rep.error());
  const data::VerifyReport& r = *rep;

  print_capped(r.mismatched, a.all, [&](const data::VerifyMismatch& m) {
    std::cout << "MISMATCH    " << m.path << "  (" << r.algorithm << " expected " << m.expected << ", found " << m.found
              << ")\n";
  });
  print_capped(r.missing, a.all, [](const std::string& p) { std::cout << "MISSING     " << p << "\n"; });
  print_capped(r.unreadable, a.all, [](const std::string& p) { std::cout << "UNREADABLE  " << p << "\n"; });
  print_capped(r.unexpected, a.all,
               [](const std::string& p) { std::cout << "warning: unexpected file, not in the list: " << p << "\n"; });
  std::cout << (*info)->name << " (" << a.dir << ", " << r.algorithm << " against configs/datasets/" << list_name
            << "): " << r.listed << " checked, " << r.ok << " ok, " << r.mismatched.size() << " mismatched, "
            << r.missing.size() << " missing, " << r.unreadable.size() << " unreadable, " << r.unexpected.size()
            << " unexpected\n";
  if (auto st = r.status((*info)->name, a.dir); !st) {
    // A mismatch often means a different edition of the data (BUSI: original vs downscaled).
    if (!r.mismatched.empty())
      std::cout << "note: configs/datasets/" << list_name << " describes " << (*info)->list_describes << "\n";
    return report(st.error());
  }
  std::cout << "verify ok\n";
  return 0;
}

int run_list(const std::string& tables_hint) {
  std::cout << "Datasets (lucent data fetch NAME; lucent data verify NAME DIR):\n";
  for (const auto& d : data::dataset_registry())
    std::cout << "  " << std::left << std::setw(10) << d.name
              << (d.method == data::FetchMethod::kAutomatic ? "automatic  " : "by hand    ") << d.title << "\n";
  auto tables = data::find_dataset_tables(tables_hint);
  if (!tables) return report(tables.error());
  auto catalog = data::MedmnistCatalog::load(*tables / "medmnist.json");
  if (!catalog) return report(catalog.error());
  std::cout << "\nMedMNIST sets (lucent data fetch medmnist NAME --size PX):\n";
  for (const auto& e : catalog->entries()) {
    std::string sizes;
    for (const auto& [px, _] : e.md5_by_size_px) sizes += (sizes.empty() ? "" : ",") + std::to_string(px);
    std::cout << "  " << std::left << std::setw(16) << e.name << e.spatial_dims << "-D  " << std::setw(12) << sizes
              << " " << e.labels.size() << " classes, " << e.task << ", " << e.n_channels << " channel(s)\n";
  }
  return 0;
}

struct ManifestArgs {
  std::string input;                  // CSV manifest or image folder
  std::string out;
  std::vector<std::string> exclude;
  double val = 0.15, test = 0.15;
  int64_t seed = 0;
  std::vector<std::string> labels;
  std::vector<int64_t> size;
  int64_t channels = 0;
  bool multilabel = false;
  bool all = false;
};

Result<data::Manifest> open_manifest(const ManifestArgs& a) {
  std::error_code ec;
  if (fs::is_directory(a.input, ec)) return data::scan_image_folder(a.input, a.exclude);
  return data::read_manifest(a.input);
}

int run_manifest(const ManifestArgs& a) {
  auto m = open_manifest(a);
  if (!m) return report(m.error());
  if (auto st = data::write_manifest(*m, a.out); !st) return report(st.error());
  std::cout << m->entries.size() << " image(s) → " << a.out << "\n";
  return 0;
}

int run_split(const ManifestArgs& a) {
  auto m = open_manifest(a);
  if (!m) return report(m.error());
  auto s = data::split_by_patient(std::move(*m), {.val_fraction = a.val, .test_fraction = a.test,
                                                  .seed = static_cast<uint64_t>(a.seed)});
  if (!s) return report(s.error());
  if (auto st = data::write_manifest(*s, a.out); !st) return report(st.error());
  std::map<std::string, std::map<std::string, int64_t>> counts;
  for (const auto& e : s->entries) ++counts[e.split][e.label];
  std::cout << "patient-level split, seed " << a.seed << " → " << a.out << "\n";
  for (const auto& [split, by_label] : counts) {
    std::cout << "  " << std::left << std::setw(6) << split;
    for (const auto& [label, n] : by_label) std::cout << "  " << label << " " << n;
    std::cout << "\n";
  }
  return 0;
}

int run_check(const ManifestArgs& a) {
  auto m = open_manifest(a);
  if (!m) return report(m.error());
  auto r = data::check_manifest(*m, {.labels = a.labels, .multilabel = a.multilabel, .channels = a.channels, .size = a.size});
  std::cout << r.images << " image(s) in " << m->source << "\n";
  for (const auto& [split, by_label] : r.counts) {
    std::cout << "  " << std::left << std::setw(8) << (split.empty() ? "all" : split);
    if (!split.empty() && r.patients.count(split)) std::cout << " (" << r.patients.at(split) << " patients)";
    for (const auto& [label, n] : by_label) std::cout << "  " << label << " " << n;
    std::cout << "\n";
  }
  if (r.problems.empty()) {
    std::cout << "no problems found\n";
    return 0;
  }
  const std::size_t shown = a.all ? r.problems.size() : std::min<std::size_t>(r.problems.size(), kListedPerCategory);
  std::cout << std::flush;
  std::cerr << r.problems.size() << " problem(s):\n";
  for (std::size_t i = 0; i < shown; ++i)
    std::cerr << "  " << r.problems[i].id << " (" << r.problems[i].path << "): " << r.problems[i].what << "\n";
  if (shown < r.problems.size()) std::cerr << "  … " << r.problems.size() - shown << " more (--all lists every one)\n";
  return report(Error(ErrorCode::kInvalidData, m->source + ": " + std::to_string(r.problems.size()) +
                                                   " bad case(s); fix or remove them before training"));
}

}  // namespace

void add_data_command(CLI::App& app, Runner& run) {
  auto* cmd = app.add_subcommand("data", "Get the project's datasets, check local copies, build manifests and patient-level splits");
  cmd->require_subcommand(1);

  auto f = std::make_shared<FetchArgs>();
  auto* fetch = cmd->add_subcommand(
      "fetch", "Download a MedMNIST set (checked against the release MD5), or print how to get the others");
  fetch->add_option("dataset", f->dataset, "medmnist, busi, drive, isbi2012, mricron or dicom")->required();
  fetch->add_option("name", f->subset, "MedMNIST set, e.g. breastmnist (see: lucent data list)");
  fetch->add_option("--size", f->size_px, "MedMNIST image size in px (3-D sets: 28 or 64)")
      ->check(CLI::IsMember({28, 64, 128, 224}));
  fetch->add_option("--dest", f->dest, "Destination folder (default $LUCENT_DATA/medmnist or ./data/medmnist)");
  fetch->add_flag("--force", f->force, "Replace an existing file whose checksum is wrong");
  fetch->add_option("--url", f->url, "Base URL replacing the Zenodo record (also $LUCENT_FETCH_BASE_URL)")->group("");
  fetch->add_option("--tables", f->tables, "Folder of the dataset tables (also $LUCENT_DATASET_TABLES)")->group("");
  fetch->callback([&run, f] { run = [f] { return run_fetch(*f); }; });

  auto v = std::make_shared<VerifyArgs>();
  auto* verify = cmd->add_subcommand("verify", "Check a local copy file by file against the committed checksum list");
  verify->add_option("dataset", v->dataset, "medmnist, busi, drive, isbi2012, mricron or dicom")->required();
  verify->add_option("dir", v->dir, "The dataset's folder")->required();
  verify->add_flag("--all", v->all, "List every problem (default: the first 25 of each kind)");
  verify->add_option("--tables", v->tables, "Folder of the dataset tables (also $LUCENT_DATASET_TABLES)")->group("");
  verify->callback([&run, v] { run = [v] { return run_verify(*v); }; });

  auto tables = std::make_shared<std::string>();
  auto* list = cmd->add_subcommand("list", "List the datasets and the MedMNIST sets with their sizes");
  list->add_option("--tables", *tables, "Folder of the dataset tables")->group("");
  list->callback([&run, tables] { run = [tables] { return run_list(*tables); }; });

  // Manifest tools: the three share the input (CSV manifest or image folder) and --exclude.
  auto input_options = [](CLI::App* c, ManifestArgs& a) {
    c->add_option("input", a.input, "CSV manifest (path,label[,patient_id,id,split,…]) or image folder ROOT/<class>/…")
        ->required()
        ->check(CLI::ExistingPath);
    c->add_option("--exclude", a.exclude, "Image folder: skip files matching this glob, e.g. '*_mask*' (repeatable)");
  };
  auto mf = std::make_shared<ManifestArgs>();
  auto* manifest = cmd->add_subcommand("manifest", "Write the CSV manifest of an image folder (one sub-folder per class)");
  input_options(manifest, *mf);
  manifest->add_option("--out", mf->out, "Manifest to write (CSV)")->required();
  manifest->callback([&run, mf] { run = [mf] { return run_manifest(*mf); }; });

  auto sp = std::make_shared<ManifestArgs>();
  auto* split = cmd->add_subcommand("split", "Seeded, stratified, patient-level train/val/test split, written as a manifest");
  input_options(split, *sp);
  split->add_option("--out", sp->out, "Split manifest to write (CSV with a split column)")->required();
  split->add_option("--val", sp->val, "Fraction of patients for validation")->check(CLI::Range(0.0, 0.9));
  split->add_option("--test", sp->test, "Fraction of patients for test")->check(CLI::Range(0.0, 0.9));
  split->add_option("--seed", sp->seed, "Seed of the shuffle")->check(CLI::NonNegativeNumber);
  split->callback([&run, sp] { run = [sp] { return run_split(*sp); }; });

  auto ck = std::make_shared<ManifestArgs>();
  auto* check = cmd->add_subcommand("check", "Read every image and name each bad case (unreadable, unknown label, wrong "
                                             "size or channels, patient in two splits); class counts per split");
  input_options(check, *ck);
  check->add_option("--labels", ck->labels, "Known labels (others are reported)")->delimiter(',');
  check->add_option("--size", ck->size, "Expected spatial size, y,x or z,y,x")->delimiter(',');
  check->add_option("--channels", ck->channels, "Expected channel count (default: the most common)")
      ->check(CLI::NonNegativeNumber);
  check->add_flag("--multilabel", ck->multilabel, "Labels are ';'-separated lists");
  check->add_flag("--all", ck->all, "List every problem");
  check->callback([&run, ck] { run = [ck] { return run_check(*ck); }; });
}

}  // namespace lucent::app
