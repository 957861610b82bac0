#!/usr/bin/env python3
"""The reference BiLSTM in PyTorch on the CPU, timed on the exact batches nerflow's benchmark exported.

Embedding(V, E, padding_idx=0) -> bidirectional LSTM(E, H) over packed sequences -> Linear(2H, K),
cross-entropy over real tokens, Adam(lr). Input: the binary file written by train-bench.mjs.
Prints one JSON line: ms per batch, real tokens per second, the BLAS in use.
"""
import json
import os
import struct
import sys
import time

import torch
from torch import nn

threads = int(os.environ.get("BENCH_THREADS", "2"))
torch.set_num_threads(threads)
torch.manual_seed(42)

with open(sys.argv[1], "rb") as f:
    (hlen,) = struct.unpack("<I", f.read(4))
    header = json.loads(f.read(hlen))
    batches = []
    for b in header["batches"]:
        size, steps = b["size"], b["steps"]
        tokens = torch.frombuffer(bytearray(f.read(4 * size * steps)), dtype=torch.int32).view(size, steps).long()
        tags = torch.frombuffer(bytearray(f.read(4 * size * steps)), dtype=torch.int32).view(size, steps).long()
        lengths = torch.frombuffer(bytearray(f.read(4 * size)), dtype=torch.int32).long()
        batches.append((tokens, tags, lengths))

V, E, H, K = header["vocab"], header["embedding_dim"], header["lstm_units"], header["tags"]


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, E, padding_idx=0)
        self.drop = nn.Dropout(header["dropout"])
        self.lstm = nn.LSTM(E, H, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * H, K)

    def forward(self, tokens, lengths):
        x = self.drop(self.emb(tokens))
        if not PACKED:
            # bucketed batches are padded only to their own longest row: run the LSTM over the padding
            y, _ = self.lstm(x)
            return self.out(y)
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        y, _ = self.lstm(packed)
        y, _ = nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=tokens.shape[1])
        return self.out(y)


loss_fn = nn.CrossEntropyLoss(ignore_index=-100)


def step(tokens, tags, lengths):
    mask = torch.arange(tokens.shape[1])[None, :] < lengths[:, None]
    target = torch.where(mask, tags, torch.full_like(tags, -100))
    opt.zero_grad()
    logits = model(tokens, lengths)
    loss = loss_fn(logits.reshape(-1, K), target.reshape(-1))
    loss.backward()
    opt.step()
    return loss.item()


def run(packed):
    """Time one variant: packed sequences (exact masking) or plain padded batches (fewer, bigger ops)."""
    global PACKED, model, opt
    PACKED = packed
    torch.manual_seed(42)
    model = Tagger()
    opt = torch.optim.Adam(model.parameters(), lr=header["learning_rate"])
    warm = header["warmup"]
    for tokens, tags, lengths in batches[:warm]:
        step(tokens, tags, lengths)
    timed = batches[warm:]
    t0 = time.perf_counter()
    real = 0
    for tokens, tags, lengths in timed:
        step(tokens, tags, lengths)
        real += int(lengths.sum())
    elapsed = time.perf_counter() - t0
    return {"ms_per_batch": 1000 * elapsed / len(timed), "tokens_per_s": real / elapsed, "batches": len(timed), "seconds": elapsed}


variants = {"packed": run(True), "padded": run(False)}
best = min(variants, key=lambda k: variants[k]["seconds"])
blas = os.path.realpath("/etc/alternatives/libblas.so.3-x86_64-linux-gnu") if os.path.exists("/etc/alternatives/libblas.so.3-x86_64-linux-gnu") else "unknown"
# the faster variant is the one compared against (PyTorch at its best)
print(json.dumps({**variants[best], "variant": best, "variants": variants, "threads": threads, "torch": torch.__version__, "blas": blas}))
