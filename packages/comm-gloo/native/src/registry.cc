#include "registry.h"

#include <gloo/common/error.h>
#include <gloo/rendezvous/file_store.h>
#include <gloo/rendezvous/redis_store.h>

#include <hiredis/hiredis.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <thread>

#include "napi_util.h"

namespace commgloo {

// ---- stores -------------------------------------------------------------------------------------

namespace {
// FileStore::check is protected in this gloo (RedisStore's is public). Its set() checks that the
// key is absent, writes a fixed temporary name and renames it over the key: two hosts setting one
// key at once can both succeed, the last rename winning. Keys must be write-once (threadfit decides
// a generation's members by the first write), so set() here writes a temporary file of its own and
// link()s it to the key, which fails with EEXIST for every writer but the first, atomically on a
// local or NFS file system. The message matches RedisStore's (SETNX) so callers see one error.
class CheckableFileStore : public gloo::rendezvous::FileStore {
 public:
  using gloo::rendezvous::FileStore::FileStore;
  using gloo::rendezvous::FileStore::check;

  void set(const std::string& key, const std::vector<char>& data) override {
    static std::atomic<uint64_t> counter{0};
    const std::string path = objectPath(key);
    const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
    {
      std::ofstream ofs(tmp.c_str(), std::ios::out | std::ios::trunc | std::ios::binary);
      if (!ofs.is_open()) throw gloo::IoException("file store: cannot write " + tmp + ": " + std::strerror(errno));
      ofs.write(data.data(), static_cast<std::streamsize>(data.size()));
      ofs.close();
      if (!ofs) throw gloo::IoException("file store: writing " + tmp + " failed");
    }
    const int rc = ::link(tmp.c_str(), path.c_str());
    const int err = errno;
    ::unlink(tmp.c_str());
    if (rc != 0) {
      if (err == EEXIST) throw gloo::Exception("Key '" + key + "' already set");
      throw gloo::IoException("file store: link " + path + ": " + std::strerror(err));
    }
  }
};

// gloo's RedisStore sends each command on a blocking hiredis connection with no timeout: a Redis
// host that vanishes without a reset would block a store call (and a re-form) for the kernel's TCP
// retransmission limit, ~15 min. Every command here fails after kRedisCommandTimeout instead.
constexpr int kRedisCommandTimeoutSec = 10;
class TimeoutRedisStore : public gloo::rendezvous::RedisStore {
 public:
  TimeoutRedisStore(const std::string& host, int port) : gloo::rendezvous::RedisStore(host, port) {
    struct timeval tv = {kRedisCommandTimeoutSec, 0};
    if (redisSetTimeout(redis_, tv) != REDIS_OK) throw gloo::IoException("redis " + host + ":" + std::to_string(port) + ": cannot set a command timeout");
  }
};
}  // namespace

TimedStore::TimedStore(std::unique_ptr<gloo::rendezvous::Store> raw, CheckFn rawCheck, const std::string& prefix, Millis defaultTimeout)
    : raw_(std::move(raw)), rawCheck_(std::move(rawCheck)), prefixed_(prefix, *raw_), defaultTimeout_(defaultTimeout) {}

void TimedStore::set(const std::string& key, const std::vector<char>& data) {
  std::lock_guard<std::mutex> lock(mu_);
  prefixed_.set(key, data);
}

std::vector<char> TimedStore::get(const std::string& key) {
  wait({key}, defaultTimeout_);
  std::lock_guard<std::mutex> lock(mu_);
  return prefixed_.get(key);  // present now: gloo's own wait inside returns at once
}

void TimedStore::wait(const std::vector<std::string>& keys) { wait(keys, defaultTimeout_); }

void TimedStore::wait(const std::vector<std::string>& keys, const Millis& timeout) {
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    if (check(keys)) return;
    auto elapsed = std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - start);
    if (elapsed >= timeout) {
      std::string list;
      for (const auto& k : keys) list += (list.empty() ? "" : ", ") + k;
      throw gloo::IoException("Wait timeout for key(s): [" + list + "] after " + std::to_string(timeout.count()) + "ms");
    }
    // Polling, as gloo's stores do: rendezvous is rare, and the store may be a shared directory.
    std::this_thread::sleep_for(std::min(Millis(10), timeout - elapsed));
  }
}

