// Engine sessions: incremental prefill, snapshot/restore, fork, save/load to disk.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "engine/engine_session.h"
#include "engine/nemotronh.h"

using namespace nagent::engine;
namespace fs = std::filesystem;

namespace {
const std::string kFixture = std::string(NAGENT_SOURCE_DIR) + "/tests/fixtures/nemotronh/nano_fp32";
std::vector<int32_t> seq(int n, int start) {
  std::vector<int32_t> v;
  for (int i = 0; i < n; ++i) v.push_back(3 + (start + i * 37) % 250);
  return v;
}
// Prefilling in two calls splits SSD chunks differently from one call: equal up to rounding.
double rel_err(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}
}  // namespace

TEST_CASE("sync prefills only what the session does not hold yet") {
  auto m = NemotronH::load(kFixture);
  EngineSession s(*m);
  auto turn1 = seq(20, 0);
  CHECK(s.sync(turn1) == 20);
  auto turn2 = turn1;
  const auto more = seq(9, 5);
  turn2.insert(turn2.end(), more.begin(), more.end());
  CHECK(s.sync(turn2) == 9);
  EngineSession fresh(*m);
  fresh.append(turn2);
  REQUIRE(s.last_logits().size() == fresh.last_logits().size());
  CHECK(rel_err(s.last_logits(), fresh.last_logits()) < 1e-5);
  CHECK(s.state().position == 29);
  // A diverging history cannot be rewound: the session restarts.
  auto other = seq(10, 99);
  CHECK(s.sync(other) == 10);
  CHECK(s.tokens() == other);
}

TEST_CASE("restore returns to a snapshot exactly, and sync falls back to a prefix snapshot") {
  auto m = NemotronH::load(kFixture);
  EngineSession s(*m);
  s.append(seq(17, 1));
  const SessionSnapshot snap = s.snapshot();
  s.append(seq(5, 2));
  const auto after = s.last_logits();
  s.restore(snap);
  CHECK(s.tokens() == snap.tokens);
  CHECK(s.state() == snap.state);
  s.append(seq(5, 2));
  CHECK(s.last_logits() == after);  // bitwise: same state, same computation

  // Branch from the snapshot instead of re-prefilling everything.
  auto branch = snap.tokens;
  branch.push_back(42);
  CHECK(s.sync(branch, &snap) == 1);
}

TEST_CASE("a fork evolves independently of its parent") {
  auto m = NemotronH::load(kFixture);
  EngineSession a(*m);
  a.append(seq(12, 3));
  EngineSession b = a.fork();
  const int32_t x = 7, y = 8;
  a.append(&x, 1);
  b.append(&y, 1);
  CHECK(a.tokens().back() == 7);
  CHECK(b.tokens().back() == 8);
  CHECK(a.last_logits() != b.last_logits());
  EngineSession c(*m);
  c.append(seq(12, 3));
  c.append(&y, 1);
  CHECK(c.last_logits() == b.last_logits());
}

TEST_CASE("save and load round-trip through a file, and foreign or cut files are refused") {
  auto m = NemotronH::load(kFixture);
  const fs::path dir = fs::temp_directory_path() / ("engine_session_test_" + std::to_string(getpid()));
  fs::create_directories(dir);
  EngineSession s(*m);
  s.append(seq(30, 4));
  s.save((dir / "s.bin").string());
  EngineSession t(*m);
  t.load((dir / "s.bin").string());
  CHECK(t.tokens() == s.tokens());
  CHECK(t.state() == s.state());
  const int32_t x = 9;
  CHECK(t.append(&x, 1) == s.append(&x, 1));

  auto other = NemotronH::load(std::string(NAGENT_SOURCE_DIR) + "/tests/fixtures/nemotronh/super_fp32");
  EngineSession u(*other);
  CHECK_THROWS_WITH(u.load((dir / "s.bin").string()), Catch::Contains("written for another model"));
  fs::resize_file(dir / "s.bin", fs::file_size(dir / "s.bin") - 100);
  CHECK_THROWS_WITH(t.load((dir / "s.bin").string()), Catch::Contains("truncated"));
  fs::remove_all(dir);
}
