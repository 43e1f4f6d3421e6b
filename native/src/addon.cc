// The Node-API face of the capture path: class Probe with open, attach, start,
// stats and close. A poll thread drains the BPF ring buffer on a timer (the
// kernel side wakes it only past a backlog), copies each sample into a batch and
// hands whole batches to JS through a thread-safe function. When JS falls
// behind, the hand-off blocks, the ring fills and the kernel counts the drops:
// memory here stays bounded.
#include <bpf/bpf.h>
#include <malloc.h>
#include <bpf/libbpf.h>
#include <napi.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <cerrno>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "bpf_session.h"
#include "shared/kindling_abi.h"

namespace kindling {

namespace {

Napi::Error MakeError(Napi::Env env, const std::string& code, const std::string& message, int err) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  if (err != 0) e.Set("errno", Napi::Number::New(env, err));
  return e;
}

[[noreturn]] void Throw(Napi::Env env, const SessionError& se) {
  throw MakeError(env, se.code, se.message, se.err);
}

uint64_t ToU64(const Napi::Value& v, const std::string& what) {
  if (v.IsBigInt()) {
    bool lossless = true;
    uint64_t out = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) throw MakeError(v.Env(), "KINDLING_ERR_INVALID_OPTION", what + " does not fit 64 bits", EINVAL);
    return out;
  }
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (d < 0 || d != static_cast<double>(static_cast<uint64_t>(d))) {
      throw MakeError(v.Env(), "KINDLING_ERR_INVALID_OPTION", what + " must be a non-negative integer", EINVAL);
    }
    return static_cast<uint64_t>(d);
  }
  throw MakeError(v.Env(), "KINDLING_ERR_INVALID_OPTION", what + " must be a number or bigint", EINVAL);
}

struct Batch {
  std::vector<uint8_t> bytes;
  uint32_t records = 0;
};

}  // namespace

class Probe;
void DeliverBatch(Napi::Env env, Napi::Function fn, Probe* probe, Batch* batch);
using BatchFn = Napi::TypedThreadSafeFunction<Probe, Batch, DeliverBatch>;

