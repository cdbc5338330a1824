-- test_gen: adds the missing tests for a module, proven against a planted fix.
--
--   nagent run test_gen --repo DIR --arg module=PATH --arg fix=PATCH_FILE [--test-cmd CMD] [--out DIR]
--
-- `fix` is a patch (in the workspace) that corrects a bug of `module`, not applied.
-- 1. The existing tests must pass, and the fix must apply.
-- 2. An agent writes new tests; a hook lets it write test files only (tests/..., test_*.py,
--    *_test.*), never the module.
-- 3. Proof: the suite must fail on the code as it is, and pass with the fix applied. The fix is
--    then reverted, so the result is a diff of tests only (printed, and in the reports).
-- Artifacts: test_gen.md and test_gen.json.

local args = nagent.args
local module, fix = args.module, args.fix
if not module or not fix then error("test_gen needs --arg module=PATH --arg fix=PATCH_FILE") end
local module_text, err = nagent.read_file(module)
if not module_text then error("test_gen: " .. err) end
local fix_text, ferr = nagent.read_file(fix)
if not fix_text then error("test_gen: " .. ferr) end
local applies, why = nagent.git_apply(fix_text, { check = true })
if not applies then error("test_gen: the fix " .. fix .. " does not apply: " .. why) end

local baseline = nagent.tool("run_tests")
if not baseline.data.passed then
  return { ok = false, summary = "the existing tests fail before any new test; fix them first:\n" .. baseline.output }
end

local function is_test_file(path)
  return path:match("^tests?/") ~= nil or path:match("test_[^/]*$") ~= nil or path:match("_test%.[^/]*$") ~= nil
end

local writer = nagent.agent{
  name = "test_writer",
  system = [[
You are nagent, an engineer who writes regression tests. You add tests that expose a bug: they
must fail on the current code and pass once the bug is fixed. Follow the style of the existing
tests. You may only create or edit test files; the code under test stays as it is. Run the
tests with run_tests to see your new tests fail for the right reason (an assertion about the
bug, not an import or syntax error), then call finish with a one-line summary.]],
  tools = { "read_file", "list_dir", "search", "write_file", "edit_file", "run_tests", "finish" },
  max_steps = tonumber(args.max_steps) or 25,
  before_tool = function(call)
    if (call.name == "write_file" or call.name == "edit_file") and not is_test_file(call.arguments.path or "") then
      return "test_gen only adds tests; " .. tostring(call.arguments.path) .. " is not a test file " ..
             "(write under tests/ or name it test_*.py)"
    end
  end,
}

local task = "Add the missing tests for " .. module .. ":\n\n```\n" .. module_text .. "\n```\n\n" ..
             "This fix for a bug in it exists but is NOT applied (do not apply it); your tests must fail " ..
             "without it and pass with it:\n\n```diff\n" .. fix_text .. "\n```"
local result = writer:run(task)
nagent.log("test writer: " .. result.outcome .. " after " .. result.steps .. " steps")

-- Keep the new and changed test files; anything else the agent changed is reverted.
local tests, reverted = {}, {}
for _, entry in ipairs(nagent.git_status()) do
  if is_test_file(entry.path) then
    tests[#tests + 1] = entry.path
  else
    reverted[#reverted + 1] = entry.path
    local original = nagent.git_show("HEAD", entry.path)
    if original then nagent.write_file(entry.path, original) end
  end
end

local before = nagent.tool("run_tests")
local failed_before = not before.data.passed
local passed_after = false
local after_output = ""
if #tests > 0 and failed_before then
  assert(nagent.git_apply(fix_text))
  local after = nagent.tool("run_tests")
  passed_after = after.data.passed == true
  after_output = after.output
  assert(nagent.git_apply(fix_text, { reverse = true }))
end

local diff = #tests > 0 and nagent.git_diff{ paths = tests } or ""
local proven = #tests > 0 and failed_before and passed_after
local md = table.concat({
  "# Tests for " .. module, "",
  string.format("New test files: %s. Fail without the fix: %s. Pass with the fix: %s.",
                #tests > 0 and ("`" .. table.concat(tests, "`, `") .. "`") or "none",
                failed_before and "yes" or "**no**", passed_after and "yes" or "**no**"),
  #reverted > 0 and ("\nReverted non-test edits: `" .. table.concat(reverted, "`, `") .. "`.") or "",
  "", "```diff", diff, "```", "",
}, "\n")
local md_path = nagent.write_report("test_gen.md", md)
nagent.write_report("test_gen.json", {
  module = module, fix = fix, tests = tests, reverted = reverted, proven = proven,
  failed_before = failed_before, passed_after = passed_after,
  before_output = before.output, after_output = after_output, agent = { outcome = result.outcome, steps = result.steps },
})
if diff ~= "" then nagent.print(diff) end

if proven then return { ok = true, summary = "new tests fail without the fix and pass with it: " .. md_path } end
if #tests == 0 then return { ok = false, summary = "the agent added no test file: " .. md_path } end
if not failed_before then return { ok = false, summary = "the new tests pass without the fix, so they miss the bug: " .. md_path } end
return { ok = false, summary = "the new tests still fail with the fix applied: " .. md_path }
