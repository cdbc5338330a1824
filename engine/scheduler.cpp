#include "engine/scheduler.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include "engine/engine_session.h"

namespace nagent::engine {

namespace {

bool is_prefix(const std::vector<int32_t>& p, const std::vector<int32_t>& of, size_t of_len) {
  return p.size() <= of_len && std::equal(p.begin(), p.end(), of.begin());
}

// A session of the pool and the snapshot saved inside its last prompt.
struct Pooled {
  explicit Pooled(LanguageModel& m) : session(m) {}
  EngineSession session;
  SessionSnapshot prompt_snapshot;
  bool has_snapshot = false;
  bool busy = false;
  uint64_t last_used = 0;
};

// A piece of text for the caller, with the generated token count when it was emitted.
struct Piece {
  std::string text;
  size_t tokens = 0;
};

}  // namespace

struct Scheduler::Impl {
  // One request. Fields above the line are shared with the calling thread (under mu); the rest
  // belong to the scheduler thread.
  struct Job {
    const ScheduledRequest* request = nullptr;  // the caller's, alive until done (generate waits)
    std::deque<Piece> pieces;
    bool done = false, cancelled = false;
    std::exception_ptr error;
    ScheduledResult result;
    std::condition_variable cv;
    // ----
    Pooled* slot = nullptr;
    int64_t reserved = 0;      // bytes counted against the budget while running
    int64_t stable = 0;        // snapshot_at, clamped to the prompt
    int64_t fed = 0;           // prompt tokens the session holds
    bool snapshot_taken = false, oversize = false, failed = false;
    bool cancel = false;  // a copy of `cancelled` taken under mu, acted on outside it
    std::optional<GenerationStream> stream;  // set once the prompt is prefilled
    std::optional<int32_t> next;             // token for the next decode step
  };

  LanguageModel& model;
  const Tokenizer* tokenizer;
  SchedulerOptions options;
  int64_t fixed_bytes = 0, token_bytes = 0, logits_bytes = 0;

  mutable std::mutex mu;
  std::condition_variable work;
  std::deque<std::shared_ptr<Job>> queue;    // waiting for admission, FIFO
  std::vector<std::shared_ptr<Job>> running;  // admitted, in arrival order
  std::vector<std::unique_ptr<Pooled>> pool;
  Stats stats;
  uint64_t tick = 0;
  bool stopping = false;
  std::thread thread;

  Impl(LanguageModel& m, const Tokenizer* t, SchedulerOptions o) : model(m), tokenizer(t), options(o) {
    if (options.prefill_chunk <= 0) throw std::invalid_argument("scheduler: prefill_chunk must be positive");
    if (options.pool_bytes <= 0) throw std::invalid_argument("scheduler: pool_bytes must be positive");
    const ModelConfig& c = model.config();
    for (LayerType l : c.layers) {
      if (l == LayerType::kMamba)
        fixed_bytes += 4 * ((c.conv_kernel - 1) * c.conv_dim() + c.mamba_num_heads * c.mamba_head_dim * c.ssm_state_size);
      if (l == LayerType::kAttention) token_bytes += 4 * 2 * c.num_key_value_heads * c.head_dim;
    }
    token_bytes += 4;  // the token id
    logits_bytes = 4 * c.vocab_size;
    thread = std::thread([this] { loop(); });
  }

  ~Impl() {
    {
      std::lock_guard<std::mutex> lk(mu);
      stopping = true;
    }
    work.notify_all();
    thread.join();
  }

  int64_t state_bytes(int64_t tokens) const {
    return fixed_bytes + token_bytes * tokens + (tokens > 0 ? logits_bytes : 0);
  }

  int64_t held_bytes(const Pooled& p) const {
    return state_bytes(static_cast<int64_t>(p.session.tokens().size())) +
           (p.has_snapshot ? state_bytes(static_cast<int64_t>(p.prompt_snapshot.tokens.size())) : 0);
  }

