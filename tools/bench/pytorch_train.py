#!/usr/bin/env python3
"""The reference BiLSTM in PyTorch trained N full epochs on the batches nerflow's accuracy benchmark wrote
(tools/bench/accuracy.ts), val entity F1 after each epoch by the independent conlleval-rules scorer in
tools/conlleval-check/score.py. Packed sequences, so padding never enters the LSTM (as in nerflow).
The model is torch_tagger.Tagger (as in pytorch_bench.py). Prints one JSON line.
"""
import importlib.util
import json
import os
import sys
import time

import torch
from torch_tagger import Tagger, batch_loss, read_batches, read_header

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("score", os.path.join(here, "..", "conlleval-check", "score.py"))
score = importlib.util.module_from_spec(spec)
spec.loader.exec_module(score)

torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
torch.manual_seed(42)

with open(sys.argv[1], "rb") as f:
    header = read_header(f)
    epochs = [read_batches(f, e) for e in header["epochs"]]
    val = read_batches(f, header["val"])

V, E, H, K = header["vocab"], header["embedding_dim"], header["lstm_units"], header["tags"]
names = header["tag_names"]
head = header.get("head", "softmax")
model = Tagger(V, E, H, K, header["dropout"], packed=True, head=head, names=names if header.get("crf_constrain") else None)
opt = torch.optim.Adam(model.parameters(), lr=header["learning_rate"])


def entity_f1():
    model.eval()
    n_gold = n_pred = n_ok = 0
    with torch.no_grad():
        for tokens, tags, lengths in val:
            logits = model(tokens, lengths)
            pred = model.crf.decode(logits, lengths) if head == "crf" else logits.argmax(-1)
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
        opt.zero_grad()
        loss = batch_loss(model, tokens, tags, lengths)
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - t0
    history.append({"epoch": e + 1, "seconds": seconds, "val_entity_f1": entity_f1()})
    print(f"bench: PyTorch epoch {e + 1}/{len(epochs)}: {seconds:.1f} s, val entity F1 {history[-1]['val_entity_f1']:.4f}", file=sys.stderr, flush=True)
print(json.dumps({"history": history, "torch": torch.__version__}))