class Probe : public Napi::ObjectWrap<Probe> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Probe",
                       {InstanceMethod("open", &Probe::Open), InstanceMethod("attach", &Probe::Attach),
                        InstanceMethod("start", &Probe::Start), InstanceMethod("stats", &Probe::Stats),
                        InstanceMethod("close", &Probe::Close)});
  }

  explicit Probe(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Probe>(info) {}
  ~Probe() override { Shutdown(); }

 private:
  // open(objectPath, { ringBytes?, rodata?: { name: number | bigint }, skip?: [programName] }) -> program reports
  Napi::Value Open(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) throw MakeError(env, "KINDLING_ERR_INVALID_OPTION", "open(objectPath, options): objectPath must be a string", EINVAL);
    if (running_.load()) throw MakeError(env, "KINDLING_ERR_ALREADY_STARTED", "open() while started; close() first", EBUSY);
    OpenOptions opts;
    if (info.Length() > 1 && info[1].IsObject()) {
      Napi::Object o = info[1].As<Napi::Object>();
      if (o.Has("ringBytes") && !o.Get("ringBytes").IsUndefined()) {
        opts.ring_bytes = static_cast<uint32_t>(ToU64(o.Get("ringBytes"), "ringBytes"));
      }
      if (o.Has("skip") && o.Get("skip").IsArray()) {
        Napi::Array names = o.Get("skip").As<Napi::Array>();
        for (uint32_t i = 0; i < names.Length(); i++) {
          if (!names.Get(i).IsString()) throw MakeError(env, "KINDLING_ERR_INVALID_OPTION", "open(): skip must be program names", EINVAL);
          opts.skip.push_back(names.Get(i).As<Napi::String>());
        }
      }
      if (o.Has("rodata") && o.Get("rodata").IsObject()) {
        Napi::Object r = o.Get("rodata").As<Napi::Object>();
        Napi::Array keys = r.GetPropertyNames();
        for (uint32_t i = 0; i < keys.Length(); i++) {
          std::string k = keys.Get(i).As<Napi::String>();
          opts.rodata[k] = ToU64(r.Get(k), "rodata." + k);
        }
      }
    }
    try {
      session_.Open(info[0].As<Napi::String>(), opts);
    } catch (const SessionError& se) {
      Throw(env, se);
    }
    return Reports(env, session_.Programs());
  }

  // attach() -> [{ name, section, loaded, attached, errno, message }]
  Napi::Value Attach(const Napi::CallbackInfo& info) {
    try {
      return Reports(info.Env(), session_.Attach());
    } catch (const SessionError& se) {
      Throw(info.Env(), se);
    }
  }

  // start(onBatch(buffer, records), { pollMs?, batchBytes?, queueBatches? })
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!session_.IsOpen()) throw MakeError(env, "KINDLING_ERR_NOT_OPEN", "start() before open()", EINVAL);
    if (running_.load()) throw MakeError(env, "KINDLING_ERR_ALREADY_STARTED", "start() called twice", EBUSY);
    if (!info[0].IsFunction()) throw MakeError(env, "KINDLING_ERR_INVALID_OPTION", "start(onBatch): onBatch must be a function", EINVAL);
    size_t queue = 8;
    if (info.Length() > 1 && info[1].IsObject()) {
      Napi::Object o = info[1].As<Napi::Object>();
      if (o.Has("pollMs") && !o.Get("pollMs").IsUndefined()) poll_ms_ = static_cast<int>(ToU64(o.Get("pollMs"), "pollMs"));
      if (o.Has("batchBytes") && !o.Get("batchBytes").IsUndefined()) batch_bytes_ = ToU64(o.Get("batchBytes"), "batchBytes");
      if (o.Has("queueBatches") && !o.Get("queueBatches").IsUndefined()) queue = ToU64(o.Get("queueBatches"), "queueBatches");
    }
    int map_fd = session_.MapFd("events");
    if (map_fd < 0) throw MakeError(env, "KINDLING_ERR_RINGBUF", "the BPF object has no 'events' ring buffer", ENOENT);
    rb_ = ring_buffer__new(map_fd, &Probe::OnSample, this, nullptr);
    if (rb_ == nullptr) {
      int e = errno;
      throw MakeError(env, "KINDLING_ERR_RINGBUF", std::string("cannot map the ring buffer: ") + strerror(e), e);
    }
    MapRingPositions(map_fd);
    stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (stop_fd_ < 0) {
      int e = errno;
      throw MakeError(env, "KINDLING_ERR_RINGBUF", std::string("eventfd: ") + strerror(e), e);
    }
    tsfn_ = BatchFn::New(env, info[0].As<Napi::Function>(), "kindling-batches", queue, 1, this);
    // a running probe alone does not keep Node alive: the caller holds its own handle (a timer, a server)
    tsfn_.Unref(env);
    stopping_ = false;
    running_ = true;
    thread_ = std::thread([this] { PollLoop(); });
    return env.Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object out = Napi::Object::New(env);
    out.Set("records", Napi::Number::New(env, static_cast<double>(records_.load())));
    out.Set("bytes", Napi::Number::New(env, static_cast<double>(bytes_.load())));
    out.Set("batches", Napi::Number::New(env, static_cast<double>(batches_.load())));
    out.Set("malformed", Napi::Number::New(env, static_cast<double>(malformed_.load())));
    out.Set("handoffWaits", Napi::Number::New(env, static_cast<double>(handoff_waits_.load())));

    // kernel counters, summed over CPUs: hooks[hook][counter]
    Napi::Array hooks = Napi::Array::New(env, KD_HOOK_COUNT);
    // sized by the map itself: an object built from another header must not overrun the buffer
    bpf_map* cm = session_.FindMap("counters");
    int fd = cm ? bpf_map__fd(cm) : -1;
    int ncpu = libbpf_num_possible_cpus();
    size_t value_size = cm ? bpf_map__value_size(cm) : 0;
    size_t stride = (value_size + 7) & ~static_cast<size_t>(7);
    std::vector<uint8_t> percpu(stride * static_cast<size_t>(ncpu > 0 ? ncpu : 1));
    uint32_t zero = 0;
    bool have = fd >= 0 && ncpu > 0 && value_size == sizeof(kd_counters) && bpf_map_lookup_elem(fd, &zero, percpu.data()) == 0;
    for (int h = 0; h < KD_HOOK_COUNT; h++) {
      Napi::Array row = Napi::Array::New(env, KD_CNT_COUNT);
      for (int c = 0; c < KD_CNT_COUNT; c++) {
        uint64_t sum = 0;
        if (have) {
          for (int cpu = 0; cpu < ncpu; cpu++) {
            const kd_counters* k = reinterpret_cast<const kd_counters*>(percpu.data() + stride * cpu);
            sum += k->hook[h][c];
          }
        }
        row.Set(c, Napi::Number::New(env, static_cast<double>(sum)));
      }
      hooks.Set(h, row);
    }
    out.Set("countersMatch", Napi::Boolean::New(env, !cm || value_size == sizeof(kd_counters)));
    out.Set("hooks", hooks);

    Napi::Object ring = Napi::Object::New(env);
    bpf_map* rb = session_.FindMap("events");
    uint64_t size = rb ? bpf_map__max_entries(rb) : 0;
    uint64_t used = 0;
    if (cons_page_ != nullptr && prod_page_ != nullptr) {
      uint64_t cons = __atomic_load_n(static_cast<volatile uint64_t*>(cons_page_), __ATOMIC_ACQUIRE);
      uint64_t prod = __atomic_load_n(static_cast<volatile uint64_t*>(prod_page_), __ATOMIC_ACQUIRE);
      used = prod - cons;
    }
    ring.Set("size", Napi::Number::New(env, static_cast<double>(size)));
    ring.Set("used", Napi::Number::New(env, static_cast<double>(used)));
    out.Set("ring", ring);

    Napi::Array progs = Napi::Array::New(env);
    uint32_t i = 0;
    for (const auto& p : session_.ProgramStatsNow()) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", p.name);
      o.Set("recursionMisses", Napi::Number::New(env, static_cast<double>(p.recursion_misses)));
      progs.Set(i++, o);
    }
    out.Set("programs", progs);
    return out;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown();
    return info.Env().Undefined();
  }

  static Napi::Array Reports(Napi::Env env, const std::vector<ProgramReport>& reports) {
    Napi::Array arr = Napi::Array::New(env, reports.size());
    for (size_t i = 0; i < reports.size(); i++) {
      const ProgramReport& r = reports[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", r.name);
      o.Set("section", r.section);
      o.Set("loaded", r.loaded);
      o.Set("attached", r.attached);
      o.Set("errno", Napi::Number::New(env, r.err));
      o.Set("message", r.message);
      arr.Set(i, o);
    }
    return arr;
  }

  void MapRingPositions(int map_fd) {
    long page = sysconf(_SC_PAGESIZE);
    void* c = mmap(nullptr, page, PROT_READ, MAP_SHARED, map_fd, 0);
    void* p = mmap(nullptr, page, PROT_READ, MAP_SHARED, map_fd, page);
    cons_page_ = c == MAP_FAILED ? nullptr : c;
    prod_page_ = p == MAP_FAILED ? nullptr : p;
  }

  // stop the thread, then free everything: safe to call more than once
  void Shutdown() {
    if (running_.load()) {
      stopping_ = true;
      {
        std::lock_guard<std::mutex> lock(delivered_mu_);
      }
      delivered_cv_.notify_all();
      uint64_t one = 1;
      ssize_t ignored = write(stop_fd_, &one, sizeof(one));
      (void)ignored;
      // wakes a hand-off blocked on a full queue; JS will not see later batches
      tsfn_.Abort();
      if (thread_.joinable()) thread_.join();
      running_ = false;
    }
    if (rb_ != nullptr) ring_buffer__free(rb_);
    rb_ = nullptr;
    long page = sysconf(_SC_PAGESIZE);
    if (cons_page_ != nullptr) munmap(cons_page_, page);
    if (prod_page_ != nullptr) munmap(prod_page_, page);
    cons_page_ = prod_page_ = nullptr;
    if (stop_fd_ >= 0) close(stop_fd_);
    stop_fd_ = -1;
    session_.Close();
  }

  void PollLoop() {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = ring_buffer__epoll_fd(rb_);
    epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
    ev.data.fd = stop_fd_;
    epoll_ctl(ep, EPOLL_CTL_ADD, stop_fd_, &ev);
    while (!stopping_.load()) {
      epoll_event ready[2];
      int n = epoll_wait(ep, ready, 2, poll_ms_);
      if (n < 0 && errno != EINTR) break;
      if (stopping_.load()) break;
      // consume on wake-up and on every timer tick: most records are submitted without a wake-up
      int rc = ring_buffer__consume(rb_);
      if (rc < 0 && rc != -EINTR) break;
      if (!Flush()) break;
    }
    close(ep);
    tsfn_.Release();
  }

  static int OnSample(void* ctx, void* data, size_t size) {
    Probe* self = static_cast<Probe*>(ctx);
    // every record starts with { u16 kind; u16 size; } and its size must fit the sample
    if (size < 4) {
      self->malformed_++;
      return 0;
    }
    uint16_t rec_size;
    memcpy(&rec_size, static_cast<uint8_t*>(data) + 2, sizeof(rec_size));
    if (rec_size < 4 || rec_size > size) {
      self->malformed_++;
      return 0;
    }
    if (!self->batch_) {
      self->batch_ = std::make_unique<Batch>();
      // small at first: at low rates a batch holds a few records, and a 256 KiB reservation per
      // batch (100 a second) churns the allocator for nothing
      self->batch_->bytes.reserve(16384);
    }
    std::vector<uint8_t>& b = self->batch_->bytes;
    size_t at = b.size();
    // records stay 8-byte aligned in the batch, as they are in the ring
    size_t padded = (static_cast<size_t>(rec_size) + 7) & ~static_cast<size_t>(7);
    b.resize(at + padded);
    memcpy(b.data() + at, data, rec_size);
    if (padded > rec_size) memset(b.data() + at + rec_size, 0, padded - rec_size);
    self->batch_->records++;
    if (b.size() >= self->batch_bytes_ && !self->Flush()) return -ECANCELED;
    return 0;
  }

  // hand the current batch to JS; false once JS is gone
  bool Flush() {
    if (!batch_ || batch_->records == 0) return true;
    Batch* b = batch_.release();
    records_ += b->records;
    bytes_ += b->bytes.size();
    batches_++;
    uint64_t seq = ++handed_;
    napi_status st = tsfn_.NonBlockingCall(b);
    if (st == napi_queue_full) st = tsfn_.BlockingCall(b);
    if (st != napi_ok) {
      delete b;
      return false;
    }
    // one batch at a time: wait until JS has processed this one, so the event loop
    // gets a turn between batches (timers, exports) instead of draining a queue of
    // them in one go; meanwhile the ring buffer absorbs the burst
    std::unique_lock<std::mutex> lock(delivered_mu_);
    if (delivered_ < seq) handoff_waits_++;
    delivered_cv_.wait(lock, [&] { return delivered_ >= seq || stopping_.load(); });
    return !stopping_.load();
  }

  // called on the JS thread once onBatch returned
  void Delivered() {
    {
      std::lock_guard<std::mutex> lock(delivered_mu_);
      delivered_++;
    }
    delivered_cv_.notify_one();
  }

  friend void DeliverBatch(Napi::Env env, Napi::Function fn, Probe* probe, Batch* batch);

  BpfSession session_;
  ring_buffer* rb_ = nullptr;
  void* cons_page_ = nullptr;
  void* prod_page_ = nullptr;
  int stop_fd_ = -1;
  int poll_ms_ = 10;
  size_t batch_bytes_ = 256 * 1024;
  BatchFn tsfn_;
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<bool> stopping_{false};
  std::unique_ptr<Batch> batch_;  // poll thread only
  std::mutex delivered_mu_;
  std::condition_variable delivered_cv_;
  uint64_t handed_ = 0;     // poll thread only
  uint64_t delivered_ = 0;  // under delivered_mu_
  std::atomic<uint64_t> records_{0}, bytes_{0}, batches_{0}, malformed_{0}, handoff_waits_{0};
};

