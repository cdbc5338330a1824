// ToolRegistry, validate_arguments and cap_output.
#include "tools_fixture.h"

#include "tools/builtin.h"

using namespace nagent;

static std::shared_ptr<const Tool> make_shared_shell() { return make_shell_tool(); }

TEST_CASE("builtin_tools registers every tool with a schema, description and aliases") {
  ToolRegistry r = builtin_tools();
  CHECK(r.names() == std::vector<std::string>{"read_file", "write_file", "edit_file", "apply_patch", "list_dir", "search",
                                              "shell", "run_tests", "finish"});
  json schemas = r.openai_schemas();
  REQUIRE(schemas.size() == 9);
  for (const auto& s : schemas) {
    INFO(s.dump());
    CHECK(s["type"] == "function");
    CHECK(s["function"]["description"].get<std::string>().size() > 80);
    CHECK(s["function"]["parameters"]["type"] == "object");
    CHECK(s["function"]["parameters"]["additionalProperties"] == false);
  }
  const std::vector<std::pair<std::string, std::string>> aliases = {
      {"bash", "shell"},   {"execute_bash", "shell"}, {"str_replace", "edit_file"}, {"view", "read_file"},
      {"cat", "read_file"}, {"grep", "search"},        {"ls", "list_dir"},           {"create", "write_file"},
      {"submit", "finish"}};
  for (const auto& [alias, target] : aliases) {
    INFO(alias);
    REQUIRE(r.find(alias) != nullptr);
    CHECK(r.find(alias)->name() == target);
    CHECK(r.aliases().at(alias) == target);
  }
  CHECK(r.find("str_replace_editor") == nullptr);
  CHECK(r.find("nope") == nullptr);

  ToolRegistry ro = r.subset({"read_file", "search"});
  CHECK(ro.names() == std::vector<std::string>{"read_file", "search"});
  CHECK(ro.find("grep") != nullptr);
  CHECK(ro.find("bash") == nullptr);  // alias of a tool not in the subset
  CHECK_THROWS_WITH(r.subset({"read_file", "rm_rf"}), Catch::Contains("unknown tool 'rm_rf'"));
  CHECK_THROWS_AS(r.add(make_shared_shell()), std::invalid_argument);  // duplicate name
  CHECK_THROWS_AS(r.add_alias("grep", "shell"), std::invalid_argument);  // alias taken
  CHECK_THROWS_AS(r.add_alias("x", "no_such_tool"), std::invalid_argument);
}

TEST_CASE("validate_arguments names the problem and restates the signature") {
  ToolRegistry r = builtin_tools();
  const Tool& read = *r.find("read_file");
  CHECK(validate_arguments(read, {{"path", "a"}, {"start_line", 2}}) == "");
  CHECK(validate_arguments(read, {{"path", "a"}, {"start_line", 2.0}}) == "");  // integral float is an integer

  CHECK(validate_arguments(read, json::object()) ==
        "missing required argument 'path' for read_file. read_file takes: path (string, required), "
        "start_line (integer), end_line (integer)");
  CHECK_THAT(validate_arguments(read, {{"path", "a"}, {"view_range", {1, 2}}}),
             Catch::StartsWith("unknown argument 'view_range' for read_file. read_file takes: path"));
  CHECK(validate_arguments(read, {{"path", "a"}, {"start_line", "12"}}) ==
        "argument 'start_line' of read_file must be an integer, got string \"12\"");
  CHECK(validate_arguments(read, {{"path", "a"}, {"start_line", 0}}) ==
        "argument 'start_line' of read_file must be at least 1, got 0");
  CHECK(validate_arguments(read, {{"path", 5}}) == "argument 'path' of read_file must be a string, got integer 5");
  CHECK_THAT(validate_arguments(read, json::array()), Catch::StartsWith("arguments of read_file must be a JSON object"));

  const Tool& create = *r.find("create");  // alias: the message names our argument
  CHECK_THAT(validate_arguments(create, {{"path", "x"}, {"file_text", "y"}}),
             Catch::StartsWith("missing required argument 'content' for write_file"));
  CHECK_THAT(validate_arguments(*r.find("shell"), {{"command", "ls"}, {"timeout_s", 99999}}),
             Catch::Contains("must be at most 1800"));
}

TEST_CASE("cap_output keeps head and tail on line boundaries and says what it cut") {
  std::string text;
  for (int i = 1; i <= 1000; ++i) text += "row " + std::to_string(i) + "\n";
  CHECK(cap_output(text, text.size()) == text);

  std::string capped = cap_output(text, 200);
  CHECK_THAT(capped, Catch::StartsWith("row 1\nrow 2\n"));
  CHECK_THAT(capped, Catch::EndsWith("row 999\nrow 1000\n"));
  // The note's numbers account exactly for what is missing.
  size_t open = capped.find("[... "), close = capped.find(" ...]\n");
  REQUIRE(open != std::string::npos);
  REQUIRE(close != std::string::npos);
  std::string head = capped.substr(0, open), tail = capped.substr(close + 6);
  CHECK(head.size() + tail.size() <= 200);
  CHECK(text.substr(0, head.size()) == head);
  CHECK(text.substr(text.size() - tail.size()) == tail);
  const size_t cut = text.size() - head.size() - tail.size();
  const size_t cut_lines = 1000 - std::count(head.begin(), head.end(), '\n') - std::count(tail.begin(), tail.end(), '\n');
  CHECK(capped.substr(open, close + 5 - open) ==
        "[... " + std::to_string(cut) + " bytes / " + std::to_string(cut_lines) + " lines omitted ...]");

  // More tail when asked (test output), and no split UTF-8 sequence.
  std::string tail_heavy = cap_output(text, 200, 0.25);
  CHECK(tail_heavy.substr(tail_heavy.find(" ...]\n") + 6).size() > 120);
  std::string utf(300, 'x');
  for (int i = 0; i < 100; ++i) utf += "\xC3\xA9";  // é
  std::string u = cap_output(utf, 101);
  CHECK(u.find("\xC3\n") == std::string::npos);
  CHECK((static_cast<unsigned char>(u.back()) & 0xC0) == 0x80);  // ends on a whole é
  CHECK(u.substr(u.find(" ...]\n") + 6).substr(0, 2) == "\xC3\xA9");
}
