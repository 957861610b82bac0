#!/usr/bin/env python3
"""The reference BiLSTM in PyTorch, inference only, on the exact batches nerflow's serve benchmark exported,
with nerflow's own trained weights (so both sides are the same model and must agree on the tags).

Weights: nerflow's model folder is Keras' layout (kernels [in, 4H], gates i, f, c, o, one bias);
torch's LSTM is weight_ih [4H, in] with gates i, f, g, o (the same order) and two biases (bias_hh = 0).
Prints one JSON line: sentences/s over the timed passes, and the argmax tags' agreement with nerflow's.
"""
import json
import os
import resource
import sys
import time

import torch
from torch_tagger import Tagger, read_batches, read_header

threads = int(os.environ.get("BENCH_THREADS", "2"))
torch.set_num_threads(threads)

with open(sys.argv[1], "rb") as f:
    header = read_header(f)
    batches = read_batches(f, header["batches"])
model_dir = sys.argv[2]
manifest = json.load(open(os.path.join(model_dir, "model.json")))["weightsManifest"][0]["weights"]
raw = open(os.path.join(model_dir, "weights.bin"), "rb").read()
weights, at = {}, 0
for w in manifest:
    n = 1
    for d in w["shape"]:
        n *= d
    weights[w["name"]] = torch.frombuffer(bytearray(raw[at : at + 4 * n]), dtype=torch.float32).view(*w["shape"])
    at += 4 * n

V, E, H, K = header["vocab"], header["embedding_dim"], header["lstm_units"], header["tags"]
model = Tagger(V, E, H, K, 0.0, packed=True).eval()
with torch.no_grad():
    model.emb.weight.copy_(weights["embedding/embeddings"])
    for d, suffix in (("forward", ""), ("backward", "_reverse")):
        getattr(model.lstm, "weight_ih_l0" + suffix).copy_(weights[f"bidirectional/{d}_lstm/kernel"].t())
        getattr(model.lstm, "weight_hh_l0" + suffix).copy_(weights[f"bidirectional/{d}_lstm/recurrent_kernel"].t())
        getattr(model.lstm, "bias_ih_l0" + suffix).copy_(weights[f"bidirectional/{d}_lstm/bias"])
        getattr(model.lstm, "bias_hh_l0" + suffix).zero_()
    model.out.weight.copy_(weights["time_distributed/kernel"].t())
    model.out.bias.copy_(weights["time_distributed/bias"])


def pass_over():
    preds = []
    for tokens, _tags, lengths in batches:
        probs = torch.softmax(model(tokens, lengths), dim=-1)
        preds.append(probs.argmax(-1))
    return preds


with torch.inference_mode():
    pass_over()  # warm-up
    reps = header["reps"]
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    for _ in range(reps):
        preds = pass_over()
    elapsed = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
# CPU seconds of every thread of the process over the timed passes (a figure the machine's load moves less)
cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)

sentences = sum(int(b[2].shape[0]) for b in batches) * reps
agree = total = 0
for (tokens, tags, lengths), p in zip(batches, preds):
    mask = torch.arange(tokens.shape[1])[None, :] < lengths[:, None]
    agree += int(((p == tags) & mask).sum())  # tags hold nerflow's argmax here
    total += int(mask.sum())
print(json.dumps({"sentences_per_s": sentences / elapsed, "cpu_s_per_1000": cpu / (sentences / 1000), "seconds": elapsed, "sentences": sentences, "agreement": agree / total, "threads": threads, "torch": torch.__version__}))
