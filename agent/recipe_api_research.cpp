// nagent.corpus_index(dir [, {db = path}]) -> an index of the documents under dir (a
// workspace folder), with index:search(query [, limit]), index:chunk(id),
// index:quote_problem(id, quote) and index:stats().
#include <memory>

#include "agent/recipe_api.h"
#include "agent/research_index.h"

namespace nagent::recipe_api {
namespace {

constexpr const char* kIndexMeta = "nagent.CorpusIndex";

CorpusIndex& check_index(lua_State* L, const char* method) {
  auto* holder = static_cast<std::unique_ptr<CorpusIndex>*>(luaL_testudata(L, 1, kIndexMeta));
  if (!holder)
    throw ApiError(std::string("index:") + method + " must be called on an index (use a colon: index:" + method +
                   "(...))");
  return **holder;
}

// PDFs become text through pdftotext (Debian's poppler-utils) in the sandbox, when present.
TextExtractor pdf_extractor(Runtime& rt) {
  return [&rt](const std::filesystem::path& file, std::string& why) -> std::optional<std::string> {
    sandbox::Command cmd;
    cmd.argv = {"pdftotext", "-enc", "UTF-8", rt.host.context.workspace.relative(file), "-"};
    cmd.workdir = rt.host.context.workspace.root().string();
    cmd.timeout_s = 60;
    sandbox::Result r = rt.host.context.runner.run(cmd);
    if (r.ok()) return r.stdout_data;
    why = r.exit_code == 127 ? "pdftotext is not installed (Debian package poppler-utils)"
                             : "pdftotext failed: " + r.stderr_data.substr(0, r.stderr_data.find('\n'));
    return std::nullopt;
  };
}

int api_corpus_index(lua_State* L, Runtime& rt) {
  const std::string dir = opt_string(L, 1, "nagent.corpus_index: the folder", ".");
  const json options = opt_table(L, 2, "nagent.corpus_index: the options");
  const std::string db = opt_field_string(options, "db", "nagent.corpus_index", ":memory:");
  std::filesystem::path root;
  try {
    root = rt.host.context.workspace.resolve(dir);
  } catch (const PathError& e) {
    throw ApiError(e.what());
  }
  if (!std::filesystem::is_directory(root)) throw ApiError("nagent.corpus_index: " + dir + " is not a folder");
  auto index = std::make_unique<CorpusIndex>(db);
  {
    LuaUnlock unlock(rt);
    index->add_directory(root, pdf_extractor(rt));
  }
  rt.host.journal.record("corpus_indexed", {{"dir", dir}, {"documents", index->stats().documents},
                                            {"chunks", index->stats().chunks}, {"skipped", index->stats().skipped}});
  void* mem = lua_newuserdatauv(L, sizeof(std::unique_ptr<CorpusIndex>), 0);
  new (mem) std::unique_ptr<CorpusIndex>(std::move(index));
  luaL_setmetatable(L, kIndexMeta);
  return 1;
}

int index_gc(lua_State* L) {
  static_cast<std::unique_ptr<CorpusIndex>*>(luaL_checkudata(L, 1, kIndexMeta))->~unique_ptr();
  return 0;
}

int api_index_search(lua_State* L, Runtime& rt) {
  CorpusIndex& index = check_index(L, "search");
  const std::string query = arg_string(L, 2, "index:search: the query");
  const int limit = lua_isnoneornil(L, 3) ? 8 : int(luaL_checkinteger(L, 3));
  json hits = json::array();
  for (const auto& h : index.search(query, limit))
    hits.push_back({{"id", h.id}, {"doc", h.doc}, {"section", h.section}, {"snippet", h.snippet}, {"score", h.score}});
  push_json(L, hits);
  return 1;
}

int api_index_chunk(lua_State* L, Runtime& rt) {
  CorpusIndex& index = check_index(L, "chunk");
  const std::string id = arg_string(L, 2, "index:chunk: the chunk id");
  auto c = index.chunk(id);
  if (!c) {
    lua_pushnil(L);
    lua_pushstring(L, ("no chunk " + id + " in the corpus").c_str());
    return 2;
  }
  push_json(L, {{"id", c->id}, {"doc", c->doc}, {"section", c->section}, {"text", c->text}});
  return 1;
}

// index:quote_problem(id, quote) -> nil when the quote is verbatim in the chunk, else why not
int api_index_quote_problem(lua_State* L, Runtime& rt) {
  CorpusIndex& index = check_index(L, "quote_problem");
  const std::string problem =
      index.quote_problem(arg_string(L, 2, "index:quote_problem: the chunk id"),
                          arg_string(L, 3, "index:quote_problem: the quote"));
  if (problem.empty()) lua_pushnil(L);
  else lua_pushstring(L, problem.c_str());
  return 1;
}

int api_index_stats(lua_State* L, Runtime& rt) {
  const CorpusStats& s = check_index(L, "stats").stats();
  push_json(L, {{"documents", s.documents}, {"chunks", s.chunks}, {"bytes", s.bytes}, {"skipped", s.skipped}});
  return 1;
}

}  // namespace

void register_research_api(lua_State* L, Runtime& rt) {
  luaL_newmetatable(L, kIndexMeta);
  lua_pushcfunction(L, index_gc);
  lua_setfield(L, -2, "__gc");
  lua_newtable(L);
  set_function<api_index_search>(L, rt, "search");
  set_function<api_index_chunk>(L, rt, "chunk");
  set_function<api_index_quote_problem>(L, rt, "quote_problem");
  set_function<api_index_stats>(L, rt, "stats");
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  set_function<api_corpus_index>(L, rt, "corpus_index");
}

}  // namespace nagent::recipe_api
