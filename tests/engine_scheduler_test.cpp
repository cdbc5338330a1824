// The embedded engine's scheduler (engine/scheduler.h) and the thread-safe local backend on
// the nano fixture: concurrent requests give the replies they give alone, conversations keep
// their own pooled sessions, the pool budget queues and evicts, a long prefill is chunked
// between decode steps, and one stream's cancellation leaves the others alone.
#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>

#include "engine/generation.h"
#include "engine/local_backend.h"
#include "engine/nemotronh.h"
#include "engine/scheduler.h"
#include "engine/tokenizer.h"
#include "support/tiny_model_dir.h"

using namespace nagent;
using namespace nagent::engine;

namespace {

const std::string kNano = std::string(NAGENT_SOURCE_DIR) + "/tests/fixtures/nemotronh/nano_fp32";

std::vector<int32_t> random_prompt(uint32_t seed, size_t n) {
  std::mt19937 rng(seed);
  std::vector<int32_t> p(n);
  for (auto& t : p) t = static_cast<int32_t>(rng() % 256);
  return p;
}

ScheduledRequest request_of(std::vector<int32_t> prompt, int64_t max_tokens, int64_t snapshot_at = 0) {
  ScheduledRequest r;
  r.prompt = std::move(prompt);
  r.snapshot_at = snapshot_at;
  r.options.max_tokens = max_tokens;
  return r;
}

// Forwards to the nano model and logs each call: ('f', tokens) for forward, ('d', sequences)
// for decode_batch. decode_batch call number `gate_at` (1-based) waits until open() is called.
class LoggingModel : public LanguageModel {
 public:
  explicit LoggingModel(int gate_at = 0) : inner_(NemotronH::load(kNano)), gate_at_(gate_at) {}
  const ModelConfig& config() const override { return inner_->config(); }
  ModelState new_state() const override { return inner_->new_state(); }
  void forward(ModelState& s, const int32_t* t, int64_t n, float* logits, bool all) override {
    log('f', n);
    inner_->forward(s, t, n, logits, all);
  }
  void decode_batch(ModelState* const* s, const int32_t* t, int64_t n, float* logits) override {
    const int call = ++decode_calls;
    log('d', n);
    if (call == gate_at_) {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return open_; });
    }
    inner_->decode_batch(s, t, n, logits);
  }
  std::string device_description() const override { return inner_->device_description(); }

  void open() {
    std::lock_guard<std::mutex> lk(mu_);
    open_ = true;
    cv_.notify_all();
  }
  std::vector<std::pair<char, int64_t>> calls() {
    std::lock_guard<std::mutex> lk(mu_);
    return log_;
  }
  std::atomic<int> decode_calls{0};

 private:
  void log(char kind, int64_t n) {
    std::lock_guard<std::mutex> lk(mu_);
    log_.push_back({kind, n});
  }
  std::unique_ptr<NemotronH> inner_;
  int gate_at_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  std::vector<std::pair<char, int64_t>> log_;
};

ChatRequest conversation(int i) {
  ChatRequest req;
  req.messages = {Message::system("Be brief."), Message::user("Question number " + std::to_string(i) + ": say hi.")};
  req.sampling.temperature = 0.0;
  req.sampling.max_tokens = 24;
  return req;
}

}  // namespace

TEST_CASE("local backend: concurrent chat() calls get the replies they get one at a time") {
  TinyModelDir dir("engine_scheduler_test");
  LocalBackendOptions o;
  o.model_dir = dir.path.string();
  o.threads = 1;
  constexpr int N = 6;
  std::vector<ChatReply> alone;
  {
    auto backend = make_local_backend(o);
    for (int i = 0; i < N; ++i) alone.push_back(backend->chat(conversation(i), {}));
  }
  auto backend = make_local_backend(o);
  std::vector<ChatReply> together(N);
  std::vector<std::string> streamed(N);
  std::vector<std::thread> threads;
  for (int i = 0; i < N; ++i)
    threads.emplace_back([&, i] {
      together[i] = backend->chat(conversation(i), [&, i](const ChatDelta& d) { streamed[i] += d.reasoning + d.content; });
    });
  for (auto& t : threads) t.join();
  for (int i = 0; i < N; ++i) {
    CAPTURE(i);
    CHECK(together[i].reasoning == alone[i].reasoning);
    CHECK(together[i].content == alone[i].content);
    CHECK(together[i].finish_reason == alone[i].finish_reason);
    CHECK(together[i].usage.prompt_tokens == alone[i].usage.prompt_tokens);
    CHECK(together[i].usage.completion_tokens == alone[i].usage.completion_tokens);
    CHECK(streamed[i] == together[i].reasoning + together[i].content);
  }
}

