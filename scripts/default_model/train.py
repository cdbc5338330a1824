#!/usr/bin/env python3
"""Trains nagent's embedded default model on the GPU machine (PyTorch + transformers' NemotronH).

1. A byte-level BPE tokenizer (Hugging Face `tokenizers`, the same pre-tokenizer layout as the
   Qwen/Nemotron tokenizers nagent's own tokenizer reads) is trained on the episode corpus, with
   the chat special tokens as single tokens.
2. A small NemotronH (every block type: Mamba-2, attention, dense ReLU² MLP, MoE with a shared
   expert) is trained with next-token loss on the assistant turns only, for a wall-clock budget,
   resuming from a checkpoint when one is given.
3. The result is saved as a Hugging Face model directory (config, safetensors, tokenizer), with
   reference logits of transformers itself on one held-out sequence (the parity fixture that
   nagent's CPU engine is tested against) and the loss curve.

usage: train.py --corpus DIR (train.jsonl.gz, heldout.jsonl.gz from episodes.py) --out OUTDIR
                [--resume DIR (an earlier OUTDIR, or a model directory)] [--budget-s 420]
"""
import argparse
import concurrent.futures
import gzip
import json
import math
import multiprocessing
import os
import random
import sys
import time
import types

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
from safetensors.torch import save_file
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "engine_reference"))
import nemotronh_ref as ref  # noqa: E402
from fast_nemotronh import FastNemotronH  # noqa: E402
import rename  # noqa: E402

SPECIAL = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>", "<think>", "</think>", "<tool_call>",
           "</tool_call>", "<tool_response>", "</tool_response>"]
# The Qwen2/Nemotron pre-tokenizer split (digits one by one, letters with an optional leading
# non-letter, punctuation runs, newline runs, other whitespace).
SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
         r"|\s+(?!\S)|\s+")

CONFIG = {
    "architectures": ["NemotronHForCausalLM"],
    "model_type": "nemotron_h",
    "vocab_size": 4096,
    "hidden_size": 320,
    "tie_word_embeddings": False,
    "num_attention_heads": 10,
    "num_key_value_heads": 2,
    "head_dim": 32,
    "attention_bias": False,
    "attention_dropout": 0.0,
    "max_position_embeddings": 16384,
    "intermediate_size": 960,
    "mlp_hidden_act": "relu2",
    "mlp_bias": False,
    "use_mamba_kernels": False,
    "ssm_state_size": 32,
    "mamba_num_heads": 20,
    "mamba_head_dim": 32,
    "mamba_hidden_act": "silu",
    "n_groups": 2,
    "conv_kernel": 4,
    "expand": 2,
    "chunk_size": 128,
    "time_step_min": 0.001,
    "time_step_max": 0.1,
    "time_step_floor": 0.0001,
    "time_step_limit": [0.0, float("inf")],
    "use_conv_bias": True,
    "mamba_proj_bias": False,
    "use_bias": False,
    "mamba_ssm_cache_dtype": "float32",
    "n_routed_experts": 8,
    "n_shared_experts": 1,
    "moe_intermediate_size": 256,
    "moe_shared_expert_intermediate_size": 512,
    "moe_latent_size": None,
    "num_experts_per_tok": 2,
    "routed_scaling_factor": 1.0,
    "n_group": 1,
    "topk_group": 1,
    "norm_topk_prob": True,
    "layer_norm_epsilon": 1e-5,
    "residual_in_fp32": False,
    "rescale_prenorm_residual": True,
    "initializer_range": 0.02,
    # four attention layers: copying names and lines out of the context is most of the job
    "hybrid_override_pattern": "M*M*-*E*M-",
    "num_logits_to_keep": 1,
    "pad_token_id": 0,
    "bos_token_id": 1,
    "eos_token_id": 4,
    "torch_dtype": "bfloat16",
    "use_cache": True,
}


def read_corpus(path):
    with (gzip.open(path, "rt") if path.endswith(".gz") else open(path)) as f:
        return [json.loads(line) for line in f]


def train_tokenizer(texts, vocab_size, out_dir):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "<|im_end|>",
                   "unk_token": "<unk>", "pad_token": "<unk>", "model_max_length": CONFIG["max_position_embeddings"],
                   "add_bos_token": False, "add_eos_token": False, "clean_up_tokenization_spaces": False}, f, indent=1)
    return tok


def encode_sequences(tok, records, max_len):
    out = []
    for r in records:
        ids, mask = [], []
        for text, loss in r["pieces"]:
            e = tok.encode(text, add_special_tokens=False).ids
            ids += e
            mask += [loss] * len(e)
        if len(ids) > max_len or not any(mask):  # a detour's first half has nothing to learn
            continue
        out.append((torch.tensor(ids, dtype=torch.long), torch.tensor(mask, dtype=torch.bool)))
    return out