// runs on the JS thread; env is null when the function is torn down with batches queued
void DeliverBatch(Napi::Env env, Napi::Function fn, Probe* probe, Batch* batch) {
  if (env == nullptr || fn == nullptr) {
    delete batch;
    if (probe != nullptr) probe->Delivered();
    return;
  }
  struct Ack {
    Probe* p;
    ~Ack() {
      if (p != nullptr) p->Delivered();
    }
  } ack{probe};
  uint32_t records = batch->records;
  // the batch's memory lives outside the JS heap until the Buffer is collected: tell the
  // collector about it, so batches are freed at the pace they arrive rather than piling up.
  // The C calls report failure (an environment going away) by status, never by throwing.
  const int64_t held = static_cast<int64_t>(batch->bytes.capacity());
  int64_t total = 0;
  napi_value buf = nullptr;
  napi_status st = napi_create_external_buffer(
      env, batch->bytes.size(), batch->bytes.data(),
      [](napi_env e, void*, void* hint) {
        auto* b = static_cast<Batch*>(hint);
        int64_t left = 0;
        napi_adjust_external_memory(e, -static_cast<int64_t>(b->bytes.capacity()), &left);
        delete b;
      },
      batch, &buf);
  if (st != napi_ok) {
    delete batch;
    return;
  }
  napi_adjust_external_memory(env, held, &total);
  try {
    fn.Call({Napi::Value(env, buf), Napi::Number::New(env, records)});
  } catch (const Napi::Error& e) {
    // an exception in onBatch surfaces as an uncaught exception, as for any callback;
    // while the environment is going away even that cannot throw: swallow it then
    try {
      e.ThrowAsJavaScriptException();
    } catch (...) {
    }
  } catch (...) {
  }
}

Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  // threads that allocate from now on (the poll thread, libuv's pool) share the main
  // allocator arena instead of each growing its own: RSS stays flat under churn
  mallopt(M_ARENA_MAX, 1);
  exports.Set("Probe", Probe::Init(env));
  exports.Set("abiVersion", Napi::Number::New(env, KD_ABI_VERSION));
  return exports;
}

}  // namespace kindling

static Napi::Object Init(Napi::Env env, Napi::Object exports) { return kindling::InitModule(env, exports); }

NODE_API_MODULE(kindling_native, Init)
