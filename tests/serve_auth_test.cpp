// nagent serve's authentication primitives: HMAC-SHA256 against GitHub's documented
// example, constant-time comparison, bearer tokens; and job request validation.
#include <catch2/catch.hpp>

#include "agent/serve/api_error.h"
#include "agent/serve/auth.h"
#include "agent/serve/job_request.h"
#include "support/temp_repo.h"

using namespace nagent;
using namespace nagent::serve;

TEST_CASE("GitHub's documented X-Hub-Signature-256 example verifies and a one-byte change does not", "[serve][auth]") {
  const std::string secret = "It's a Secret to Everybody";
  const std::string expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
  CHECK(signature_header(secret, "Hello, World!") == expected);
  CHECK(signature_valid(secret, "Hello, World!", expected));
  CHECK_FALSE(signature_valid(secret, "Hello, World?", expected));   // body changed
  CHECK_FALSE(signature_valid(secret + "x", "Hello, World!", expected));  // secret changed
  std::string flipped = expected;
  flipped.back() = '6';
  CHECK_FALSE(signature_valid(secret, "Hello, World!", flipped));    // signature changed
  CHECK_FALSE(signature_valid(secret, "Hello, World!", ""));
  CHECK_FALSE(signature_valid("", "Hello, World!", signature_header("", "Hello, World!")));  // no secret: never valid
}

TEST_CASE("constant_time_equal and bearer tokens", "[serve][auth]") {
  CHECK(constant_time_equal("abc", "abc"));
  CHECK_FALSE(constant_time_equal("abc", "abd"));
  CHECK_FALSE(constant_time_equal("abc", "abcd"));
  CHECK(constant_time_equal("", ""));
  CHECK(bearer_valid("tok", "Bearer tok"));
  CHECK_FALSE(bearer_valid("tok", "Bearer tok2"));
  CHECK_FALSE(bearer_valid("tok", "bearer tok"));
  CHECK_FALSE(bearer_valid("tok", "tok"));
  CHECK_FALSE(bearer_valid("", "Bearer "));
}

TEST_CASE("job requests: every field-level problem is named and semantic problems are 422", "[serve][validation]") {
  TempDir root("serve-roots");
  make_example_repo("swe_basic", root.path() / "repo");
  ServeConfig config;
  config.repo_roots = {std::filesystem::canonical(root.path()).string()};
  const std::string repo = (root.path() / "repo").string();
  auto status_of = [&](const json& request) {
    try {
      validate_job_request(request, config);
      return 0;
    } catch (const ApiError& e) {
      return e.status;
    }
  };
  json good = {{"recipe", "swe_fix"}, {"repo", repo}, {"task", "fix it"}};
  auto with = [&](const char* key, const json& value) {
    json r = good;
    r[key] = value;
    return r;
  };
  json spec = validate_job_request(good, config);
  CHECK(spec["recipe_name"] == "swe_fix");
  CHECK(spec["policy"] == "default");
  CHECK(spec["max_steps"] == config.max_steps);

  try {
    validate_job_request({{"recipe", 7}, {"task", ""}, {"extra", true}, {"max_steps", 0}}, config);
    FAIL("accepted");
  } catch (const ApiError& e) {
    CHECK(e.status == 400);
    CHECK(e.fields["recipe"] == "must be a string");
    CHECK(e.fields["repo"] == "is required");
    CHECK(e.fields["task"] == "must not be empty");
    CHECK(e.fields["extra"] == "unknown field");
    CHECK(e.fields["max_steps"].get<std::string>().find("from 1 to") != std::string::npos);
  }
  CHECK(status_of(json::array()) == 400);
  CHECK(status_of(with("ref", "--upload-pack=evil")) == 400);
  CHECK(status_of(with("recipe", "../etc/passwd")) == 400);
  CHECK(status_of(with("callback_url", "ftp://x")) == 400);
  CHECK(status_of(with("callback_url", "https://")) == 400);
  CHECK(status_of(with("recipe", "no_such_recipe")) == 422);
  CHECK(status_of(with("policy", "none")) == 422);  // never outside the sandbox
  CHECK(status_of(with("repo", "/etc")) == 422);
  CHECK(status_of(with("repo", root.str())) == 422);  // not a git repository
  CHECK(status_of(with("repo", "https://example.com/a/b.git")) == 422);  // host not allowed
  CHECK(status_of(with("callback_url", "http://127.0.0.1:1/cb")) == 422);  // no callback secret
  {
    // A file in the server's working directory named like a recipe is not a recipe.
    const auto cwd = std::filesystem::current_path();
    std::filesystem::current_path(root.path());
    write_text(root.path() / "planted", "return {ok = true}\n");
    CHECK(status_of(with("recipe", "planted")) == 422);
    std::filesystem::current_path(cwd);
  }
  config.repo_hosts = {"example.com"};
  CHECK(status_of(with("repo", "https://example.com/a/b.git")) == 0);
}
