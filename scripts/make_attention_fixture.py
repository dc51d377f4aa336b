#!/usr/bin/python3
"""Writes tests/fixtures/ae_attention/*.npy: one MeshAutoencoder attention block
(Taylor linear attention, LocalMHA, GEGLU feed-forward) computed with PyTorch
tensor operations from the derivation in docs/ae_attention.md.

This is an independent check of the C reference: the C code loops over
look-around slots one query at a time, while this script builds the padded
windows, the -1 look-around pads and the fill-value masks as whole tensors the
way upstream's formulation does, and lets torch's softmax handle fully masked
rows. Only needed to regenerate the fixture (Debian: apt-get install
python3-torch); the build and the tests never run it.

usage: scripts/make_attention_fixture.py [output folder]
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

BATCH, N, DIM = 2, 150, 64
VALID = (150, 20)  # rows >= 84 of the second sequence see only pad faces
LOCAL_HEADS, LOCAL_DIM_HEAD, WINDOW = 8, 32, 64
LINEAR_HEADS, LINEAR_DIM_HEAD = 16, 8


def rms_norm(x, gain):
    return F.normalize(x, dim=-1) * math.sqrt(x.shape[-1]) * gain


def taylor_features(z):
    # [1, z, vec(z z^T) / sqrt 2]
    ones = torch.ones(*z.shape[:-1], 1, dtype=z.dtype)
    outer = (z.unsqueeze(-1) * z.unsqueeze(-2)).flatten(-2) * (0.5 ** 0.5)
    return torch.cat((ones, z, outer), dim=-1)


def linear_attention(x, mask, w):
    b, n, _ = x.shape
    h, d = LINEAR_HEADS, LINEAR_DIM_HEAD
    normed = rms_norm(x, w["0.norm.gamma"])
    q = (normed @ w["0.to_q.0.weight"].T).view(b, n, h, d).transpose(1, 2)
    kv = normed @ w["0.to_kv.0.weight"].T
    k = kv[..., : h * d].reshape(b, n, h, d).transpose(1, 2)
    v = kv[..., h * d:].reshape(b, n, h, d).transpose(1, 2)
    q = q * d ** -0.5
    phi_q, phi_k = taylor_features(q), taylor_features(k)
    keep = mask[:, None, :, None]
    phi_k = phi_k.masked_fill(~keep, 0.0)
    v = v.masked_fill(~keep, 0.0)
    summary = phi_k.transpose(-1, -2) @ v                 # [b, h, F, d]
    den = (phi_q * phi_k.sum(dim=-2, keepdim=True)).sum(-1)  # [b, h, n]
    out = (phi_q @ summary) / den.clamp(min=1e-5).unsqueeze(-1)
    out = out.transpose(1, 2).reshape(b, n, h * d)
    return out @ w["0.to_out.0.weight"].T


def rotate(z, angles):
    half = z.shape[-1] // 2
    cos, sin = angles.cos(), angles.sin()
    cos = torch.cat((cos, cos), dim=-1)
    sin = torch.cat((sin, sin), dim=-1)
    turned = torch.cat((-z[..., half:], z[..., :half]), dim=-1)
    return z * cos + turned * sin


def windows_around(t, pad_value):
    # [bh, windows, W, ...] -> [bh, windows, 3W, ...]: previous, own, next window
    padded = torch.cat((torch.full_like(t[:, :1], pad_value), t, torch.full_like(t[:, :1], pad_value)), dim=1)
    return torch.cat((padded[:, :-2], padded[:, 1:-1], padded[:, 2:]), dim=2)


def local_attention(x, mask, w):
    b, n, _ = x.shape
    h, d, win = LOCAL_HEADS, LOCAL_DIM_HEAD, WINDOW
    normed = F.layer_norm(x, (x.shape[-1],), w["1.norm.weight"], w["1.norm.bias"], eps=1e-5)
    qkv = normed @ w["1.to_qkv.weight"].T
    q, k, v = (qkv[..., i * h * d:(i + 1) * h * d].reshape(b, n, h, d).transpose(1, 2).reshape(b * h, n, d)
               for i in range(3))
    padded_n = -(-n // win) * win
    extra = padded_n - n
    q, k, v = (F.pad(t, (0, 0, 0, extra)) for t in (q, k, v))
    key_mask = F.pad(mask, (0, extra), value=False).repeat_interleave(h, dim=0)
    windows = padded_n // win
    bq = q.view(b * h, windows, win, d) * d ** -0.5
    bk = windows_around(k.view(b * h, windows, win, d), -1.0)
    bv = windows_around(v.view(b * h, windows, win, d), -1.0)
    positions = torch.arange(padded_n).view(1, windows, win)
    key_positions = windows_around(positions, -1)
    key_visible = windows_around(key_mask.view(b * h, windows, win), False)

    inv_freq = w["1.attn_fn.rel_pos.inv_freq"]
    angles = torch.arange(3 * win, dtype=torch.float32)[:, None] * inv_freq[None, :]
    bk = rotate(bk, angles)
    bq = rotate(bq, angles[-win:])

    scores = bq @ bk.transpose(-1, -2)
    fill = -torch.finfo(scores.dtype).max
    tq = positions.unsqueeze(-1)
    tk = key_positions.unsqueeze(-2)
    hidden = (tk - win > tq) | (tq > tk + win) | (tk == -1)
    scores = scores.masked_fill(hidden, fill)
    scores = scores.masked_fill(~key_visible.unsqueeze(-2), fill)
    out = scores.softmax(dim=-1) @ bv
    out = out.view(b, h, padded_n, d)[:, :, :n].transpose(1, 2).reshape(b, n, h * d)
    return out @ w["1.to_out.weight"].T


def feed_forward(x, w):
    normed = rms_norm(x, w["2.0.g"])
    up = normed @ w["2.1.ff.0.proj.weight"].T + w["2.1.ff.0.proj.bias"]
    value, gate = up.chunk(2, dim=-1)
    hidden = value * F.gelu(gate)
    return hidden @ w["2.1.ff.2.weight"].T + w["2.1.ff.2.bias"]


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "ae_attention")
    os.makedirs(out_dir, exist_ok=True)
    gen = torch.Generator().manual_seed(1234)

    def uniform(shape, lo, hi):
        return torch.rand(shape, generator=gen) * (hi - lo) + lo

    a = DIM ** -0.5
    lin, loc = LINEAR_HEADS * LINEAR_DIM_HEAD, LOCAL_HEADS * LOCAL_DIM_HEAD
    w = {
        "0.norm.gamma": uniform((DIM,), 0.8, 1.2),
        "0.to_q.0.weight": uniform((lin, DIM), -a, a),
        "0.to_kv.0.weight": uniform((2 * lin, DIM), -a, a),
        "0.to_out.0.weight": uniform((DIM, lin), -0.1, 0.1),
        "1.norm.weight": uniform((DIM,), 0.8, 1.2),
        "1.norm.bias": uniform((DIM,), -0.1, 0.1),
        "1.to_qkv.weight": uniform((3 * loc, DIM), -a, a),
        "1.attn_fn.rel_pos.inv_freq":
            1.0 / (10000 ** (torch.arange(0, LOCAL_DIM_HEAD, 2).float() / LOCAL_DIM_HEAD)),
        "1.to_out.weight": uniform((DIM, loc), -0.1, 0.1),
        "2.0.g": uniform((DIM,), 0.8, 1.2),
        "2.1.ff.0.proj.weight": uniform((8 * DIM, DIM), -a, a),
        "2.1.ff.0.proj.bias": uniform((8 * DIM,), -0.1, 0.1),
        "2.1.ff.2.weight": uniform((DIM, 4 * DIM), -0.5 * a, 0.5 * a),
        "2.1.ff.2.bias": uniform((DIM,), -0.1, 0.1),
    }
    mask = torch.stack([torch.arange(N) < valid for valid in VALID])
    x = uniform((BATCH, N, DIM), -1.0, 1.0).masked_fill(~mask.unsqueeze(-1), 0.0)

    with torch.no_grad():
        y = linear_attention(x, mask, w) + x
        y = local_attention(y, mask, w) + y
        y = feed_forward(y, w) + y

    np.save(os.path.join(out_dir, "x.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(out_dir, "mask.npy"), mask.numpy())
    np.save(os.path.join(out_dir, "out.npy"), y.numpy().astype(np.float32))
    for name, value in w.items():
        np.save(os.path.join(out_dir, "weight." + name + ".npy"), value.numpy().astype(np.float32))
    print("wrote", out_dir)


if __name__ == "__main__":
    main()
