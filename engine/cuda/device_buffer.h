// Device memory owned by RAII buffers, each charged to a named component of a MemoryLedger so
// the engine can report what its GPU memory holds (weights by kind, KV cache, states, workspace).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace nagent::engine::cuda {

class MemoryLedger {
 public:
  void add(const std::string& component, int64_t bytes) { bytes_[component] += bytes; }
  int64_t total() const;
  // One line per component, largest first: "  moe experts   58.41 GiB".
  std::string report() const;
  const std::map<std::string, int64_t>& components() const { return bytes_; }

 private:
  std::map<std::string, int64_t> bytes_;
};

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  // cudaMalloc of `bytes`, charged to `component` (ledger may be null).
  DeviceBuffer(size_t bytes, MemoryLedger* ledger, const std::string& component);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& o) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  void* get() const { return ptr_; }
  size_t bytes() const { return bytes_; }

 private:
  void release();
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
  MemoryLedger* ledger_ = nullptr;
  std::string component_;
};

// Scratch memory that grows to the largest request seen (contents are not kept across growth).
// Growth moves the buffer, which invalidates any captured CUDA graph that used it: growths()
// counts them over all Scratch objects, so a graph knows when to be captured again.
class Scratch {
 public:
  static uint64_t growths();
  Scratch(MemoryLedger* ledger, std::string component) : ledger_(ledger), component_(std::move(component)) {}
  template <typename T>
  T* get(int64_t count) {
    ensure(static_cast<size_t>(count) * sizeof(T));
    return buf_.as<T>();
  }

 private:
  void ensure(size_t bytes);
  MemoryLedger* ledger_;
  std::string component_;
  DeviceBuffer buf_;
};

}  // namespace nagent::engine::cuda
