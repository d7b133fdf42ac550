// The process-global registries of groups and stores. A group created in one thread (the main
// thread, say) is used by id from any worker thread of the same process: the map and its mutex are
// shared by every Node environment that loads the addon (one copy of the .so per process).
#pragma once

#include <gloo/context.h>
#include <gloo/rendezvous/prefix_store.h>
#include <gloo/rendezvous/store.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace commgloo {

using Millis = std::chrono::milliseconds;

// gloo's PrefixStore with its key joining made public, so that `check` can ask the raw store.
class KeyedPrefixStore : public gloo::rendezvous::PrefixStore {
 public:
  using gloo::rendezvous::PrefixStore::PrefixStore;
  std::string key(const std::string& k) { return joinKey(k); }
};

// A prefixed store whose waits honour a millisecond timeout (gloo's Redis and file stores compare
// elapsed whole seconds, and `get` waits a fixed 30 s), with a mutex because one hiredis
// connection must not be used by two threads at once.
class TimedStore : public gloo::rendezvous::Store {
 public:
  using CheckFn = std::function<bool(const std::vector<std::string>&)>;
  TimedStore(std::unique_ptr<gloo::rendezvous::Store> raw, CheckFn rawCheck, const std::string& prefix, Millis defaultTimeout);
  void set(const std::string& key, const std::vector<char>& data) override;
  std::vector<char> get(const std::string& key) override;
  void wait(const std::vector<std::string>& keys) override;
  void wait(const std::vector<std::string>& keys, const Millis& timeout) override;
  bool check(const std::vector<std::string>& keys);

 private:
  std::mutex mu_;
  std::unique_ptr<gloo::rendezvous::Store> raw_;  // before prefixed_: it holds a reference
  CheckFn rawCheck_;
  KeyedPrefixStore prefixed_;
  Millis defaultTimeout_;
};

// {type:'redis', host, port} | {type:'file', path}, parsed from JS.
struct StoreSpec {
  std::string type;
  std::string host;
  int port = 0;
  std::string path;
  std::string describe() const;
};
std::shared_ptr<TimedStore> OpenStore(const StoreSpec& spec, const std::string& prefix, Millis defaultTimeout);

struct StoreEntry {
  std::shared_ptr<TimedStore> store;
  std::string label;  // "redis 10.77.0.1:6379 prefix job/gen0"
};

struct Group {
  int rank = 0;
  int size = 0;
  std::string label;  // the store prefix, e.g. job/gen0/c1
  Millis timeout{0};
  std::shared_ptr<gloo::Context> context;
  std::mutex opMutex;  // one collective at a time: misuse serializes instead of corrupting

  // After a failure gloo has closed the pairs; later calls fail fast with the first cause.
  void markBroken(const std::string& why);
  void throwIfBroken();
  std::string describe(const std::string& op) const;

 private:
  std::mutex stateMutex_;
  std::string broken_;
};

uint32_t AddGroup(std::shared_ptr<Group> g);
std::shared_ptr<Group> FindGroup(uint32_t id);  // throws CommError when unknown or closed
bool RemoveGroup(uint32_t id);

uint32_t AddStore(std::shared_ptr<StoreEntry> s);
std::shared_ptr<StoreEntry> FindStore(uint32_t id);
bool RemoveStore(uint32_t id);

}  // namespace commgloo
