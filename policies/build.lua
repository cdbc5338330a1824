-- build: coding with room for compilers and large test suites (more processes, memory,
-- CPU time and open files than default).
return {
  extends = "default",
  description = "coding with more processes and memory for compilers and test suites",
  limits = {
    cpu_seconds = 7200,
    address_space_mb = 65536,
    file_size_mb = 8192,
    open_files = 65536,
    processes = 4096,
    memory_mb = 16384,
  },
  tmp_size_mb = 8192,
  env = { "CC", "CXX", "CFLAGS", "CXXFLAGS", "LDFLAGS", "MAKEFLAGS", "CMAKE_GENERATOR" },
}