TEST_CASE("local backend: two alternating conversations each reuse their own history") {
  TinyModelDir dir("engine_scheduler_test");
  LocalBackendOptions o;
  o.model_dir = dir.path.string();
  o.threads = 1;
  auto backend = make_local_backend(o);
  const Tokenizer tok = Tokenizer::from_model_dir(dir.path.string());
  const auto header = static_cast<int64_t>(tok.encode("<|im_start|>assistant\n<think>\n").size());
  ChatRequest a = conversation(1), b = conversation(2);
  b.messages[0] = Message::system("Answer in French, and be very brief about it.");
  const ChatReply a1 = backend->chat(a, {});
  const ChatReply b1 = backend->chat(b, {});
  CHECK(a1.usage.cached_prompt_tokens == 0);
  CHECK(b1.usage.cached_prompt_tokens == 0);
  a.messages.push_back({"assistant", a1.content, a1.reasoning, {}, {}, {}});
  a.messages.push_back(Message::user("And now?"));
  b.messages.push_back({"assistant", b1.content, b1.reasoning, {}, {}, {}});
  b.messages.push_back(Message::user("Et maintenant ?"));
  const ChatReply a2 = backend->chat(a, {});
  const ChatReply b2 = backend->chat(b, {});
  // Each second turn starts from its own conversation's state saved before its first reply.
  CHECK(a2.usage.cached_prompt_tokens == a1.usage.prompt_tokens - header);
  CHECK(b2.usage.cached_prompt_tokens == b1.usage.prompt_tokens - header);
}

TEST_CASE("scheduler: a pool budget smaller than the requests queues them, all complete, idle sessions are evicted") {
  auto model = NemotronH::load(kNano);
  constexpr int N = 6;
  constexpr size_t P = 40;
  constexpr int64_t G = 16, S = 30;
  std::vector<ScheduledRequest> reqs;
  for (int i = 0; i < N; ++i) reqs.push_back(request_of(random_prompt(100 + i, P), G, S));
  std::vector<ScheduledResult> alone;
  {
    Scheduler s(*model, nullptr);
    for (const auto& r : reqs) alone.push_back(s.generate(r));
  }
  SchedulerOptions so;
  Scheduler probe(*model, nullptr);
  const int64_t reserve = probe.state_bytes(P + G) + probe.state_bytes(S);
  so.pool_bytes = reserve * 5 / 2;  // room for two running requests
  Scheduler s(*model, nullptr, so);
  std::vector<ScheduledResult> got(N);
  std::vector<std::thread> threads;
  for (int i = 0; i < N; ++i) threads.emplace_back([&, i] { got[i] = s.generate(reqs[i]); });
  for (auto& t : threads) t.join();
  for (int i = 0; i < N; ++i) {
    CAPTURE(i);
    CHECK(got[i].generation.tokens == alone[i].generation.tokens);
    CHECK(got[i].generation.tokens.size() == G);
  }
  const Scheduler::Stats st = s.stats();
  CHECK(st.requests == N);
  CHECK(st.max_running <= 2);
  CHECK(st.evictions >= N - 2);
  CHECK(st.sessions <= 2);
  CHECK(st.peak_bytes <= so.pool_bytes);
  CHECK(st.oversize == 0);
  CHECK(st.waiting == 0);
}

TEST_CASE("scheduler: the least recently used idle session is the one evicted") {
  auto model = NemotronH::load(kNano);
  constexpr size_t P = 40;
  constexpr int64_t G = 16, S = 30;
  const auto A = random_prompt(1, P), B = random_prompt(2, P), C = random_prompt(3, P);
  SchedulerOptions so;
  {
    Scheduler probe(*model, nullptr);
    so.pool_bytes = (probe.state_bytes(P + G) + probe.state_bytes(S)) * 5 / 2;
  }
  Scheduler s(*model, nullptr, so);
  for (const auto& p : {A, B, C}) CHECK(s.generate(request_of(p, G, S)).cached_prompt_tokens == 0);
  CHECK(s.stats().evictions == 1);  // C's admission dropped A
  // A again: evicted, computed from scratch (and B, now the oldest, makes room for it).
  CHECK(s.generate(request_of(A, G, S)).cached_prompt_tokens == 0);
  CHECK(s.stats().evictions == 2);
  // C again: still pooled, restarts from its snapshot inside the prompt.
  CHECK(s.generate(request_of(C, G, S)).cached_prompt_tokens == S);
  // A request larger than the whole budget is served alone rather than refused.
  const ScheduledRequest huge = request_of(random_prompt(4, 400), 200);
  REQUIRE(s.state_bytes(600) > so.pool_bytes);
  const ScheduledResult big = s.generate(huge);
  CHECK(big.generation.tokens.size() == 200);
  CHECK(s.stats().oversize == 1);
}

