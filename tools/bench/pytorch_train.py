#!/usr/bin/env python3
"""The reference BiLSTM in PyTorch trained N full epochs on the batches nerflow's accuracy benchmark wrote
(tools/bench/accuracy.ts), val entity F1 after each epoch by the independent conlleval-rules scorer in
tools/conlleval-check/score.py. Packed sequences, so padding never enters the LSTM (as in nerflow).
Same model as pytorch_bench.py, except that torch's LSTM has no recurrent dropout. Prints one JSON line.
"""
import importlib.util
import json
import os
import struct
import sys
import time

import torch
from torch import nn

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("score", os.path.join(here, "..", "conlleval-check", "score.py"))
score = importlib.util.module_from_spec(spec)
spec.loader.exec_module(score)

torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
torch.manual_seed(42)

with open(sys.argv[1], "rb") as f:
    (hlen,) = struct.unpack("<I", f.read(4))
    header = json.loads(f.read(hlen))

    def read(meta):
        out = []
        for b in meta:
            size, steps = b["size"], b["steps"]
            tokens = torch.frombuffer(bytearray(f.read(4 * size * steps)), dtype=torch.int32).view(size, steps).long()
            tags = torch.frombuffer(bytearray(f.read(4 * size * steps)), dtype=torch.int32).view(size, steps).long()
            lengths = torch.frombuffer(bytearray(f.read(4 * size)), dtype=torch.int32).long()
            out.append((tokens, tags, lengths))
        return out

    epochs = [read(e) for e in header["epochs"]]
    val = read(header["val"])

V, E, H, K = header["vocab"], header["embedding_dim"], header["lstm_units"], header["tags"]
names = header["tag_names"]


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, E, padding_idx=0)
        self.drop = nn.Dropout(header["dropout"])
        self.lstm = nn.LSTM(E, H, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * H, K)

    def forward(self, tokens, lengths):
        x = self.drop(self.emb(tokens))
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        y, _ = self.lstm(packed)
        y, _ = nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=tokens.shape[1])
        return self.out(y)


model = Tagger()
opt = torch.optim.Adam(model.parameters(), lr=header["learning_rate"])
loss_fn = nn.CrossEntropyLoss(ignore_index=-100)


def entity_f1():
    model.eval()
    n_gold = n_pred = n_ok = 0
    with torch.no_grad():
        for tokens, tags, lengths in val:
            pred = model(tokens, lengths).argmax(-1)
            for r in range(tokens.shape[0]):
                n = int(lengths[r])
                g = set(score.chunks([names[i] for i in tags[r, :n].tolist()]))
                p = set(score.chunks([names[i] for i in pred[r, :n].tolist()]))
                n_gold += len(g)
                n_pred += len(p)
                n_ok += len(g & p)
    model.train()
    precision = n_ok / n_pred if n_pred else 0.0
    recall = n_ok / n_gold if n_gold else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


history = []
for e, batches in enumerate(epochs):
    t0 = time.perf_counter()
    for tokens, tags, lengths in batches:
        mask = torch.arange(tokens.shape[1])[None, :] < lengths[:, None]
        target = torch.where(mask, tags, torch.full_like(tags, -100))
        opt.zero_grad()
        loss = loss_fn(model(tokens, lengths).reshape(-1, K), target.reshape(-1))
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - t0
    history.append({"epoch": e + 1, "seconds": seconds, "val_entity_f1": entity_f1()})
    print(f"bench: PyTorch epoch {e + 1}/{len(epochs)}: {seconds:.1f} s, val entity F1 {history[-1]['val_entity_f1']:.4f}", file=sys.stderr, flush=True)
print(json.dumps({"history": history, "torch": torch.__version__}))
