"""What both PyTorch benchmark scripts share: the reference BiLSTM and the batch file nerflow writes.

Embedding(V, E, padding_idx=0) -> bidirectional LSTM(E, H) -> Linear(2H, K), dropout on the embeddings.
torch's LSTM has no recurrent dropout, so nerflow's recurrent_dropout has no counterpart here.
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
    """The batches described by meta ([{size, steps}]): tokens, tags [size, steps] and lengths [size], int32 on disk."""
    out = []
    for b in meta:
        size, steps = b["size"], b["steps"]
        tokens = torch.frombuffer(bytearray(f.read(4 * size * steps)), dtype=torch.int32).view(size, steps).long()
        tags = torch.frombuffer(bytearray(f.read(4 * size * steps)), dtype=torch.int32).view(size, steps).long()
        lengths = torch.frombuffer(bytearray(f.read(4 * size)), dtype=torch.int32).long()
        out.append((tokens, tags, lengths))
    return out


class Tagger(nn.Module):
    """packed=True: packed sequences (padding never enters the LSTM, as in nerflow); False: plain padded batches."""

    def __init__(self, V, E, H, K, dropout, packed=True):
        super().__init__()
        self.packed = packed
        self.emb = nn.Embedding(V, E, padding_idx=0)
        self.drop = nn.Dropout(dropout)
        self.lstm = nn.LSTM(E, H, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * H, K)

    def forward(self, tokens, lengths):
        x = self.drop(self.emb(tokens))
        if not self.packed:
            y, _ = self.lstm(x)
            return self.out(y)
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        y, _ = self.lstm(packed)
        y, _ = nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=tokens.shape[1])
        return self.out(y)


def masked_targets(tags, lengths):
    """Tags with padding set to -100, which CrossEntropyLoss(ignore_index=-100) leaves out."""
    mask = torch.arange(tags.shape[1])[None, :] < lengths[:, None]
    return torch.where(mask, tags, torch.full_like(tags, -100))
