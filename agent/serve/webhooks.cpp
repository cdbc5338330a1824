#include "agent/serve/webhooks.h"

#include "agent/serve/api_error.h"

namespace nagent::serve {
namespace {

// payload at a JSON pointer as a string; ApiError 400 naming the pointer if absent.
std::string field(const json& payload, const char* pointer) {
  const json::json_pointer p(pointer);
  if (!payload.contains(p) || !payload[p].is_string())
    throw ApiError(400, "invalid_payload", std::string("webhook payload lacks ") + pointer);
  return payload[p].get<std::string>();
}

std::string optional_field(const json& payload, const char* pointer) {
  const json::json_pointer p(pointer);
  return payload.contains(p) && payload[p].is_string() ? payload[p].get<std::string>() : "";
}

std::string number_field(const json& payload, const char* pointer) {
  const json::json_pointer p(pointer);
  return payload.contains(p) && payload[p].is_number_integer() ? std::to_string(payload[p].get<int64_t>()) : "?";
}

// The repository to clone: the configured mapping for the project, else its clone URL
// (which must then be on one of repo_hosts).
std::string repo_for(const std::string& project, const std::string& clone_url, const ServeConfig& config) {
  auto it = config.repos.find(project);
  return it != config.repos.end() ? it->second : clone_url;
}

struct Command {
  std::string recipe;
  std::string rest;  // the text after the command word
};

// "/nagent fix the tests" -> {recipe of "fix", "the tests"}; nullopt if the text is no command.
std::optional<Command> parse_command(const std::string& text, const ServeConfig& config) {
  size_t start = text.find_first_not_of(" \t\r\n");
  if (start == std::string::npos || text.compare(start, config.command_prefix.size(), config.command_prefix) != 0)
    return std::nullopt;
  size_t word = text.find_first_not_of(" \t", start + config.command_prefix.size());
  if (word == std::string::npos || word == start + config.command_prefix.size()) return std::nullopt;
  size_t end = text.find_first_of(" \t\r\n", word);
  const std::string name = text.substr(word, end == std::string::npos ? std::string::npos : end - word);
  auto it = config.commands.find(name);
  if (it == config.commands.end()) return std::nullopt;
  std::string rest = end == std::string::npos ? "" : text.substr(end);
  size_t r = rest.find_first_not_of(" \t\r\n");
  return Command{it->second, r == std::string::npos ? "" : rest.substr(r)};
}

bool association_allowed(const std::string& association, const ServeConfig& config) {
  for (const auto& a : config.allowed_associations)
    if (a == association) return true;
  return false;
}

}  // namespace

WebhookIntent github_intent(const std::string& event, const json& payload, const ServeConfig& config) {
  if (event == "ping") return {std::nullopt, "ping"};
  if (!payload.is_object()) throw ApiError(400, "invalid_payload", "webhook payload must be a JSON object");
  const std::string project = field(payload, "/repository/full_name");
  const std::string repo = repo_for(project, optional_field(payload, "/repository/clone_url"), config);
  if (event == "issue_comment") {
    if (optional_field(payload, "/action") != "created") return {std::nullopt, "comment not newly created"};
    std::optional<Command> command = parse_command(field(payload, "/comment/body"), config);
    if (!command) return {std::nullopt, "comment is no " + config.command_prefix + " command"};
    const std::string association = optional_field(payload, "/comment/author_association");
    if (!association_allowed(association, config))
      return {std::nullopt, "author association '" + association + "' may not run commands"};
    const std::string number = number_field(payload, "/issue/number");
    std::string task = field(payload, "/issue/title") + "\n\n" + optional_field(payload, "/issue/body");
    if (!command->rest.empty())
      task += "\n\nRequest from @" + optional_field(payload, "/comment/user/login") + ": " + command->rest;
    json request = {
        {"recipe", command->recipe}, {"repo", repo}, {"task", "GitHub " + project + "#" + number + ": " + task}};
    if (payload.contains(json::json_pointer("/issue/pull_request"))) request["ref"] = "refs/pull/" + number + "/head";
    return {request, ""};
  }
  if (event == "pull_request") {
    const std::string action = optional_field(payload, "/action");
    if (action != "opened" && action != "synchronize" && action != "reopened")
      return {std::nullopt, "pull_request action '" + action + "' starts nothing"};
    const std::string association = optional_field(payload, "/pull_request/author_association");
    if (!association_allowed(association, config))
      return {std::nullopt, "author association '" + association + "' may not start reviews"};
    const std::string number = number_field(payload, "/number");
    json request = {
        {"recipe", config.pull_request_recipe},
        {"repo", repo},
        {"ref", field(payload, "/pull_request/head/sha")},
        {"task", "Review pull request " + project + "#" + number + ": " + field(payload, "/pull_request/title") +
                     "\n\n" + optional_field(payload, "/pull_request/body")}};
    return {request, ""};
  }
  return {std::nullopt, "event '" + event + "' starts nothing"};
}

WebhookIntent gitlab_intent(const std::string& event, const json& payload, const ServeConfig& config) {
  if (!payload.is_object()) throw ApiError(400, "invalid_payload", "webhook payload must be a JSON object");
  const std::string project = field(payload, "/project/path_with_namespace");
  const std::string repo = repo_for(project, optional_field(payload, "/project/git_http_url"), config);
  if (event == "Note Hook") {
    std::optional<Command> command = parse_command(field(payload, "/object_attributes/note"), config);
    if (!command) return {std::nullopt, "note is no " + config.command_prefix + " command"};
    const bool on_mr = payload.contains("merge_request");
    const char* title = on_mr ? "/merge_request/title" : "/issue/title";
    const char* body = on_mr ? "/merge_request/description" : "/issue/description";
    std::string task =
        "GitLab " + project + ": " + optional_field(payload, title) + "\n\n" + optional_field(payload, body);
    if (!command->rest.empty())
      task += "\n\nRequest from @" + optional_field(payload, "/user/username") + ": " + command->rest;
    json request = {{"recipe", command->recipe}, {"repo", repo}, {"task", task}};
    if (on_mr) request["ref"] = field(payload, "/merge_request/last_commit/id");
    return {request, ""};
  }
  if (event == "Merge Request Hook") {
    const std::string action = optional_field(payload, "/object_attributes/action");
    if (action != "open" && action != "update" && action != "reopen")
      return {std::nullopt, "merge request action '" + action + "' starts nothing"};
    json request = {{"recipe", config.pull_request_recipe},
                    {"repo", repo},
                    {"ref", field(payload, "/object_attributes/last_commit/id")},
                    {"task", "Review merge request " + project + "!" + number_field(payload, "/object_attributes/iid") +
                                 ": " + field(payload, "/object_attributes/title") + "\n\n" +
                                 optional_field(payload, "/object_attributes/description")}};
    return {request, ""};
  }
  return {std::nullopt, "event '" + event + "' starts nothing"};
}

}  // namespace nagent::serve
