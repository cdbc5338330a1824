# The CPU engine's translation units (engine/NAME.cpp) that the standalone builds for the GPU
# machine compile: the model path only (no tokenizer, chat template or HTTP client, which need
# the project's Debian dependencies). Sourced by build_engine_standalone.sh and build_engine_cuda.sh.
engine_cpu_sources=(safetensors model_config model_weights cpu_kernels matmul_avx512 matmul_avx2 matmul_generic
                    matmul_amx nemotronh mamba2 attention mlp moe sampler engine_session language_model
                    random_checkpoint partition rank_threads shard_state)
