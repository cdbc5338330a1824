-- default: coding. The workspace is writable (its .git read-only), nothing else of the
-- host is writable, no network. docs/sandbox.md describes every key.
return {
  description = "coding: workspace read-write (.git read-only), no network",
  workspace = "rw",
  git = "ro",
  network = "none",
  -- Toolchains on the host PATH outside /usr (pyenv, nvm, cargo, ...) are bound read-only
  -- at their own paths, so `python3` inside is the `python3` outside.
  toolchains = true,
  binds = {
    "/usr",
    -- With merged /usr these are symlinks into /usr and are recreated as symlinks.
    { "/bin", optional = true },
    { "/sbin", optional = true },
    { "/lib", optional = true },
    { "/lib32", optional = true },
    { "/lib64", optional = true },
    { "/libx32", optional = true },
    -- Only the /etc files programs need: no shadow, no ssh keys, no machine secrets.
    { "/etc/alternatives", optional = true },
    { "/etc/ld.so.cache", optional = true },
    { "/etc/ld.so.conf", optional = true },
    { "/etc/ld.so.conf.d", optional = true },
    { "/etc/passwd", optional = true },
    { "/etc/group", optional = true },
    { "/etc/nsswitch.conf", optional = true },
    { "/etc/hosts", optional = true },
    { "/etc/localtime", optional = true },
    { "/etc/protocols", optional = true },
    { "/etc/services", optional = true },
    { "/etc/mime.types", optional = true },
    { "/etc/ssl", optional = true },
    { "/etc/ca-certificates", optional = true },
    { "/etc/gitconfig", optional = true },
    -- rustup keeps its toolchains beside ~/.cargo.
    { "~/.rustup", optional = true },
  },
  seccomp = "default",
  limits = {
    cpu_seconds = 900,
    address_space_mb = 16384,
    file_size_mb = 1024,
    open_files = 4096,
    processes = 256,
    memory_mb = 4096,
  },
  tmp_size_mb = 1024,
  env = {},
  -- No .pyc files: Python trusts a cached .pyc when the source's size and mtime (in whole
  -- seconds) are unchanged, so a same-length edit made within a second of a test run would
  -- run the stale bytecode. (It also keeps __pycache__ out of the workspace and its diff.)
  set_env = { PYTHONDONTWRITEBYTECODE = "1" },
  tools = {},
}