  int64_t reserve_bytes(const ScheduledRequest& r) const {
    const int64_t prompt = static_cast<int64_t>(r.prompt.size());
    const int64_t cap = std::max(prompt, model.config().max_position_embeddings);
    const int64_t total = std::min(cap, prompt + std::max<int64_t>(0, r.options.max_tokens));
    const int64_t snap = std::clamp<int64_t>(r.snapshot_at, 0, prompt);
    return state_bytes(total) + (snap > 0 ? state_bytes(snap) : 0);
  }

  int64_t bytes_in_use() const {
    int64_t b = 0;
    for (const auto& j : running) b += j->reserved;
    for (const auto& p : pool)
      if (!p->busy) b += held_bytes(*p);
    return b;
  }

  // How many of the prompt's first `len` tokens the pooled session can start from.
  static int64_t usable(const Pooled& p, const std::vector<int32_t>& prompt, size_t len) {
    int64_t best = 0;
    if (is_prefix(p.session.tokens(), prompt, len)) best = static_cast<int64_t>(p.session.tokens().size());
    if (p.has_snapshot && is_prefix(p.prompt_snapshot.tokens, prompt, len))
      best = std::max(best, static_cast<int64_t>(p.prompt_snapshot.tokens.size()));
    return best;
  }

  // Under mu: moves queued requests to running while the budget allows (FIFO: the head waits,
  // and so do the ones behind it).
  void admit() {
    while (!queue.empty()) {
      const std::shared_ptr<Job>& j = queue.front();
      const ScheduledRequest& r = *j->request;
      const int64_t prompt = static_cast<int64_t>(r.prompt.size());
      j->stable = std::clamp<int64_t>(r.snapshot_at, 0, prompt);
      const size_t match_len = static_cast<size_t>(j->stable > 0 ? j->stable : prompt);
      Pooled* best = nullptr;
      int64_t best_len = 0;
      for (const auto& p : pool) {
        if (p->busy) continue;
        const int64_t u = usable(*p, r.prompt, match_len);
        if (u > best_len || (u > 0 && u == best_len && p->last_used > best->last_used)) {
          best = p.get();
          best_len = u;
        }
      }
      if (best_len == 0) best = nullptr;
      const int64_t need = reserve_bytes(r);
      int64_t in_use = bytes_in_use() - (best ? held_bytes(*best) : 0);
      int64_t evictable = 0;
      for (const auto& p : pool)
        if (!p->busy && p.get() != best) evictable += held_bytes(*p);
      const bool fits = in_use - evictable + need <= options.pool_bytes;
      if (!fits && !running.empty()) return;  // wait for running requests to finish
      while (in_use + need > options.pool_bytes) {  // evict least recently used idle sessions
        auto lru = pool.end();
        for (auto it = pool.begin(); it != pool.end(); ++it)
          if (!(*it)->busy && it->get() != best && (lru == pool.end() || (*it)->last_used < (*lru)->last_used)) lru = it;
        if (lru == pool.end()) break;
        in_use -= held_bytes(**lru);
        pool.erase(lru);
        ++stats.evictions;
      }
      if (!fits) {
        j->oversize = true;  // alone: nothing else runs, nothing idle is kept
        ++stats.oversize;
      }
      if (!best) {
        pool.push_back(std::make_unique<Pooled>(model));
        best = pool.back().get();
      }
      best->busy = true;
      j->slot = best;
      j->reserved = need;
      // The session keeps its state when that is a prefix of the prompt, else restarts from
      // its prompt snapshot when that is one, else from empty (EngineSession::sync's rule).
      EngineSession& s = best->session;
      const int64_t held = is_prefix(s.tokens(), r.prompt, match_len) ? static_cast<int64_t>(s.tokens().size()) : -1;
      const int64_t snap = best->has_snapshot && is_prefix(best->prompt_snapshot.tokens, r.prompt, match_len)
                               ? static_cast<int64_t>(best->prompt_snapshot.tokens.size())
                               : -1;
      if (snap > held) s.restore(std::move(best->prompt_snapshot));
      else if (held < 0) s.reset();
      best->prompt_snapshot = SessionSnapshot{};  // replaced inside this prompt
      best->has_snapshot = false;
      j->fed = static_cast<int64_t>(s.tokens().size());
      j->result.cached_prompt_tokens = j->fed;
      running.push_back(j);
      queue.pop_front();
      stats.max_running = std::max<int64_t>(stats.max_running, static_cast<int64_t>(running.size()));
    }
  }

