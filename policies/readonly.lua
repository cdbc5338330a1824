-- readonly: research and compliance. Nothing of the host is writable, the workspace
-- included; programs can write only to their private /tmp. No network.
return {
  extends = "default",
  description = "research: workspace read-only, no network, writes only to a private /tmp",
  workspace = "ro",
  git = "ro",
  tmp_size_mb = 256,
  -- Interpreters would otherwise try (and fail) to write caches into the workspace.
  set_env = { PYTHONDONTWRITEBYTECODE = "1" },
  tools = { "read_file", "list_dir", "search", "shell", "finish" },
}
