// The interface every NemotronH implementation offers the session, generation and backend
// layers: the CPU engine (engine/nemotronh.h) and the CUDA engine (engine/cuda/). A model
// advances a ModelState by feeding tokens and writes logits to host memory.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/model_config.h"

namespace nagent::engine {

// Per-layer recurrent state in host memory: conv and SSM state for Mamba layers, the key/value
// cache for attention layers (MLP and MoE layers keep nothing).
struct LayerState {
  std::vector<float> conv;  // Mamba: last K-1 conv inputs, [K-1, conv_dim]
  std::vector<float> ssm;   // Mamba: [Hm, P, N]
  std::vector<float> k, v;  // attention: [tokens, Hkv * hd]
  bool operator==(const LayerState&) const = default;
};

// A state held on an accelerator by the model that made it. Copying a ModelState copies it
// there (a fork or a snapshot is independent of the original).
class DeviceState {
 public:
  virtual ~DeviceState() = default;
  virtual std::unique_ptr<DeviceState> clone() const = 0;
  // The same state in host form (ModelState::layers).
  virtual std::vector<LayerState> to_host() const = 0;
};

class DeviceStateHandle {
 public:
  DeviceStateHandle() = default;
  explicit DeviceStateHandle(std::unique_ptr<DeviceState> s) : s_(std::move(s)) {}
  DeviceStateHandle(const DeviceStateHandle& o) : s_(o.s_ ? o.s_->clone() : nullptr) {}
  DeviceStateHandle(DeviceStateHandle&&) noexcept = default;
  DeviceStateHandle& operator=(const DeviceStateHandle& o) {
    if (this != &o) s_ = o.s_ ? o.s_->clone() : nullptr;
    return *this;
  }
  DeviceStateHandle& operator=(DeviceStateHandle&&) noexcept = default;
  DeviceState* get() const { return s_.get(); }
  explicit operator bool() const { return s_ != nullptr; }
  void reset() { s_.reset(); }
  bool operator==(const DeviceStateHandle& o) const {
    if (!s_ || !o.s_) return !s_ && !o.s_;
    return s_->to_host() == o.s_->to_host();
  }

 private:
  std::unique_ptr<DeviceState> s_;
};

struct ModelState {
  int64_t position = 0;  // tokens consumed so far
  std::vector<LayerState> layers;  // host form; empty vectors while `device` holds the state
  DeviceStateHandle device;        // set by a device model's forward
  bool operator==(const ModelState&) const = default;
};

// The zero state of a sequence in host form (no tokens consumed).
ModelState zero_host_state(const ModelConfig& c);

class LanguageModel {
 public:
  virtual ~LanguageModel() = default;
  virtual const ModelConfig& config() const = 0;
  virtual ModelState new_state() const = 0;
  // Feeds n tokens, advancing `state` (host form or this model's device form). Writes logits for
  // every position ([n, vocab]) when all_positions, else for the last token only ([vocab]).
  // logits may be null (state only).
  virtual void forward(ModelState& state, const int32_t* tokens, int64_t n, float* logits, bool all_positions) = 0;
  // Batched decode: advances n independent sequences by one token each (tokens[i] into
  // *states[i]) and writes their logits, [n, vocab]. The same result as n forward calls; a
  // model overrides it to read its weights once for all n.
  virtual void decode_batch(ModelState* const* states, const int32_t* tokens, int64_t n, float* logits);
  // The state in host form (a device state is copied out through DeviceState::to_host; a host
  // state is returned as is).
  ModelState host_state(const ModelState& s) const;
  // "cpu, 16 threads", "cuda:0 NVIDIA H200, 62.1 GiB weights".
  virtual std::string device_description() const = 0;
};

}  // namespace nagent::engine