# Renamed epochs (rename.py) are prepared in worker processes while the GPU trains on the last
# one; each worker reads the corpus and the tokenizer once.
_worker = {}


def _worker_init(corpus_path, tokenizer_path, max_len):
    records = read_corpus(corpus_path)
    _worker.update(records=records, renamer=rename.Renamer(rename.fixed_text_of(records)),
                   tok=Tokenizer.from_file(tokenizer_path), max_len=max_len)


def _renamed_part(seed, part, parts):
    rng = random.Random(seed * 1000003 + part)
    records = [_worker["renamer"].rename(r, rng) for r in _worker["records"][part::parts]]
    return [(ids.numpy().astype(np.int16), m.numpy())
            for ids, m in encode_sequences(_worker["tok"], records, _worker["max_len"])]


class RenamedEpochs:
    """The training set with fresh names for each epoch, one epoch prepared ahead."""

    def __init__(self, corpus_path, tokenizer_path, max_len, seed, workers):
        self.parts, self.seed, self.epoch = workers, seed, 0
        # spawned, not forked: the parent has CUDA initialised and threads running
        self.pool = concurrent.futures.ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_init,
            initargs=(corpus_path, tokenizer_path, max_len))
        self.pending = self._submit()

    def _submit(self):
        self.epoch += 1
        return [self.pool.submit(_renamed_part, self.seed + self.epoch, p, self.parts) for p in range(self.parts)]

    def next(self):
        seqs = [(torch.from_numpy(ids.astype(np.int64)), torch.from_numpy(m))
                for f in self.pending for ids, m in f.result()]
        self.pending = self._submit()
        return seqs


def batches(seqs, tokens_per_batch, rng):
    """Length-bucketed batches of about tokens_per_batch tokens, right-padded (causal: padding
    after a sequence cannot change its earlier positions)."""
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i][0]) + rng.random())
    groups, cur, cur_max = [], [], 0
    for i in order:
        n = len(seqs[i][0])
        if cur and max(cur_max, n) * (len(cur) + 1) > tokens_per_batch:
            groups.append(cur)
            cur, cur_max = [], 0
        cur.append(i)
        cur_max = max(cur_max, n)
    if cur:
        groups.append(cur)
    rng.shuffle(groups)
    for g in groups:
        L = max(len(seqs[i][0]) for i in g)
        L = (L + 127) // 128 * 128  # whole SSD chunks
        ids = torch.zeros(len(g), L, dtype=torch.long)
        mask = torch.zeros(len(g), L, dtype=torch.bool)
        for row, i in enumerate(g):
            n = len(seqs[i][0])
            ids[row, :n] = seqs[i][0]
            mask[row, :n] = seqs[i][1]
        yield ids, mask


def loss_of(model, ids, mask):
    logits = model(ids)[:, :-1].float()
    target = ids[:, 1:]
    m = mask[:, 1:]
    return torch.nn.functional.cross_entropy(logits[m], target[m])


def heldout_loss(model, seqs, tokens_per_batch):
    model.eval()
    losses = []
    with torch.no_grad():
        for ids, mask in batches(seqs, tokens_per_batch, random.Random(1)):
            with torch.autocast("cuda", dtype=torch.bfloat16):
                losses.append(loss_of(model, ids.cuda(), mask.cuda()).item())
    return sum(losses) / max(1, len(losses))


def parity(hf, fast):
    """Max relative error of the fast model's logits against transformers', fp32, on random ids
    long enough for several SSD chunks; refuses to train a model that computes something else."""
    torch.backends.cuda.matmul.allow_tf32 = False
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, CONFIG["vocab_size"], (2, 3 * CONFIG["chunk_size"]), generator=g).cuda()
    hf.eval(), fast.eval()
    with torch.no_grad():
        want = hf(input_ids=ids).logits.float()
        got = fast(ids).float()
    err = ((got - want).abs().max() / want.abs().max()).item()
    if not err < 1e-4:
        raise SystemExit(f"fast_nemotronh differs from transformers: max rel error {err:.2e}")
    return err


