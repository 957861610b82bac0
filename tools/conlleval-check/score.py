#!/usr/bin/env python3
"""An independent scorer for predictions.conll (`word gold predicted`, blank line between sentences).

Written from the CoNLL-2000 conlleval.pl rules (not from nerflow's TypeScript): a chunk ends before
B-*, O, or a tag of another type (and at the end of a sentence); a chunk starts at B-X, or at I-X after
O or after another type. A predicted chunk is correct when a gold chunk has the same start, end and type.
Token scores as scikit-learn's classification_report over the tags seen in gold. Prints JSON.
"""
import json
import sys


def split_tag(tag):
    if tag == "O" or "-" not in tag:
        return "O", ""
    prefix, _, kind = tag.partition("-")
    return prefix, kind


def chunks(tags):
    found = []
    start, kind = None, None
    prev_p, prev_k = "O", ""
    for i, tag in enumerate(tags + ["O"]):
        p, k = split_tag(tag)
        ends = start is not None and (p in ("B", "O") or k != prev_k)
        begins = p == "B" or (p == "I" and (prev_p == "O" or k != prev_k))
        if ends:
            found.append((start, i - 1, kind))
            start = None
        if begins and i < len(tags):
            start, kind = i, k
        prev_p, prev_k = p, k
    return found


def main(path):
    sentences, cur = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                if cur:
                    sentences.append(cur)
                cur = []
                continue
            word, gold, pred = line.split(" ")
            cur.append((gold, pred))
    if cur:
        sentences.append(cur)
    n_gold = n_pred = n_ok = 0
    per = {}
    tok = {}
    total = correct = 0
    for s in sentences:
        g = [x[0] for x in s]
        p = [x[1] for x in s]
        gc, pc = set(chunks(g)), set(chunks(p))
        n_gold += len(gc)
        n_pred += len(pc)
        n_ok += len(gc & pc)
        for c in gc:
            per.setdefault(c[2], [0, 0, 0])[0] += 1
        for c in pc:
            per.setdefault(c[2], [0, 0, 0])[1] += 1
        for c in gc & pc:
            per[c[2]][2] += 1
        for a, b in zip(g, p):
            total += 1
            correct += a == b
            tok.setdefault(a, [0, 0, 0])[0] += 1  # support
            tok.setdefault(b, [0, 0, 0])[1] += 1  # predicted
            if a == b:
                tok[a][2] += 1

    def prf(ok, pred, gold):
        pr = ok / pred if pred else 0.0
        rc = ok / gold if gold else 0.0
        return pr, rc, (2 * pr * rc / (pr + rc) if pr + rc else 0.0)

    p, r, f = prf(n_ok, n_pred, n_gold)
    tags = sorted(tok)
    f1s = {t: prf(tok[t][2], tok[t][1], tok[t][0])[2] for t in tags}
    print(json.dumps({
        "entity": {"precision": p, "recall": r, "f1": f, "gold": n_gold, "predicted": n_pred, "correct": n_ok,
                   "per_type": {k: dict(zip(("precision", "recall", "f1"), prf(v[2], v[1], v[0])), support=v[0]) for k, v in per.items()}},
        "token": {"accuracy": correct / total if total else 0.0, "f1": f1s, "tokens": total},
    }))


if __name__ == "__main__":
    main(sys.argv[1])
