// Generation (greedy against the transformers reference, logprobs, stop ids, stop strings,
// streaming) and the local Backend end to end, on the nano fixture with a small byte-level
// tokenizer written for its 256-token vocabulary.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "engine/generation.h"
#include "engine/nemotronh.h"
#include "engine/local_backend.h"
#include "engine/safetensors.h"
#include "engine/tokenizer.h"
#include "support/tiny_model_dir.h"

using namespace nagent;
using namespace nagent::engine;
namespace fs = std::filesystem;

namespace {

const fs::path kNano = fs::path(NAGENT_SOURCE_DIR) / "tests/fixtures/nemotronh/nano_fp32";

std::vector<int32_t> ids_of(const SafetensorsFile& f, const std::string& name) {
  const TensorInfo* t = f.find(name);
  REQUIRE(t);
  const auto* p = reinterpret_cast<const int64_t*>(f.data(*t));
  return std::vector<int32_t>(p, p + t->numel());
}

}  // namespace

TEST_CASE("greedy generation reproduces transformers' 64 tokens, with logprobs") {
  auto m = NemotronH::load(kNano.string());
  auto ref = SafetensorsFile::open((kNano / "reference.safetensors").string());
  const auto prompt = ids_of(*ref, "prompt_ids");
  const auto expect = ids_of(*ref, "decode_ids");
  const TensorInfo* dl = ref->find("decode_logits");
  const float* ref_logits = reinterpret_cast<const float*>(ref->data(*dl));
  const TensorInfo* pl = ref->find("prefill_logits");
  const float* ref_prefill = reinterpret_cast<const float*>(ref->data(*pl));
  const int64_t V = m->config().vocab_size;

  EngineSession s(*m);
  GenerationOptions g;
  g.max_tokens = 64;
  g.logprobs = true;
  const GenerationResult r = generate(s, prompt, g);
  CHECK(r.tokens == expect);
  CHECK(r.finish_reason == "length");
  REQUIRE(r.logprobs.size() == 64);
  for (size_t i = 0; i < 64; ++i) {
    const float* row = i == 0 ? ref_prefill + (prompt.size() - 1) * V : ref_logits + (i - 1) * V;
    CHECK(r.logprobs[i] == Approx(token_logprob(row, V, expect[i])).margin(1e-3));
  }
  // The session holds the prompt and every generated token but the last (never fed).
  CHECK(s.tokens().size() == prompt.size() + 63);
  CHECK(r.prefilled_tokens == static_cast<int64_t>(prompt.size()));
}

TEST_CASE("a stop id ends generation before that token") {
  auto m = NemotronH::load(kNano.string());
  auto ref = SafetensorsFile::open((kNano / "reference.safetensors").string());
  const auto prompt = ids_of(*ref, "prompt_ids");
  const auto expect = ids_of(*ref, "decode_ids");
  const size_t at = static_cast<size_t>(std::find(expect.begin(), expect.end(), expect[12]) - expect.begin());
  EngineSession s(*m);
  GenerationOptions g;
  g.max_tokens = 64;
  g.stop_ids = {expect[12]};
  const GenerationResult r = generate(s, prompt, g);
  CHECK(r.finish_reason == "stop");
  CHECK(r.stop_token == expect[12]);
  CHECK(r.tokens == std::vector<int32_t>(expect.begin(), expect.begin() + at));
}

