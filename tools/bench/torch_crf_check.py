#!/usr/bin/env python3
"""Checks the PyTorch CRF of the benchmark (torch_tagger.CRF) against brute force on tiny inputs: its NLL equals
log Z - score(gold) with Z summed over every tag path, and decode() returns the best path; with IOB2 names, the
-1e4 penalty makes decode() return only valid IOB2 paths. Prints one JSON line; exit 1 on a mismatch."""
import itertools
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_tagger import CRF, allowed_iob2  # noqa: E402

torch.manual_seed(0)
names = ["O", "B-a", "I-a", "B-b", "I-b"]
K = len(names)
trans_ok, first_ok = allowed_iob2(names)
checks = 0
for constrained in (False, True):
    for trial in range(5):
        crf = CRF(K, names if constrained else None)
        with torch.no_grad():
            crf.transitions.normal_(0, 2)
            crf.start.normal_()
            crf.end.normal_()
        e = torch.randn(3, 4, K) * 3
        lengths = torch.tensor([4, 2, 3])
        tags = torch.tensor([[0, 1, 2, 0], [3, 4, 0, 0], [1, 1, 0, 0]])
        tr = crf.transitions + crf.pen_t
        st = crf.start + crf.pen_s

        def score(b, y):
            s = st[y[0]] + e[b, 0, y[0]] + crf.end[y[-1]]
            for t in range(1, len(y)):
                s = s + tr[y[t - 1], y[t]] + e[b, t, y[t]]
            return float(s)

        ref = 0.0
        decoded = crf.decode(e, lengths)
        for b in range(3):
            n = int(lengths[b])
            paths = list(itertools.product(range(K), repeat=n))
            scores = [score(b, y) for y in paths]
            top = max(scores)
            ref += top + math.log(sum(math.exp(s - top) for s in scores)) - score(b, tags[b, :n].tolist())
            best = paths[scores.index(top)]
            got = tuple(decoded[b, :n].tolist())
            if got != best:
                print(json.dumps({"ok": False, "what": "decode", "got": got, "best": best}))
                sys.exit(1)
            if constrained and (not first_ok[got[0]] or any(not trans_ok[got[t - 1], got[t]] for t in range(1, n))):
                print(json.dumps({"ok": False, "what": "invalid IOB2", "got": got}))
                sys.exit(1)
        nll = float(crf.nll(e, tags, lengths))
        if abs(nll - ref) > 1e-4 * abs(ref):
            print(json.dumps({"ok": False, "what": "nll", "got": nll, "expected": ref}))
            sys.exit(1)
        checks += 1
print(json.dumps({"ok": True, "checks": checks, "torch": torch.__version__}))
