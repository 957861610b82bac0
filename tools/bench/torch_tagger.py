"""What the PyTorch benchmark scripts share: the reference BiLSTM, its training loss and the batch file nerflow writes.

Embedding(V, E, padding_idx=0) -> bidirectional LSTM(E, H) -> Linear(2H, K), dropout on the embeddings;
head "softmax" (cross-entropy per token) or "crf" (the linear-chain CRF below, as nerflow's train.head: crf).
torch's LSTM has no recurrent dropout, so nerflow's recurrent_dropout has no counterpart here.
With chars (the header's "chars": {vocab, dim, filters, width}), a char CNN as Ma & Hovy and nerflow's kernel:
Embedding(C, dim, padding_idx=0) -> Conv1d(dim, filters, width, padding width//2) -> max over each word's own
characters, concatenated to the word embedding before the LSTM.
"""
import json
import struct

import torch
from torch import nn


def read_header(f):
    """The JSON header of a batch file: [u32 length][JSON]."""
    (hlen,) = struct.unpack("<I", f.read(4))
    return json.loads(f.read(hlen))


def read_batches(f, meta):
    """The batches described by meta ([{size, steps[, width]}]): tokens, tags [size, steps] and lengths [size], int32 on
    disk; with a width, char ids [size, steps, width] follow, and the tokens come as (tokens, chars)."""
    out = []
    for b in meta:
        size, steps = b["size"], b["steps"]
        tokens = torch.frombuffer(bytearray(f.read(4 * size * steps)), dtype=torch.int32).view(size, steps).long()
        tags = torch.frombuffer(bytearray(f.read(4 * size * steps)), dtype=torch.int32).view(size, steps).long()
        lengths = torch.frombuffer(bytearray(f.read(4 * size)), dtype=torch.int32).long()
        if "width" in b:
            w = b["width"]
            chars = torch.frombuffer(bytearray(f.read(4 * size * steps * w)), dtype=torch.int32).view(size, steps, w).long()
            tokens = (tokens, chars)
        out.append((tokens, tags, lengths))
    return out


class CharCNN(nn.Module):
    """Char embedding -> Conv1d ('same') -> max over each word's characters (padding id 0 never wins)."""

    def __init__(self, C, D, F, width):
        super().__init__()
        self.F = F
        self.emb = nn.Embedding(C, D, padding_idx=0)
        self.conv = nn.Conv1d(D, F, width, padding=width // 2)

    def forward(self, chars):
        B, T, W = chars.shape
        flat = chars.view(B * T, W)
        y = self.conv(self.emb(flat).transpose(1, 2))  # [B*T, F, W]
        y = y.masked_fill((flat == 0)[:, None, :], float("-inf")).amax(dim=2)
        return torch.where(torch.isinf(y), torch.zeros_like(y), y).view(B, T, self.F)


class Tagger(nn.Module):
    """packed=True: packed sequences (padding never enters the LSTM, as in nerflow); False: plain padded batches."""

    def __init__(self, V, E, H, K, dropout, packed=True, head="softmax", names=None, chars=None):
        super().__init__()
        self.packed = packed
        self.crf = CRF(K, names) if head == "crf" else None
        self.emb = nn.Embedding(V, E, padding_idx=0)
        self.chars = CharCNN(chars["vocabSize"], chars["dim"], chars["filters"], chars["width"]) if chars else None
        self.drop = nn.Dropout(dropout)
        self.lstm = nn.LSTM(E + (chars["filters"] if chars else 0), H, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * H, K)

    def forward(self, tokens, lengths):
        if self.chars is not None:
            tokens, chars = tokens
            x = self.drop(torch.cat([self.emb(tokens), self.chars(chars)], dim=2))
        else:
            x = self.drop(self.emb(tokens))
        if not self.packed:
            y, _ = self.lstm(x)
            return self.out(y)
        steps = tokens.shape[1]
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        y, _ = self.lstm(packed)
        y, _ = nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=steps)
        return self.out(y)


