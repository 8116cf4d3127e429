#include "lucent/deid/batch.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <mutex>
#include <regex>
#include <set>
#include <thread>
#include <unordered_set>

#include "lucent/core/atomic_file.h"
#include "lucent/core/log.h"

namespace lucent::deid {
namespace fs = std::filesystem;
using nlohmann::json;
namespace {

// An append-only file written with write(2); every write is checked (a full disk is an error).
class AppendFile {
 public:
  ~AppendFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  Status open(const fs::path& p) {
    path_ = p;
    fd_ = ::open(p.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd_ < 0) return fail(ErrorCode::kIoError, "cannot open " + p.string() + " for appending: " + std::strerror(errno));
    return ok();
  }
  Status append(std::string_view s) {
    std::lock_guard lock(mu_);
    while (!s.empty()) {
      const ssize_t n = ::write(fd_, s.data(), s.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        const bool full = errno == ENOSPC || errno == EDQUOT;
        return fail(full ? ErrorCode::kResourceExhausted : ErrorCode::kIoError,
                    "cannot write " + path_.string() + ": " + std::strerror(errno));
      }
      s.remove_prefix(static_cast<std::size_t>(n));
    }
    return ok();
  }

 private:
  fs::path path_;
  int fd_ = -1;
  std::mutex mu_;
};

std::string file_identity(const fs::path& rel, const fs::path& abs) {
  struct stat st {};
  ::stat(abs.c_str(), &st);
  return rel.generic_string() + '\0' + std::to_string(st.st_size) + '\0' +
         std::to_string(static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec);
}

bool is_inside(const fs::path& inner, const fs::path& outer) {
  auto i = inner.begin();
  for (auto o = outer.begin(); o != outer.end(); ++o, ++i) {
    if (o->empty()) continue;
    if (i == inner.end() || *i != *o) return false;
  }
  return true;
}

const std::regex& temp_pattern() {
  static const std::regex re(R"(^\..*\.tmp-[0-9]+-[0-9]+.*$)");
  return re;
}

std::string now_utc() {
  const auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char buf[32];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

std::string BatchSummary::to_json() const {
  json j{{"event", "summary"},     {"files", files},
         {"written", written},     {"skipped_completed", skipped},
         {"quarantined", quarantined}, {"burned_in_flagged", burned_in_flagged},
         {"pixel_cleaned", pixel_cleaned}, {"actions", actions},
         {"seconds", seconds},     {"files_per_second", seconds > 0 ? static_cast<double>(written) / seconds : 0.0}};
  return j.dump();
}

Result<std::string> read_lookup(const ProjectKey& key, const fs::path& path) {
  auto sealed = read_file(path);
  if (!sealed) return std::unexpected(sealed.error());
  return with_context(open_lookup(key, *sealed), "reading lookup table " + path.string());
}

Result<BatchSummary> run_batch(const Deidentifier& d, const BatchConfig& cfg0) {
  BatchConfig cfg = cfg0;
  std::error_code ec;
  if (!fs::exists(cfg.input, ec)) return fail(ErrorCode::kNotFound, "input " + cfg.input.string() + " does not exist");
  if (cfg.output.empty()) return fail(ErrorCode::kInvalidArgument, "no output folder given");
  const fs::path in_abs = fs::weakly_canonical(fs::absolute(cfg.input));
  const fs::path out_abs = fs::weakly_canonical(fs::absolute(cfg.output));
  if (is_inside(out_abs, in_abs) || is_inside(in_abs, out_abs))
    return fail(ErrorCode::kInvalidArgument, "output " + out_abs.string() + " and input " + in_abs.string() +
                                                 " overlap; choose an output outside the input (the input is never modified)");
  if (cfg.quarantine.empty()) cfg.quarantine = out_abs.string() + ".quarantine";
  if (cfg.audit.empty()) cfg.audit = out_abs.string() + ".audit.jsonl";
  fs::create_directories(out_abs / ".lucent-deid", ec);
  if (ec) return fail(ErrorCode::kIoError, "cannot create output folder " + out_abs.string() + ": " + ec.message());
  if (::access(out_abs.c_str(), W_OK) != 0)
    return fail(ErrorCode::kPermissionDenied, "output folder " + out_abs.string() + " is not writable: " + std::strerror(errno));

  // Inputs, in a stable order.
  std::vector<fs::path> files;
  if (fs::is_regular_file(in_abs, ec)) {
    files.push_back(in_abs);
  } else {
    for (auto it = fs::recursive_directory_iterator(in_abs, fs::directory_options::skip_permission_denied, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      if (it->is_regular_file(ec)) files.push_back(it->path());
    }
    if (ec) return fail(ErrorCode::kIoError, "cannot list " + in_abs.string() + ": " + ec.message());
    std::sort(files.begin(), files.end());
  }
  const fs::path base = fs::is_regular_file(in_abs, ec) ? in_abs.parent_path() : in_abs;

  // Leftovers of an interrupted run: temporaries are never complete files.
  for (auto it = fs::recursive_directory_iterator(out_abs, ec); it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->is_regular_file(ec) && std::regex_match(it->path().filename().string(), temp_pattern()))
      fs::remove(it->path(), ec);
  }

  // Completion record.
  const fs::path record_path = out_abs / ".lucent-deid" / "completed";
  std::unordered_set<std::string> done;
  if (fs::exists(record_path, ec)) {
    auto text = read_file(record_path);
    if (!text) return std::unexpected(text.error());
    std::size_t start = 0;
    while (start < text->size()) {
      const std::size_t nl = text->find('\n', start);
      if (nl == std::string::npos) break;  // a torn last line (crash) is not a completion
      const std::string line = text->substr(start, nl - start);
      if (line.size() > 33 && line[32] == ' ') done.insert(line.substr(0, 32));
      start = nl + 1;
    }
  }
  AppendFile record, audit;
  if (auto s = record.open(record_path); !s) return std::unexpected(s.error());
  if (auto s = audit.open(cfg.audit); !s) return std::unexpected(s.error().with_context("opening the audit log"));
  {
    json start{{"event", "start"}, {"time", now_utc()}, {"input", in_abs.string()}, {"output", out_abs.string()},
               {"method", d.options().describe()}, {"files", files.size()}, {"threads", cfg.threads}};
    if (auto s = audit.append(start.dump() + "\n"); !s) return std::unexpected(s.error().with_context("writing the audit log"));
  }

  // Lookup table (pseudonym → original identifiers), encrypted.
  std::mutex lookup_mu;
  json lookup = json::object();
  if (cfg.lookup && fs::exists(*cfg.lookup, ec)) {
    auto text = read_lookup(d.key(), *cfg.lookup);
    if (!text) return std::unexpected(text.error());
    lookup = json::parse(*text, nullptr, false);
    if (lookup.is_discarded() || !lookup.is_object())
      return fail(ErrorCode::kInvalidData, "lookup table " + cfg.lookup->string() + " decrypts to invalid JSON");
  }

  BatchSummary summary;
  summary.files = files.size();
  std::mutex summary_mu;
  std::atomic<std::size_t> next{0};
  std::atomic<bool> stop{false};
  std::optional<Error> fatal;
  const auto t0 = std::chrono::steady_clock::now();

  auto set_fatal = [&](const Error& e) {
    std::lock_guard lock(summary_mu);
    if (!fatal) fatal = e;
    stop = true;
  };

  // Group commit: temporaries of up to kGroup files (per worker) are written, made durable with one syncfs,
  // renamed to their final names, made durable again, and only then recorded as complete. A
  // crash at any point leaves either a temporary (removed by the next run) or a complete file.
  struct Pending {
    fs::path tmp, target;
    std::string id, audit_line;
  };
  constexpr std::size_t kGroup = 128;
  const AtomicWriter direct_writer = [](const fs::path& target, const std::function<Status(const fs::path&)>& write) {
    return write(target);
  };
  const int out_fd = ::open(out_abs.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  auto durable = [&]() -> Status {
    if (out_fd < 0 || ::syncfs(out_fd) != 0)
      return fail(ErrorCode::kIoError, "cannot flush the output file system under " + out_abs.string() + ": " +
                                           std::strerror(errno));
    return ok();
  };
  auto commit = [&](std::vector<Pending>& pending) -> bool {
    if (pending.empty()) return true;
    auto abort_group = [&](const Error& e) {
      std::error_code ec3;
      for (const auto& p : pending) fs::remove(p.tmp, ec3);
      pending.clear();
      set_fatal(e);
      return false;
    };
    if (auto s = durable(); !s) return abort_group(s.error());
    for (const auto& p : pending) {
      std::error_code ec3;
      fs::rename(p.tmp, p.target, ec3);
      if (ec3)
        return abort_group(Error(ErrorCode::kIoError, "cannot rename " + p.tmp.string() + " to " + p.target.string() + ": " + ec3.message()));
    }
    if (auto s = durable(); !s) return abort_group(s.error());
    std::string audit_text, record_text;
    for (const auto& p : pending) {
      audit_text += p.audit_line;
      record_text += p.id + " written\n";
    }
    const std::size_t n_done = pending.size();
    pending.clear();
    if (auto s = audit.append(audit_text); !s) {
      set_fatal(s.error().with_context("writing the audit log"));
      return false;
    }
    if (auto s = record.append(record_text); !s) {
      set_fatal(s.error().with_context("writing the completion record"));
      return false;
    }
    std::lock_guard lock(summary_mu);
    summary.written += n_done;
    if (cfg.progress && summary.written % 512 < n_done)
      log_info("deid: " + std::to_string(summary.written + summary.quarantined + summary.skipped) + "/" +
               std::to_string(files.size()) + " files");
    return true;
  };

  auto worker = [&] {
    std::vector<Pending> pending;
    while (!stop) {
      const std::size_t i = next++;
      if (i >= files.size()) break;
      const fs::path& in = files[i];
      const fs::path rel = fs::relative(in, base, ec);
      const std::string id = d.key().hmac_hex("completion", file_identity(rel, in), 32);
      if (done.contains(id)) {
        std::lock_guard lock(summary_mu);
        ++summary.skipped;
        continue;
      }
      fs::path target = out_abs;
      for (const auto& seg : rel.parent_path()) target /= "d" + d.key().hmac_hex("dir", seg.string(), 12);
      target /= "f" + d.key().hmac_hex("file", rel.generic_string(), 16) + ".dcm";
      std::error_code ec2;
      fs::create_directories(target.parent_path(), ec2);
      const fs::path tmp_path = temporary_sibling(target);
      auto rep = d.deidentify_file(in, tmp_path, &direct_writer);
      json line;
      if (!rep) {
        fs::remove(tmp_path, ec2);  // a write that failed half-way leaves nothing behind
        const ErrorCode code = rep.error().code();
        if (code == ErrorCode::kIoError || code == ErrorCode::kResourceExhausted || code == ErrorCode::kInternal ||
            code == ErrorCode::kInvalidArgument) {
          set_fatal(rep.error().with_context("de-identifying " + in.string()));
          break;
        }
        // Quarantine with a reason; nothing reaches the output.
        fs::create_directories(cfg.quarantine, ec2);
        json reason{{"input", in.string()}, {"code", std::string(error_code_info(code).name)},
                    {"reason", rep.error().message()}, {"time", now_utc()}};
        const fs::path reason_path = cfg.quarantine / (id + ".reason.json");
        if (auto s = write_file_atomically(reason_path, reason.dump(2) + "\n"); !s) {
          set_fatal(s.error().with_context("writing quarantine reason"));
          break;
        }
        line = {{"event", "quarantine"}, {"input", in.string()}, {"code", std::string(error_code_info(code).name)},
                {"reason", rep.error().message()}, {"reason_file", reason_path.string()}};
        if (auto s = audit.append(line.dump() + "\n"); !s) {
          set_fatal(s.error().with_context("writing the audit log"));
          break;
        }
        if (auto s = record.append(id + " quarantined\n"); !s) {
          set_fatal(s.error().with_context("writing the completion record"));
          break;
        }
        std::lock_guard lock(summary_mu);
        ++summary.quarantined;
        continue;
      }
      if (cfg.lookup && (!rep->original_patient_id.empty() || !rep->original_patient_name.empty())) {
        std::lock_guard lock(lookup_mu);
        if (!lookup.contains(rep->patient_pseudonym)) {
          lookup[rep->patient_pseudonym] = {{"patient_id", rep->original_patient_id},
                                            {"patient_name", rep->original_patient_name}};
          auto sealed = seal_lookup(d.key(), lookup.dump());
          Status s = sealed ? write_file_atomically(*cfg.lookup, *sealed) : Status(std::unexpected(sealed.error()));
          if (s) ::chmod(cfg.lookup->c_str(), 0600);
          if (!s) {
            set_fatal(s.error().with_context("writing the lookup table"));
            break;
          }
        }
      }
      json actions = json::array();
      std::map<std::string, std::size_t> counts;
      for (const auto& a : rep->actions) {
        actions.push_back({{"tag", a.path}, {"action", a.action}, {"code", a.code}});
        ++counts[a.action];
      }
      line = {{"event", "file"},
              {"input", in.string()},
              {"output", fs::relative(target, out_abs, ec2).generic_string()},
              {"sop_class_uid", rep->sop_class_uid},
              {"transfer_syntax", rep->transfer_syntax},
              {"burned_in", rep->burned_in},
              {"pixel_rule", rep->pixel_rule},
              {"decompressed", rep->decompressed},
              {"warnings", rep->warnings},
              {"actions", actions}};
      pending.push_back({tmp_path, target, id, line.dump() + "\n"});
      {
        std::lock_guard lock(summary_mu);
        summary.burned_in_flagged += rep->burned_in;
        summary.pixel_cleaned += !rep->pixel_rule.empty();
        for (const auto& [k, v] : counts) summary.actions[k] += v;
      }
      if (pending.size() >= kGroup && !commit(pending)) break;
    }
    commit(pending);
  };
  const int n = std::max(1, cfg.threads);
  std::vector<std::thread> pool;
  for (int t = 1; t < n; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (out_fd >= 0) ::close(out_fd);
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (fatal) {
    (void)audit.append(json{{"event", "aborted"}, {"reason", fatal->message()}}.dump() + "\n");
    return std::unexpected(*fatal);
  }
  if (auto s = audit.append(summary.to_json() + "\n"); !s) return std::unexpected(s.error().with_context("writing the audit log"));
  return summary;
}

Result<CheckSummary> check_tree(const fs::path& folder, const Options& options, std::ostream& report) {
  std::error_code ec;
  if (!fs::exists(folder, ec)) return fail(ErrorCode::kNotFound, "folder " + folder.string() + " does not exist");
  std::vector<fs::path> files;
  if (fs::is_regular_file(folder, ec)) {
    files.push_back(folder);
  } else {
    for (auto it = fs::recursive_directory_iterator(folder, ec); it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      if (it->is_directory(ec) && it->path().filename() == ".lucent-deid") {
        it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file(ec)) files.push_back(it->path());
    }
    std::sort(files.begin(), files.end());
  }
  CheckSummary s;
  for (const auto& f : files) {
    ++s.files;
    auto findings = check_file(f, options);
    if (!findings) {
      ++s.unreadable;
      report << f.string() << ": unreadable: " << findings.error().message() << "\n";
      continue;
    }
    if (!findings->empty()) ++s.files_with_findings;
    for (const auto& x : *findings) {
      ++s.findings;
      report << f.string() << ": " << x.path << " " << x.name << ": " << x.problem << "\n";
    }
  }
  return s;
}

}  // namespace lucent::deid