  void start_stream(Job& j) {
    Job* jp = &j;
    j.stream.emplace(j.request->options, model.config().vocab_size, tokenizer, [this, jp](const std::string& piece) {
      std::lock_guard<std::mutex> lk(mu);
      jp->pieces.push_back({piece, jp->stream->result().tokens.size()});
      jp->cv.notify_all();
      return !jp->cancelled;
    });
    const std::vector<float>& logits = j.slot->session.last_logits();
    j.next = j.stream->step(logits.empty() ? nullptr : logits.data());
  }

  // One iteration, without mu: a decode step of every decoding request, then prefill chunks.
  void iterate(const std::vector<Job*>& jobs) {
    // The caller's callback said stop (cancel() may emit held-back text: not under mu).
    for (Job* j : jobs)
      if (j->cancel && j->stream) j->stream->cancel();
    std::vector<Job*> decoding;
    for (Job* j : jobs)
      if (j->stream && j->next && !j->stream->done()) decoding.push_back(j);
    if (!decoding.empty()) {
      std::vector<EngineSession*> sessions;
      std::vector<int32_t> tokens;
      for (Job* j : decoding) {
        sessions.push_back(&j->slot->session);
        tokens.push_back(*j->next);
      }
      try {
        EngineSession::append_batch(sessions.data(), tokens.data(), static_cast<int64_t>(sessions.size()));
        for (Job* j : decoding) j->next = j->stream->step(j->slot->session.last_logits().data());
      } catch (...) {
        for (Job* j : decoding) fail(*j, std::current_exception());
      }
      std::lock_guard<std::mutex> lk(mu);
      ++stats.decode_steps;
      stats.max_batch = std::max<int64_t>(stats.max_batch, static_cast<int64_t>(decoding.size()));
    }
    // Prefill: each request in chunks of its own (the boundaries depend only on the request),
    // about one chunk's worth per iteration, oldest first.
    int64_t budget = options.prefill_chunk;
    for (Job* j : jobs) {
      if (j->stream || j->failed) continue;
      try {
        const std::vector<int32_t>& prompt = j->request->prompt;
        const int64_t size = static_cast<int64_t>(prompt.size());
        EngineSession& s = j->slot->session;
        while (j->fed < size || !j->stream) {
          if (j->stable > 0 && !j->snapshot_taken && j->fed == j->stable) {
            j->slot->prompt_snapshot = s.snapshot();
            j->slot->has_snapshot = true;
            j->snapshot_taken = true;
          }
          if (j->fed == size) {
            start_stream(*j);
            break;
          }
          if (budget <= 0) break;
          const int64_t boundary = j->fed < j->stable ? j->stable : size;
          const int64_t n = std::min(options.prefill_chunk, boundary - j->fed);
          s.append(prompt.data() + j->fed, n);
          j->fed += n;
          budget -= n;
        }
      } catch (...) {
        fail(*j, std::current_exception());
      }
      if (budget <= 0) break;
    }
  }

  void fail(Job& j, std::exception_ptr e) {
    j.failed = true;
    j.error = e;
  }