bool TimedStore::check(const std::vector<std::string>& keys) {
  std::vector<std::string> joined;
  for (const auto& k : keys) joined.push_back(prefixed_.key(k));
  std::lock_guard<std::mutex> lock(mu_);
  return rawCheck_(joined);
}

std::string StoreSpec::describe() const {
  return type == "redis" ? "redis " + host + ":" + std::to_string(port) : "file store " + path;
}

std::shared_ptr<TimedStore> OpenStore(const StoreSpec& spec, const std::string& prefix, Millis defaultTimeout) {
  if (spec.type == "redis") {
    // gloo connects with a 2 s timeout and throws IoException "Connecting to Redis: ...".
    auto redis = std::make_unique<TimeoutRedisStore>(spec.host, spec.port);
    auto* r = redis.get();
    return std::make_shared<TimedStore>(
        std::move(redis), [r](const std::vector<std::string>& k) { return r->check(k); }, prefix, defaultTimeout);
  }
  auto file = std::make_unique<CheckableFileStore>(spec.path);
  auto* f = file.get();
  return std::make_shared<TimedStore>(
      std::move(file), [f](const std::vector<std::string>& k) { return f->check(k); }, prefix, defaultTimeout);
}

// ---- groups -------------------------------------------------------------------------------------

void Group::markBroken(const std::string& why) {
  std::lock_guard<std::mutex> lock(stateMutex_);
  if (broken_.empty()) broken_ = why;
}

void Group::throwIfBroken() {
  std::lock_guard<std::mutex> lock(stateMutex_);
  if (!broken_.empty()) throw CommError("the group is unusable after an earlier failure (" + broken_ + "); close it and create a new one");
}

std::string Group::describe(const std::string& op) const {
  return op + " on group " + label + " (rank " + std::to_string(rank) + " of " + std::to_string(size) + ")";
}

// ---- registries -----------------------------------------------------------------------------------
// Allocated once and never freed: static destructors at process exit would tear down gloo devices
// (and their threads) in an unknown order.

namespace {
std::mutex& RegistryMutex() {
  static auto* mu = new std::mutex();
  return *mu;
}
std::map<uint32_t, std::shared_ptr<Group>>& Groups() {
  static auto* m = new std::map<uint32_t, std::shared_ptr<Group>>();
  return *m;
}
std::map<uint32_t, std::shared_ptr<StoreEntry>>& Stores() {
  static auto* m = new std::map<uint32_t, std::shared_ptr<StoreEntry>>();
  return *m;
}
std::atomic<uint32_t> nextId{1};
}  // namespace

uint32_t AddGroup(std::shared_ptr<Group> g) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  uint32_t id = nextId++;
  Groups()[id] = std::move(g);
  return id;
}

std::shared_ptr<Group> FindGroup(uint32_t id) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  auto it = Groups().find(id);
  if (it == Groups().end()) throw CommError("no open group with handle " + std::to_string(id) + " in this process (closed, or never created)");
  return it->second;
}

bool RemoveGroup(uint32_t id) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  return Groups().erase(id) > 0;
}

uint32_t AddStore(std::shared_ptr<StoreEntry> s) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  uint32_t id = nextId++;
  Stores()[id] = std::move(s);
  return id;
}

std::shared_ptr<StoreEntry> FindStore(uint32_t id) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  auto it = Stores().find(id);
  if (it == Stores().end()) throw CommError("no open store with handle " + std::to_string(id) + " in this process (closed, or never opened)");
  return it->second;
}

bool RemoveStore(uint32_t id) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  return Stores().erase(id) > 0;
}

}  // namespace commgloo