TEST_CASE("scheduler: a long prompt is prefilled in chunks between the running requests' decode steps") {
  LoggingModel model(/*gate_at=*/3);
  SchedulerOptions so;
  so.prefill_chunk = 64;
  Scheduler s(model, nullptr, so);
  const ScheduledRequest a = request_of(random_prompt(7, 20), 200);
  const ScheduledRequest b = request_of(random_prompt(8, 1000), 5);
  ScheduledResult ra, rb;
  std::thread ta([&] { ra = s.generate(a); });
  while (model.decode_calls.load() < 3) std::this_thread::yield();  // a is decoding, held in its 3rd step
  std::thread tb([&] { rb = s.generate(b); });
  while (s.stats().waiting < 1) std::this_thread::yield();  // b is queued behind that step
  const size_t before = model.calls().size();
  model.open();
  ta.join();
  tb.join();
  CHECK(ra.generation.tokens.size() == 200);
  CHECK(rb.generation.tokens.size() == 5);
  const auto calls = model.calls();
  std::vector<size_t> chunks;  // b's prefill: the forward calls after the gate opened
  for (size_t i = before; i < calls.size(); ++i)
    if (calls[i].first == 'f') chunks.push_back(i);
  REQUIRE(chunks.size() == 16);  // 15 x 64 + 40
  for (size_t c = 0; c + 1 < chunks.size(); ++c) {
    CAPTURE(c);
    CHECK(calls[chunks[c]].second == 64);
    // a's decode step comes between every two of b's chunks.
    CHECK(std::count_if(calls.begin() + static_cast<long>(chunks[c]), calls.begin() + static_cast<long>(chunks[c + 1]),
                        [](const auto& x) { return x.first == 'd' && x.second == 1; }) == 1);
  }
  CHECK(s.stats().max_batch == 2);  // then both decode in one call
  // a's tokens are the ones it gets alone.
  Scheduler alone(model, nullptr, so);
  CHECK(alone.generate(a).generation.tokens == ra.generation.tokens);
}

TEST_CASE("scheduler: cancelling one stream leaves the others' replies unchanged") {
  TinyModelDir dir("engine_scheduler_test");
  auto model = NemotronH::load(dir.path.string());
  const Tokenizer tok = Tokenizer::from_model_dir(dir.path.string());
  std::vector<ScheduledRequest> reqs;
  for (const char* text : {"The quick brown fox", "Once upon a time", "Hello there, how are you"})
    reqs.push_back(request_of(tok.encode(text), 40));
  auto stop_after_3 = [](int& seen) {
    return [&seen](const std::string&) { return ++seen < 3; };
  };
  std::vector<ScheduledResult> alone;
  int seen_alone = 0;
  {
    Scheduler s(*model, &tok);
    for (size_t i = 0; i < reqs.size(); ++i)
      alone.push_back(i == 1 ? s.generate(reqs[i], stop_after_3(seen_alone)) : s.generate(reqs[i]));
  }
  // engine::generate stops at the same token.
  EngineSession session(*model);
  int seen_generate = 0;
  const GenerationResult direct = generate(session, reqs[1].prompt, reqs[1].options, &tok, stop_after_3(seen_generate));
  CHECK(alone[1].generation.tokens == direct.tokens);
  CHECK(alone[1].generation.finish_reason == "stop");
  CHECK(alone[1].generation.tokens.size() < 40);

  Scheduler s(*model, &tok);
  std::vector<ScheduledResult> got(reqs.size());
  std::vector<std::string> streamed(reqs.size());
  int seen = 0;
  std::vector<std::thread> threads;
  for (size_t i = 0; i < reqs.size(); ++i)
    threads.emplace_back([&, i] {
      TextCallback cb = [&, i](const std::string& piece) {
        streamed[i] += piece;
        return i != 1 || ++seen < 3;
      };
      got[i] = s.generate(reqs[i], cb);
    });
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < reqs.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i].generation.tokens == alone[i].generation.tokens);
    CHECK(got[i].generation.finish_reason == alone[i].generation.finish_reason);
    CHECK(got[i].generation.text == streamed[i]);
  }
  CHECK(seen == 3);
}