TEST_CASE("stop strings cut the text, streamed pieces add up to it, seeds repeat") {
  TinyModelDir dir("engine_generation_test");
  auto m = NemotronH::load(dir.path.string());
  const Tokenizer tok = Tokenizer::from_model_dir(dir.path.string());
  const auto prompt = tok.encode("The quick brown fox");
  GenerationOptions g;
  g.max_tokens = 40;
  g.sampling.temperature = 0.8;
  g.sampling.seed = 5;
  EngineSession s1(*m);
  const GenerationResult free_run = generate(s1, prompt, g, &tok);
  REQUIRE(free_run.text.size() >= 12);
  EngineSession s2(*m);
  CHECK(generate(s2, prompt, g, &tok).text == free_run.text);  // same seed, same text

  const std::string stop = free_run.text.substr(8, 3);
  g.stop_strings = {stop};
  std::string streamed;
  EngineSession s3(*m);
  const GenerationResult r = generate(s3, prompt, g, &tok, [&](const std::string& piece) {
    streamed += piece;
    return true;
  });
  CHECK(r.finish_reason == "stop");
  CHECK(r.text == free_run.text.substr(0, free_run.text.find(stop)));
  CHECK(streamed == r.text);  // nothing of the stop string leaked into the stream
}

TEST_CASE("local backend: chat template, generation, usage, streamed deltas, session reuse") {
  TinyModelDir dir("engine_generation_test");
  LocalBackendOptions o;
  o.model_dir = dir.path.string();
  auto backend = make_local_backend(o);
  CHECK_THAT(backend->describe(), Catch::Contains("NemotronH 5 layers"));
  CHECK(backend->context_window() == 4096);
  ChatRequest req;
  req.messages = {Message::system("Be brief."), Message::user("Say hi.")};
  req.sampling.temperature = 0.0;
  req.sampling.max_tokens = 24;
  std::string reasoning, content;
  const ChatReply a = backend->chat(req, [&](const ChatDelta& d) {
    reasoning += d.reasoning;
    content += d.content;
  });
  CHECK(a.usage.reported);
  CHECK(a.usage.prompt_tokens > 20);
  CHECK(a.usage.completion_tokens >= 1);
  CHECK(a.usage.completion_tokens <= 24);
  CHECK((a.finish_reason == "stop" || a.finish_reason == "length"));
  CHECK(reasoning == a.reasoning);  // the prompt ends in "<think>\n": output starts as reasoning
  CHECK(content == a.content);
  CHECK(!(a.reasoning + a.content).empty());
  CHECK(a.usage.cached_prompt_tokens == 0);  // a fresh session computes everything
  // Greedy and the same prompt: the same reply, from the session's saved prompt state, which
  // ends just before the last turn header (`<|im_start|>assistant\n<think>\n`).
  const ChatReply b = backend->chat(req, {});
  CHECK(b.reasoning == a.reasoning);
  CHECK(b.content == a.content);
  const Tokenizer tok = Tokenizer::from_model_dir(dir.path.string());
  const auto header = static_cast<int64_t>(tok.encode("<|im_start|>assistant\n<think>\n").size());
  CHECK(b.usage.cached_prompt_tokens == a.usage.prompt_tokens - header);
  // The next turn re-renders the reply without its reasoning: everything before that turn's
  // header is still reused rather than prefilled again.
  ChatRequest next = req;
  Message said{"assistant", a.content, a.reasoning, {}, {}, {}};
  next.messages.push_back(said);
  next.messages.push_back(Message::user("And now?"));
  const ChatReply c = backend->chat(next, {});
  CHECK(c.usage.cached_prompt_tokens == b.usage.cached_prompt_tokens);
  CHECK(c.usage.prompt_tokens > a.usage.prompt_tokens);
  // A prompt over the 4096-token window is a ContextOverflowError, so the agent can compact.
  req.messages.push_back(Message::user(std::string(5000, 'x')));
  CHECK_THROWS_AS(backend->chat(req, {}), ContextOverflowError);
}

TEST_CASE("local backend errors are one clear BackendError") {
  LocalBackendOptions o;
  o.model_dir = "/nonexistent/model";
  CHECK_THROWS_WITH(make_local_backend(o), Catch::Contains("cannot load the local model") && Catch::Contains("not a directory"));
  o.model_dir = kNano.string();  // weights but no tokenizer.json
  CHECK_THROWS_AS(make_local_backend(o), BackendError);
}
