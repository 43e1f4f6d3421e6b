// A loaded BPF object and its links: libbpf only, no Node-API.
// One instance per Probe; nothing here is process-global except libbpf's print
// hook, which routes messages to the session that is calling libbpf right now.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

struct bpf_object;
struct bpf_link;
struct bpf_map;

namespace kindling {

// an error with a stable code (KINDLING_ERR_*) and the errno behind it
struct SessionError {
  std::string code;
  std::string message;
  int err;
};

struct OpenOptions {
  // values for `const volatile` globals in .rodata, by variable name
  std::map<std::string, uint64_t> rodata;
  uint32_t ring_bytes = 0;  // 0: the object's own size
  // programs left out: not loaded, not attached, not reported (features turned off)
  std::vector<std::string> skip;
};

struct ProgramReport {
  std::string name;
  std::string section;
  bool loaded = false;
  bool attached = false;
  int err = 0;              // positive errno when a step failed
  std::string message;      // libbpf's words for the failure
};

struct ProgramStats {
  std::string name;
  uint64_t recursion_misses = 0;
};

class BpfSession {
 public:
  BpfSession() = default;
  ~BpfSession();
  BpfSession(const BpfSession&) = delete;
  BpfSession& operator=(const BpfSession&) = delete;

  // opens and loads; a program the verifier refuses is reported and left out,
  // the others still load. Throws SessionError when nothing can load.
  void Open(const std::string& path, const OpenOptions& opts);
  // attaches every loaded program; a hook that cannot attach is reported, not fatal
  std::vector<ProgramReport> Attach();
  const std::vector<ProgramReport>& Programs() const { return programs_; }
  std::vector<ProgramStats> ProgramStatsNow() const;
  void Close();

  bool IsOpen() const { return obj_ != nullptr; }
  bpf_map* FindMap(const char* name) const;
  int MapFd(const char* name) const;

 private:
  bool TryLoad(const std::string& path, const OpenOptions& opts, std::string* failed_prog, int* err);
  void ApplyRodata(const OpenOptions& opts);

  bpf_object* obj_ = nullptr;
  std::vector<bpf_link*> links_;
  std::vector<ProgramReport> programs_;
  std::vector<std::string> disabled_;
  std::string log_;
};

// routes libbpf's log lines into `sink` while alive (per thread)
class LibbpfLogCapture {
 public:
  explicit LibbpfLogCapture(std::string* sink);
  ~LibbpfLogCapture();

 private:
  std::string* prev_;
};

}  // namespace kindling
