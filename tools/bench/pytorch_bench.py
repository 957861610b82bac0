#!/usr/bin/env python3
"""The reference BiLSTM in PyTorch on the CPU, timed on the exact batches nerflow's benchmark exported.

The model is torch_tagger.Tagger, cross-entropy over real tokens (or, with the header's head "crf", the CRF
NLL divided by the real tokens, as nerflow), Adam(lr), timed as packed sequences and as plain padded batches.
Input: the binary file written by train-bench.mjs.
Prints one JSON line: ms per batch, real tokens per second, the BLAS in use.
"""
import json
import os
import sys
import time

import torch
from torch_tagger import Tagger, batch_loss, read_batches, read_header

# torch's intra-op threads; OpenBLAS's come from OPENBLAS_NUM_THREADS (train-bench.mjs runs each configuration)
threads = int(os.environ.get("BENCH_THREADS", "2"))
torch.set_num_threads(threads)
torch.manual_seed(42)

with open(sys.argv[1], "rb") as f:
    header = read_header(f)
    batches = read_batches(f, header["batches"])

V, E, H, K = header["vocab"], header["embedding_dim"], header["lstm_units"], header["tags"]
head = header.get("head", "softmax")


def step(tokens, tags, lengths):
    opt.zero_grad()
    loss = batch_loss(model, tokens, tags, lengths)
    loss.backward()
    opt.step()
    return loss.item()


def run(packed):
    """Time one variant: packed sequences (exact masking) or plain padded batches (fewer, bigger ops)."""
    global model, opt
    torch.manual_seed(42)
    model = Tagger(V, E, H, K, header["dropout"], packed, head=head, names=header["tag_names"] if header.get("crf_constrain") else None, chars=header.get("chars"))
    opt = torch.optim.Adam(model.parameters(), lr=header["learning_rate"])
    warm = header["warmup"]
    for tokens, tags, lengths in batches[:warm]:
        step(tokens, tags, lengths)
    timed = batches[warm:]
    t0 = time.perf_counter()
    c0 = time.process_time()
    real = 0
    for tokens, tags, lengths in timed:
        step(tokens, tags, lengths)
        real += int(lengths.sum())
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - c0
    return {"ms_per_batch": 1000 * elapsed / len(timed), "cpu_ms_per_batch": 1000 * cpu / len(timed), "tokens_per_s": real / elapsed, "batches": len(timed), "seconds": elapsed}


variants = {"packed": run(True), "padded": run(False)}
best = min(variants, key=lambda k: variants[k]["seconds"])
blas = os.path.realpath("/etc/alternatives/libblas.so.3-x86_64-linux-gnu") if os.path.exists("/etc/alternatives/libblas.so.3-x86_64-linux-gnu") else "unknown"
# the faster variant is the one compared against (PyTorch at its best)
print(json.dumps({**variants[best], "variant": best, "head": head, "variants": variants, "threads": threads, "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"), "torch": torch.__version__, "blas": blas}))