  // Under mu: hands finished requests back to their callers and their sessions to the pool.
  void complete() {
    for (auto it = running.begin(); it != running.end();) {
      Job& j = **it;
      if (!j.failed && !(j.stream && j.stream->done())) {
        ++it;
        continue;
      }
      if (j.failed) {  // the session's state is unknown: drop it
        pool.erase(std::find_if(pool.begin(), pool.end(), [&](const auto& p) { return p.get() == j.slot; }));
      } else {
        j.result.generation = std::move(j.stream->result());
        const int64_t prompt = static_cast<int64_t>(j.request->prompt.size());
        j.result.generation.prompt_tokens = prompt;
        j.result.generation.prefilled_tokens = prompt - j.result.cached_prompt_tokens;
        j.slot->busy = false;
        j.slot->last_used = ++tick;
      }
      j.stream.reset();
      j.done = true;
      j.cv.notify_all();
      ++stats.requests;
      it = running.erase(it);
    }
  }

  void loop() {
    std::unique_lock<std::mutex> lk(mu);
    for (;;) {
      admit();
      bool oversize = false;
      for (const auto& j : running) oversize = oversize || j->oversize;
      stats.bytes_in_use = bytes_in_use();
      if (!oversize) stats.peak_bytes = std::max(stats.peak_bytes, stats.bytes_in_use);
      stats.sessions = static_cast<int64_t>(pool.size());
      stats.waiting = static_cast<int64_t>(queue.size());
      if (running.empty()) {
        if (stopping && queue.empty()) return;
        work.wait(lk, [&] { return stopping || !queue.empty(); });
        continue;
      }
      std::vector<Job*> jobs;
      for (const auto& j : running) {
        j->cancel = j->cancelled;
        jobs.push_back(j.get());
      }
      lk.unlock();
      iterate(jobs);
      lk.lock();
      complete();
    }
  }
};

Scheduler::Scheduler(LanguageModel& model, const Tokenizer* tokenizer, SchedulerOptions options)
    : impl_(std::make_unique<Impl>(model, tokenizer, options)) {}

Scheduler::~Scheduler() = default;

ScheduledResult Scheduler::generate(const ScheduledRequest& request, const TextCallback& on_text) {
  auto job = std::make_shared<Impl::Job>();
  job->request = &request;
  std::unique_lock<std::mutex> lk(impl_->mu);
  impl_->queue.push_back(job);
  impl_->stats.waiting = static_cast<int64_t>(impl_->queue.size());
  impl_->work.notify_one();
  bool cancelled = false;
  size_t accepted = 0;  // tokens of the delivered pieces when the callback said stop
  std::string delivered;
  std::exception_ptr thrown;
  for (;;) {
    job->cv.wait(lk, [&] { return !job->pieces.empty() || job->done; });
    if (job->pieces.empty()) break;  // done, everything delivered
    std::deque<Piece> batch;
    batch.swap(job->pieces);
    lk.unlock();
    for (const Piece& p : batch) {
      if (cancelled) break;
      delivered += p.text;
      bool go_on = true;
      try {
        go_on = !on_text || on_text(p.text);
      } catch (...) {  // rethrown once the request has stopped (it reads `request` until then)
        thrown = std::current_exception();
        go_on = false;
      }
      if (!go_on) {
        cancelled = true;
        accepted = p.tokens;
      }
    }
    lk.lock();
    if (cancelled) job->cancelled = true;
  }
  if (thrown) std::rethrow_exception(thrown);
  if (job->error) std::rethrow_exception(job->error);
  ScheduledResult r = std::move(job->result);
  if (cancelled) {  // what the caller saw, as engine::generate would have stopped there
    GenerationResult& g = r.generation;
    if (g.tokens.size() > accepted) g.tokens.resize(accepted);
    if (g.logprobs.size() > accepted) g.logprobs.resize(accepted);
    g.text = delivered;
    g.finish_reason = "stop";
    g.stop_token = -1;
  }
  return r;
}

Scheduler::Stats Scheduler::stats() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->stats;
}

int64_t Scheduler::state_bytes(int64_t tokens) const { return impl_->state_bytes(tokens); }

const SchedulerOptions& Scheduler::options() const { return impl_->options; }

}  // namespace nagent::engine
