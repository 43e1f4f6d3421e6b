#include "bpf_session.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <regex>

namespace kindling {

namespace {

// the session calling libbpf on this thread, if any
thread_local std::string* tl_log_sink = nullptr;

int PrintToSink(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (tl_log_sink == nullptr || level == LIBBPF_DEBUG) return 0;
  char line[1024];
  int n = vsnprintf(line, sizeof(line), fmt, args);
  if (n > 0) tl_log_sink->append(line);
  return n;
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// the last few lines of a libbpf log, enough to say why without the verifier dump
std::string Tail(const std::string& log, size_t lines) {
  size_t pos = log.size();
  size_t seen = 0;
  while (pos > 0) {
    size_t nl = log.rfind('\n', pos - 1);
    if (nl == std::string::npos) return log;
    if (nl + 1 < pos && ++seen > lines) return log.substr(nl + 1);
    pos = nl;
  }
  return log;
}

}  // namespace

LibbpfLogCapture::LibbpfLogCapture(std::string* sink) : prev_(tl_log_sink) {
  // installing the same function again is harmless; it carries no state
  libbpf_set_print(PrintToSink);
  tl_log_sink = sink;
}

LibbpfLogCapture::~LibbpfLogCapture() { tl_log_sink = prev_; }

BpfSession::~BpfSession() { Close(); }

void BpfSession::ApplyRodata(const OpenOptions& opts) {
  if (opts.rodata.empty()) return;
  bpf_map* rodata = nullptr;
  bpf_map* map;
  bpf_object__for_each_map(map, obj_) {
    if (EndsWith(bpf_map__name(map), ".rodata")) rodata = map;
  }
  btf* b = bpf_object__btf(obj_);
  int sec_id = b ? btf__find_by_name_kind(b, ".rodata", BTF_KIND_DATASEC) : -1;
  if (rodata == nullptr || sec_id < 0) {
    throw SessionError{"KINDLING_ERR_BPF_OPTION", "the BPF object has no .rodata section to configure", EINVAL};
  }
  size_t size = 0;
  const void* init = bpf_map__initial_value(rodata, &size);
  std::vector<uint8_t> data(static_cast<const uint8_t*>(init), static_cast<const uint8_t*>(init) + size);

  const btf_type* sec = btf__type_by_id(b, sec_id);
  const btf_var_secinfo* vars = btf_var_secinfos(sec);
  std::map<std::string, bool> applied;
  for (int i = 0; i < btf_vlen(sec); i++) {
    const btf_type* var = btf__type_by_id(b, vars[i].type);
    std::string name = btf__name_by_offset(b, var->name_off);
    auto it = opts.rodata.find(name);
    if (it == opts.rodata.end()) continue;
    uint64_t v = it->second;
    if (vars[i].offset + vars[i].size > data.size() || vars[i].size > 8) {
      throw SessionError{"KINDLING_ERR_BPF_OPTION", "bad .rodata layout for " + name, EINVAL};
    }
    // little-endian targets only (x86_64, arm64)
    memcpy(data.data() + vars[i].offset, &v, vars[i].size);
    applied[name] = true;
  }
  for (const auto& kv : opts.rodata) {
    if (!applied.count(kv.first)) {
      throw SessionError{"KINDLING_ERR_BPF_OPTION", "the BPF object has no setting named " + kv.first, EINVAL};
    }
  }
  if (bpf_map__set_initial_value(rodata, data.data(), data.size()) != 0) {
    throw SessionError{"KINDLING_ERR_BPF_OPTION", "cannot set .rodata", EINVAL};
  }
}

bool BpfSession::TryLoad(const std::string& path, const OpenOptions& opts, std::string* failed_prog, int* err) {
  log_.clear();
  LibbpfLogCapture capture(&log_);
  obj_ = bpf_object__open_file(path.c_str(), nullptr);
  if (obj_ == nullptr) {
    int e = errno;
    throw SessionError{"KINDLING_ERR_BPF_OPEN", "cannot open BPF object " + path + ": " + strerror(e) + "\n" + Tail(log_, 4), e};
  }
  ApplyRodata(opts);
  if (opts.ring_bytes != 0) {
    bpf_map* rb = bpf_object__find_map_by_name(obj_, "events");
    if (rb != nullptr && bpf_map__set_max_entries(rb, opts.ring_bytes) != 0) {
      throw SessionError{"KINDLING_ERR_BPF_OPTION", "cannot size the ring buffer", EINVAL};
    }
  }
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj_) {
    for (const auto& name : disabled_) {
      if (name == bpf_program__name(prog)) bpf_program__set_autoload(prog, false);
    }
    for (const auto& name : opts.skip) {
      if (name == bpf_program__name(prog)) bpf_program__set_autoload(prog, false);
    }
  }
  int rc = bpf_object__load(obj_);
  if (rc == 0) return true;
  if (rc == -EAGAIN) {
    // the verifier gives up when a signal (a profiler's SIGPROF) interrupts it: the caller retries
    *err = EAGAIN;
    return false;
  }
  *err = -rc;
  // libbpf names the program the verifier refused; anything else (maps, BTF, permissions) is fatal
  std::smatch m;
  static const std::regex refused("prog '([^']+)': failed to load");
  if (std::regex_search(log_, m, refused)) *failed_prog = m[1];
  return false;
}

void BpfSession::Open(const std::string& path, const OpenOptions& opts) {
  Close();
  disabled_.clear();
  std::map<std::string, ProgramReport> refused;
  int interrupted = 0;
  for (;;) {
    std::string failed;
    int err = 0;
    bool ok = false;
    try {
      ok = TryLoad(path, opts, &failed, &err);
    } catch (...) {
      Close();
      throw;
    }
    if (ok) break;
    std::string why = Tail(log_, 6);
    bpf_object__close(obj_);
    obj_ = nullptr;
    if (err == EAGAIN && ++interrupted < 5) continue;
    if (failed.empty() || err == EPERM) {
      const char* code = (err == EPERM) ? "KINDLING_ERR_PERMISSION" : "KINDLING_ERR_BPF_LOAD";
      throw SessionError{code, std::string("cannot load BPF object: ") + strerror(err) + "\n" + why, err};
    }
    ProgramReport r;
    r.name = failed;
    r.err = err;
    r.message = why;
    refused[failed] = r;
    disabled_.push_back(failed);
  }
  programs_.clear();
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj_) {
    ProgramReport r;
    r.name = bpf_program__name(prog);
    bool skipped = false;
    for (const auto& name : opts.skip) skipped = skipped || name == r.name;
    if (skipped) continue;
    r.section = bpf_program__section_name(prog);
    auto it = refused.find(r.name);
    if (it != refused.end()) {
      r.err = it->second.err;
      r.message = it->second.message;
    } else {
      r.loaded = true;
    }
    programs_.push_back(r);
  }
  bool any = false;
  for (const auto& p : programs_) any = any || p.loaded;
  if (!any) {
    Close();
    throw SessionError{"KINDLING_ERR_BPF_LOAD", "the verifier refused every program", EINVAL};
  }
}