def copy_batch(gen, rows, length):
    """Auxiliary batches that teach copying (induction): random token spans that recur later in
    the row; the loss is on the recurrences after their first token. The episodes alone were too
    few for a small model to learn to copy names and lines instead of memorising them."""
    ids = torch.randint(len(SPECIAL), CONFIG["vocab_size"], (rows, length), generator=gen)
    mask = torch.zeros(rows, length, dtype=torch.bool)
    for r in range(rows):
        pos = 0
        while True:
            n = int(torch.randint(8, 160, (1,), generator=gen))
            gap = int(torch.randint(0, 200, (1,), generator=gen))
            if pos + 2 * n + gap > length:
                break
            ids[r, pos + n + gap:pos + 2 * n + gap] = ids[r, pos:pos + n]
            mask[r, pos + n + gap + 1:pos + 2 * n + gap] = True
            pos += 2 * n + gap
    return ids, mask


def resume_state(directory):
    """{"model": fp32 state dict, "step"} from an earlier run: its checkpoint.pt (fp32), or else the
    shipped weights in `directory` (bf16 safetensors; the step from its train_log.jsonl)."""
    path = os.path.join(directory, "checkpoint.pt")
    if os.path.exists(path):
        return torch.load(path, map_location="cpu")
    from safetensors.torch import load_file
    hub = {}
    for name in sorted(os.listdir(directory)):
        if name.endswith(".safetensors"):
            hub.update(load_file(os.path.join(directory, name)))
    if not hub:
        raise SystemExit(f"--resume {directory}: neither checkpoint.pt nor *.safetensors there")
    step = 0
    log = os.path.join(directory, "train_log.jsonl")
    if os.path.exists(log):
        with open(log) as f:
            step = max([json.loads(line).get("step", 0) for line in f if line.strip()] or [0])
    print(f"resuming from the bf16 weights in {directory} (step {step})", flush=True)
    return {"model": {k: v.float() for k, v in ref.hf_state_dict(hub).items()}, "step": step}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--resume", default=None)
    ap.add_argument("--rename-workers", type=int, default=max(1, min(8, (os.cpu_count() or 2) - 2)),
                    help="processes preparing the next epoch's renamed episodes (rename.py); 0: no renaming")
    ap.add_argument("--budget-s", type=float, default=420)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--tokens-per-batch", type=int, default=65536)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--copy-share", type=float, default=0.3,
                    help="share of steps on the auxiliary copying batches (copy_batch)")
    a = ap.parse_args()
    t_start = time.time()
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    model_dir = os.path.join(a.out, "model")
    os.makedirs(model_dir, exist_ok=True)

    train = read_corpus(os.path.join(a.corpus, "train.jsonl.gz"))
    held = read_corpus(os.path.join(a.corpus, "heldout.jsonl.gz"))
    if a.resume and os.path.exists(os.path.join(a.resume, "tokenizer.json")):
        tok = Tokenizer.from_file(os.path.join(a.resume, "tokenizer.json"))
        for name in ("tokenizer.json", "tokenizer_config.json"):
            with open(os.path.join(a.resume, name)) as src, open(os.path.join(model_dir, name), "w") as dst:
                dst.write(src.read())
    else:
        texts = [t for r in train for t, _ in r["pieces"]]
        tok = train_tokenizer(texts, CONFIG["vocab_size"], model_dir)
    print(f"tokenizer: {tok.get_vocab_size()} tokens ({time.time() - t_start:.0f} s)", flush=True)
    assert tok.get_vocab_size() <= CONFIG["vocab_size"]
    for i, s in enumerate(SPECIAL):
        assert tok.token_to_id(s) == i, s

    # what Hugging Face tokenizers makes of held-out text, for nagent's tokenizer test
    checks = [t for r in held[:8] for t, _ in r["pieces"]]
    checks += ["naïve café 東京 🙂 \t\t  x\r\n", "    return a  +  b\n\n\n", "<tool_call></tool_call><|im_end|>"]
    with open(os.path.join(a.out, "tokenizer_check.json"), "w") as f:
        json.dump([{"text": t, "ids": tok.encode(t, add_special_tokens=False).ids} for t in checks], f)

    # the workers prepare the first renamed epoch while the model is set up
    renamed = None
    if a.rename_workers:
        renamed = RenamedEpochs(os.path.join(a.corpus, "train.jsonl.gz"), os.path.join(model_dir, "tokenizer.json"),
                                CONFIG["max_position_embeddings"], a.seed, a.rename_workers)
    # with renaming every epoch comes from the workers: encoding the recorded names here too
    # would only delay the start
    train_seqs = [] if a.rename_workers else encode_sequences(tok, train, CONFIG["max_position_embeddings"])
    held_seqs = encode_sequences(tok, held, CONFIG["max_position_embeddings"])
    print(f"train: {len(train)} records; heldout: {len(held_seqs)} sequences", flush=True)

    from transformers import NemotronHConfig, NemotronHForCausalLM
    hf = NemotronHForCausalLM(NemotronHConfig(**CONFIG))  # its initialisation is the one to train from
    # train what nagent's engine computes by default: dt clamped to time_step_limit (0, inf), as
    # NVIDIA's kernels and vLLM do (transformers' prefill path would clamp at time_step_min)
    ref.set_dt_floor(hf, 0.0)
    model = FastNemotronH(types.SimpleNamespace(**CONFIG))
    model.load_state_dict(hf.state_dict(), strict=True)
    step = 0
    if a.resume:
        # into both: the parity check below then compares the two on the weights being trained
        state = resume_state(a.resume)
        model.load_state_dict(state["model"])
        hf.load_state_dict(state["model"], strict=True)
        step = state["step"]
    hf, model = hf.cuda(), model.cuda()
    print(f"parity with transformers (fp32, random ids): max rel error {parity(hf, model):.2e}", flush=True)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params / 1e6:.2f} M parameters, pattern {CONFIG['hybrid_override_pattern']}", flush=True)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.95), weight_decay=0.05)

    log = open(os.path.join(a.out, "train_log.jsonl"), "a")
    budget_end = t_start + a.budget_s
    warmup = 100 if not a.resume else 30  # a fresh optimizer: no full-size first steps
    seen = 0
    epoch = 0
    t_train = time.time()
    done = False
    copy_gen = torch.Generator().manual_seed(a.seed + 1)
    while not done:
        epoch += 1
        if renamed:
            t0 = time.time()
            train_seqs = renamed.next()
            print(f"epoch {epoch}: {len(train_seqs)} renamed sequences, {sum(len(s[0]) for s in train_seqs)} tokens "
                  f"({sum(int(s[1].sum()) for s in train_seqs)} with loss; waited {time.time() - t0:.1f} s)", flush=True)
        model.train()
        for ids, mask in batches(train_seqs, a.tokens_per_batch, rng):
            copying = rng.random() < a.copy_share
            if copying:
                ids, mask = copy_batch(copy_gen, a.tokens_per_batch // 1024, 1024)
            # cosine decay over the time budget (the step count is not known in advance)
            frac = min(1.0, (time.time() - t_train) / max(1.0, budget_end - t_train))
            lr = a.lr * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
            for g in opt.param_groups:
                g["lr"] = lr
            ids, mask = ids.cuda(non_blocking=True), mask.cuda(non_blocking=True)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                loss = loss_of(model, ids, mask)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            seen += ids.numel()
            if step % 20 == 0:
                rec = {"step": step, "epoch": epoch, "loss": round(loss.item(), 4), "copying": copying, "lr": lr,
                       "tokens": seen, "elapsed_s": round(time.time() - t_start, 1),
                       "tokens_per_s": round(seen / (time.time() - t_train))}
                if step % 200 == 0:
                    rec["heldout_loss"] = round(heldout_loss(model, held_seqs[:64], a.tokens_per_batch), 4)
                    model.train()
                log.write(json.dumps(rec) + "\n")
                log.flush()
                print(rec, flush=True)
            if time.time() > budget_end:
                done = True
                break

    held_loss = heldout_loss(model, held_seqs[:200], a.tokens_per_batch)
    log.write(json.dumps({"step": step, "heldout_loss": round(held_loss, 4),
                          "train_tokens_per_s": round(seen / (time.time() - t_train))}) + "\n")
    log.close()
    print(f"heldout loss {held_loss:.4f}; {seen / (time.time() - t_train):.0f} train tokens/s", flush=True)

    # fp32 weights to resume from (the optimizer starts afresh: its state would triple the size)
    torch.save({"model": model.state_dict(), "step": step}, os.path.join(a.out, "checkpoint.pt"))
    # the shipped weights: the released checkpoints' layout, bf16 (router bias fp32), two shards
    hub = ref.stored(ref.hub_state_dict({k: v.detach().float().cpu() for k, v in model.state_dict().items()}),
                     torch.bfloat16)
    ref.write_checkpoint(model_dir, CONFIG, hub, shards=2)

    # parity fixture: transformers' fp32 logits over the shipped (bf16-rounded) weights
    torch.backends.cuda.matmul.allow_tf32 = False
    hf.load_state_dict({k: v.float() for k, v in ref.hf_state_dict(hub).items()})
    hf = hf.float().eval()
    ids = held_seqs[0][0][:96].unsqueeze(0).cuda()
    with torch.no_grad():
        logits = hf(input_ids=ids).logits[0].float().cpu()
    save_file({"prompt_ids": ids[0].cpu(), "prefill_logits": logits.contiguous()},
              os.path.join(a.out, "reference.safetensors"))
    print(f"done in {time.time() - t_start:.0f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
