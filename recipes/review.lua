-- review: reviews a diff (the working tree's changes, or a branch against its base).
--
--   nagent run review --repo DIR [--arg base=main] [--out DIR]
--
-- 1. The diff against `base` (default HEAD: the uncommitted changes) and its changed lines.
-- 2. A reviewer agent reads the diff and the code around it with read-only tools (a hook
--    lets the shell run read-only git commands only), then reports its findings as JSON matching a schema: file, line,
--    severity, title, explanation, and optionally a suggested patch.
-- 3. The recipe keeps only findings on lines the diff changed, checks each suggested patch
--    with `git apply --check`, and writes review.md (usable as a CI comment) and review.json.
-- The recipe fails (exit code 1) when a critical or major finding remains, so CI can gate on it.

local args = nagent.args
local base = args.base or "HEAD"
local diff = nagent.git_diff{ base = base }
if diff == "" then
  nagent.write_report("review.md", "# Review\n\nNo changes against `" .. base .. "`.\n")
  nagent.write_report("review.json", { base = base, findings = {}, discarded = {} })
  return { ok = true, summary = "nothing to review: no changes against " .. base }
end

-- The lines of each file's new version that the diff adds or changes.
local changed = {}
do
  local file, line
  for text in (diff .. "\n"):gmatch("([^\n]*)\n") do
    local path = text:match("^%+%+%+ b/(.+)$")
    if path then
      file = path
      changed[file] = changed[file] or {}
    elseif text:match("^%+%+%+ ") then
      file = nil  -- a deletion
    else
      local start = text:match("^@@ %-%d+,?%d* %+(%d+),?%d* @@")
      if start then
        line = tonumber(start)
      elseif file and line then
        local mark = text:sub(1, 1)
        if mark == "+" then
          changed[file][line] = true
          line = line + 1
        elseif mark == " " then
          line = line + 1
        end
      end
    end
  end
end
local files = {}
for f in pairs(changed) do files[#files + 1] = f end
table.sort(files)

-- The reviewer may use the shell for git's history only (log, show, blame, diff).
local function read_only_git(command)
  if command:find("[;&|><`$]") then return false end
  local sub = command:match("^%s*git%s+(%a+)")
  return sub == "log" or sub == "show" or sub == "blame" or sub == "diff"
end
local reviewer = nagent.agent{
  name = "reviewer",
  system = [[
You are nagent, a senior engineer reviewing a change before it is merged. Look for real
problems: bugs, wrong edge cases, missing validation, security issues, broken contracts with
callers, missing tests. Read the code around the change (read_file, search) before you judge.
Do not report style preferences. The shell runs read-only git commands only (git log, show,
blame, diff). Call finish with your findings: for each, the file, the line
in the new version, how severe it is, and why.]],
  tools = { "read_file", "list_dir", "search", "shell", "finish" },
  max_steps = tonumber(args.max_steps) or 25,
  before_tool = function(call)
    if call.name == "shell" and not read_only_git(call.arguments.command or "") then
      return "a review only reads: the shell runs git log, show, blame or diff, without pipes or redirections"
    end
  end,
}

local task = "Review this change (against " .. base .. "):\n\n```diff\n" .. diff .. "\n```"
local investigation = reviewer:run(task)
nagent.log("reviewer: " .. investigation.outcome .. " after " .. investigation.steps .. " steps")

local schema = {
  type = "object",
  required = { "findings" },
  properties = {
    findings = {
      type = "array",
      items = {
        type = "object",
        required = { "file", "line", "severity", "title", "explanation" },
        properties = {
          file = { type = "string" },
          line = { type = "integer", minimum = 1 },
          severity = { enum = { "critical", "major", "minor", "nit" } },
          title = { type = "string" },
          explanation = { type = "string" },
          suggested_patch = { type = "string", description = "a unified diff against the new version" },
        },
      },
    },
  },
}
local answer, err = reviewer:structured(task .. "\n\nYour review notes:\n" .. (investigation.summary or "") ..
  "\n\nList the findings. Lines are line numbers of the new version of the file.", schema)
if not answer then error("review: the model gave no valid findings: " .. err) end

local findings, discarded = {}, {}
for _, f in ipairs(answer.findings) do
  if not changed[f.file] then
    f.discarded_because = f.file .. " is not part of the change"
    discarded[#discarded + 1] = f
  elseif not changed[f.file][f.line] then
    f.discarded_because = f.file .. ":" .. f.line .. " is not a line the change adds or modifies"
    discarded[#discarded + 1] = f
  else
    if f.suggested_patch and f.suggested_patch ~= "" then
      local patch = f.suggested_patch:sub(-1) == "\n" and f.suggested_patch or (f.suggested_patch .. "\n")
      local applies, why = nagent.git_apply(patch, { check = true })
      f.patch_applies = applies == true
      f.patch_problem = why
    end
    findings[#findings + 1] = f
  end
end
local rank = { critical = 1, major = 2, minor = 3, nit = 4 }
table.sort(findings, function(a, b)
  if rank[a.severity] ~= rank[b.severity] then return rank[a.severity] < rank[b.severity] end
  if a.file ~= b.file then return a.file < b.file end
  return a.line < b.line
end)

local blocking = 0
for _, f in ipairs(findings) do
  if f.severity == "critical" or f.severity == "major" then blocking = blocking + 1 end
end

local md = { "# Review", "",
             string.format("%d finding(s) on %d changed file(s) against `%s`; %d blocking.", #findings, #files, base,
                           blocking), "" }
if #findings > 0 then
  md[#md + 1] = "| severity | where | finding |"
  md[#md + 1] = "| --- | --- | --- |"
  for _, f in ipairs(findings) do
    md[#md + 1] = string.format("| %s | `%s:%d` | %s |", f.severity, f.file, f.line, (f.title:gsub("|", "\\|")))
  end
  for _, f in ipairs(findings) do
    md[#md + 1] = ""
    md[#md + 1] = string.format("### %s `%s:%d`: %s", f.severity, f.file, f.line, f.title)
    md[#md + 1] = ""
    md[#md + 1] = f.explanation
    if f.suggested_patch then
      md[#md + 1] = ""
      md[#md + 1] = "Suggested patch" .. (f.patch_applies and " (applies cleanly):" or " (does not apply as is):")
      md[#md + 1] = ""
      md[#md + 1] = "```diff"
      md[#md + 1] = (f.suggested_patch:gsub("\n$", ""))
      md[#md + 1] = "```"
    end
  end
end
if #discarded > 0 then
  md[#md + 1] = ""
  md[#md + 1] = string.format("<details><summary>%d finding(s) outside the change, not shown</summary>", #discarded)
  md[#md + 1] = ""
  for _, f in ipairs(discarded) do md[#md + 1] = "- " .. f.title .. " (" .. f.discarded_because .. ")" end
  md[#md + 1] = "</details>"
end
local md_text = table.concat(md, "\n") .. "\n"
local md_path = nagent.write_report("review.md", md_text)
nagent.write_report("review.json", { base = base, files = files, findings = findings, discarded = discarded,
                                     blocking = blocking })
nagent.print(md_text)
return { ok = blocking == 0, summary = string.format("%d finding(s), %d blocking: %s", #findings, blocking, md_path) }