std::vector<ProgramReport> BpfSession::Attach() {
  if (obj_ == nullptr) throw SessionError{"KINDLING_ERR_NOT_OPEN", "attach() before open()", EINVAL};
  if (!links_.empty()) throw SessionError{"KINDLING_ERR_ALREADY_ATTACHED", "attach() called twice", EALREADY};
  for (auto& r : programs_) {
    if (!r.loaded) continue;
    bpf_program* prog = bpf_object__find_program_by_name(obj_, r.name.c_str());
    std::string log;
    LibbpfLogCapture capture(&log);
    bpf_link* link = bpf_program__attach(prog);
    int e = link == nullptr ? errno : 0;
    if (link == nullptr) {
      r.attached = false;
      r.err = e;
      r.message = std::string(strerror(e)) + (log.empty() ? "" : ": " + Tail(log, 2));
      while (!r.message.empty() && r.message.back() == '\n') r.message.pop_back();
      continue;
    }
    links_.push_back(link);
    r.attached = true;
  }
  return programs_;
}

std::vector<ProgramStats> BpfSession::ProgramStatsNow() const {
  std::vector<ProgramStats> out;
  if (obj_ == nullptr) return out;
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj_) {
    int fd = bpf_program__fd(prog);
    if (fd < 0) continue;
    bpf_prog_info info;
    memset(&info, 0, sizeof(info));
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) continue;
    out.push_back(ProgramStats{bpf_program__name(prog), info.recursion_misses});
  }
  return out;
}

bpf_map* BpfSession::FindMap(const char* name) const {
  return obj_ == nullptr ? nullptr : bpf_object__find_map_by_name(obj_, name);
}

int BpfSession::MapFd(const char* name) const {
  bpf_map* m = FindMap(name);
  return m == nullptr ? -1 : bpf_map__fd(m);
}

void BpfSession::Close() {
  for (bpf_link* l : links_) bpf_link__destroy(l);
  links_.clear();
  if (obj_ != nullptr) bpf_object__close(obj_);
  obj_ = nullptr;
}

}  // namespace kindling