def allowed_iob2(names):
    """[K, K] bool: may tag i be followed by tag j in IOB2 (I-X only after B-X or I-X); [K]: may j come first."""
    K = len(names)
    trans = torch.ones(K, K, dtype=torch.bool)
    first = torch.ones(K, dtype=torch.bool)
    for j, b in enumerate(names):
        if b.startswith("I-"):
            first[j] = False
            for i, a in enumerate(names):
                trans[i, j] = a[:2] in ("B-", "I-") and a[2:] == b[2:]
    return trans, first


class CRF(nn.Module):
    """A linear-chain CRF written in PyTorch ops: transitions [K, K] (from, to), start and end [K], zeros at
    first; NLL by the forward algorithm in log space (torch.logsumexp per step, over the whole batch), Viterbi
    decoding. With `names`, IOB2's forbidden moves are ruled out by a -1e4 penalty in training and decoding.
    """

    def __init__(self, K, names=None):
        super().__init__()
        self.transitions = nn.Parameter(torch.zeros(K, K))
        self.start = nn.Parameter(torch.zeros(K))
        self.end = nn.Parameter(torch.zeros(K))
        pen_t, pen_s = torch.zeros(K, K), torch.zeros(K)
        if names is not None:
            trans, first = allowed_iob2(names)
            pen_t[~trans] = -1e4
            pen_s[~first] = -1e4
        self.register_buffer("pen_t", pen_t)
        self.register_buffer("pen_s", pen_s)

    def nll(self, emissions, tags, lengths):
        """Summed negative log-likelihood of the gold paths; emissions [B, T, K], tags [B, T], lengths [B]."""
        B, T, K = emissions.shape
        mask = torch.arange(T)[None, :] < lengths[:, None]
        tr = self.transitions + self.pen_t
        st = self.start + self.pen_s
        tags = tags.clamp(min=0)
        rows = torch.arange(B)
        gold = st[tags[:, 0]] + emissions[rows, 0, tags[:, 0]]
        alpha = st[None, :] + emissions[:, 0]
        for t in range(1, T):
            m = mask[:, t]
            gold = gold + torch.where(m, tr[tags[:, t - 1], tags[:, t]] + emissions[rows, t, tags[:, t]], torch.zeros(()))
            nxt = torch.logsumexp(alpha[:, :, None] + tr[None], dim=1) + emissions[:, t]
            alpha = torch.where(m[:, None], nxt, alpha)
        last = tags[rows, lengths - 1]
        gold = gold + self.end[last]
        return (torch.logsumexp(alpha + self.end[None, :], dim=1) - gold).sum()

    @torch.no_grad()
    def decode(self, emissions, lengths):
        """The best path of each sentence, [B, T] (0 on padding)."""
        B, T, K = emissions.shape
        tr = self.transitions + self.pen_t
        score = self.start + self.pen_s + emissions[:, 0]
        back = []
        for t in range(1, T):
            best, arg = (score[:, :, None] + tr[None]).max(dim=1)
            live = (t < lengths)[:, None]
            score = torch.where(live, best + emissions[:, t], score)
            back.append(torch.where(live, arg, torch.arange(K)[None, :].expand(B, K)))
        y = (score + self.end).argmax(dim=1)
        out = torch.zeros(B, T, dtype=torch.long)
        for t in range(T - 1, -1, -1):
            out[:, t] = y
            if t > 0:
                y = back[t - 1].gather(1, y[:, None])[:, 0]
        return out * (torch.arange(T)[None, :] < lengths[:, None])


def masked_targets(tags, lengths):
    """Tags with padding set to -100, which CrossEntropyLoss(ignore_index=-100) leaves out."""
    mask = torch.arange(tags.shape[1])[None, :] < lengths[:, None]
    return torch.where(mask, tags, torch.full_like(tags, -100))


_cross_entropy = nn.CrossEntropyLoss(ignore_index=-100)


def batch_loss(model, tokens, tags, lengths):
    """The training loss of one batch, as nerflow's: with the CRF head its NLL divided by the real tokens, else the
    mean cross-entropy over the real tokens."""
    logits = model(tokens, lengths)
    if model.crf is not None:
        return model.crf.nll(logits, tags, lengths) / lengths.sum()
    return _cross_entropy(logits.reshape(-1, logits.shape[-1]), masked_targets(tags, lengths).reshape(-1))
