// What a recipe tells the world: progress lines, its printed output, report files
// (Markdown or JSON), the session's events, and JSON text in and out.
#include <filesystem>
#include <fstream>

#include "agent/recipe_api.h"

namespace nagent::recipe_api {
namespace {

namespace fs = std::filesystem;

// nagent.events([type | {type = ..., op = ...}]) -> {{seq, type, data}, ...}
int api_events(lua_State* L, Runtime& rt) {
  std::string type;
  int op = -1;
  if (lua_istable(L, 1)) {
    const json filter = opt_table(L, 1, "nagent.events: the filter");
    type = opt_field_string(filter, "type", "nagent.events", "");
    op = int(opt_field_number(filter, "op", "nagent.events", -1));
  } else {
    type = opt_string(L, 1, "nagent.events: the event type", "");
  }
  json list = json::array();
  Journal& journal = rt.host.journal;
  for (auto& e : journal.store().events(journal.session_id())) {
    if (!type.empty() && e.type != type) continue;
    if (op >= 0 && !(e.data.is_object() && e.data.value("op", -1) == op)) continue;
    list.push_back({{"seq", e.seq}, {"type", e.type}, {"data", std::move(e.data)}});
  }
  push_json(L, list);
  return 1;
}

std::string joined_args(lua_State* L) {
  std::string out;
  for (int i = 1, n = lua_gettop(L); i <= n; ++i) {
    if (i > 1) out += "\t";
    out += luaL_tolstring(L, i, nullptr);
    lua_pop(L, 1);
  }
  return out;
}

int api_log(lua_State* L, Runtime& rt) {
  std::string text = joined_args(L);
  rt.host.journal.record("log", {{"text", text}});
  if (rt.host.log) rt.host.log(text);
  return 0;
}

int api_print(lua_State* L, Runtime& rt) {
  std::string text = joined_args(L);
  if (rt.host.print) rt.host.print(text + "\n");
  return 0;
}

// nagent.write_report(name, content) -> the file's path. A string is written as it is
// (Markdown, text); a table as indented JSON. name is a plain file name ("review.md").
int api_write_report(lua_State* L, Runtime& rt) {
  const std::string name = arg_string(L, 1, "nagent.write_report: the file name");
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
    throw ApiError("nagent.write_report: '" + name + "' must be a plain file name such as report.md");
  std::string content;
  if (lua_type(L, 2) == LUA_TSTRING) {
    content = arg_string(L, 2, "nagent.write_report: the content");
  } else if (lua_istable(L, 2)) {
    content = arg_table(L, 2, "nagent.write_report: the content").dump(2) + "\n";
  } else {
    throw ApiError(std::string("nagent.write_report: the content must be a string or a table, got ") +
                   luaL_typename(L, 2));
  }
  const fs::path dir = rt.host.report_dir.empty() ? rt.host.context.workspace.root() / ".nagent" / "reports"
                                                  : fs::path(rt.host.report_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  const fs::path path = dir / name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) throw ApiError("nagent.write_report: cannot write " + path.string());
  rt.host.journal.record("report", {{"path", path.string()}, {"bytes", content.size()}});
  lua_pushstring(L, path.string().c_str());
  return 1;
}

// nagent.json_encode(value [, {pretty = true}]) -> text
int api_json_encode(lua_State* L, Runtime& rt) {
  if (lua_isnone(L, 1)) throw ApiError("nagent.json_encode needs a value");
  json value;
  try {
    value = to_json(L, 1);
  } catch (const std::invalid_argument& e) {
    throw ApiError(std::string("nagent.json_encode: ") + e.what());
  }
  const json options = opt_table(L, 2, "nagent.json_encode: the options");
  const std::string text = value.dump(options.value("pretty", false) ? 2 : -1);
  lua_pushlstring(L, text.data(), text.size());
  return 1;
}

// nagent.json_decode(text) -> value | nil, error (JSON null becomes nil)
int api_json_decode(lua_State* L, Runtime& rt) {
  const std::string text = arg_string(L, 1, "nagent.json_decode: the text");
  json value;
  try {
    value = json::parse(text);
  } catch (const json::parse_error& e) {
    lua_pushnil(L);
    lua_pushstring(L, e.what());
    return 2;
  }
  push_json(L, value);
  return 1;
}

}  // namespace

void register_output_api(lua_State* L, Runtime& rt) {
  set_function<api_events>(L, rt, "events");
  set_function<api_log>(L, rt, "log");
  set_function<api_print>(L, rt, "print");
  set_function<api_write_report>(L, rt, "write_report");
  set_function<api_json_encode>(L, rt, "json_encode");
  set_function<api_json_decode>(L, rt, "json_decode");
}

}  // namespace nagent::recipe_api
