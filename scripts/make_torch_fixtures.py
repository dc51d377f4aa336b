#!/usr/bin/python3
"""Writes the small PyTorch checkpoints of tests/fixtures/torch/ (the suite itself needs no Python).

Run with Debian's torch (apt-get install python3-torch; /usr/bin/python3):
    /usr/bin/python3 scripts/make_torch_fixtures.py

Each checkpoint comes with the tensors the C reader must produce, written
beside it as a .safetensors by a tiny writer here (contiguous bytes straight
from torch), so the test compares the reader against PyTorch's own values:

  state_dict.pt         bare state dict: f32, f16, bf16, f64, int64, int32, bool, a 0-d scalar, an
                        empty tensor, a transposed (non-contiguous) tensor, a strided slice, two tensors
                        sharing one storage at different offsets, an nn.Parameter (_rebuild_parameter)
  deflated.pt           state_dict.pt re-zipped with deflate (-> state_dict.safetensors)
  model_save.pt         meshgpt-pytorch's model.save() layout: {'model', 'config' (pickled bytes), 'version'}
  trainer.pt            a trainer checkpoint: 'model', 'ema_model' (ema-pytorch wrapper state), a real Adam
                        'optimizer' state, 'step', 'version'   (-> trainer_ema / trainer_model .safetensors)
  layernorm_old.pt      x-transformers < 1.31 LayerNorm keys (decoder.layers.N.0.0.weight, final_norm.weight)
  layernorm_new.pt      the same model with >= 1.31.3 keys: gamma = weight - 1 (-> layernorm.safetensors
                        expected from both)
  legacy.pt             the pre-1.6 format (_use_new_zipfile_serialization=False): refused with advice
  evil_global.pt        a pickle that would call os.system (refused; nothing may run)
  oob_storage.pt        state_dict.pt with one storage cut short (a tensor reaches past its storage)
"""
import io
import json
import os
import pickle
import struct
import sys
import zipfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "torch")

DTYPES = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
    torch.int64: "I64", torch.int32: "I32", torch.bool: "BOOL",
}


def tensor_bytes(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name]
        data = tensor_bytes(t)
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def save(path, obj):
    torch.save(obj, path)  # the zip format, pickle protocol 2, as meshgpt-pytorch's save() does


def rezip(src, dst, transform=None, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", compression) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if transform:
                data = transform(info.filename, data)
            zout.writestr(info.filename, data)


def state_dict_fixture():
    g = torch.Generator().manual_seed(7)
    base = torch.randn(4, 6, generator=g)
    shared = torch.arange(12, dtype=torch.float32) * 0.5
    sd = {
        "f32": torch.randn(3, 5, generator=g),
        "f16": torch.randn(2, 3, 4, generator=g).half(),
        "bf16": torch.randn(7, generator=g).bfloat16(),
        "f64": torch.randn(2, 2, generator=g).double(),
        "i64": torch.tensor([2 ** 40, -3, 0, 7]),
        "i32": torch.tensor([[1, -2], [3, 4]], dtype=torch.int32),
        "flag": torch.tensor([True, False, True]),
        "scalar": torch.tensor(3.25),
        "empty": torch.zeros(0, 4),
        "transposed": base.t(),                 # [6, 4], strides (1, 6)
        "strided": base[:, ::2],                # [4, 3], strides (6, 2)
        "shared_a": shared[2:5],                # offset 2 into one storage
        "shared_b": shared[4:12].view(2, 4),    # offset 4 into the same storage
        "param": torch.nn.Parameter(torch.randn(3, generator=g)),
    }
    assert sd["shared_a"].storage().data_ptr() == sd["shared_b"].storage().data_ptr()
    assert not sd["transposed"].is_contiguous() and not sd["strided"].is_contiguous()
    save(os.path.join(OUT, "state_dict.pt"), sd)
    torch.save({"w": sd["f32"]}, os.path.join(OUT, "legacy.pt"), _use_new_zipfile_serialization=False)
    write_safetensors(os.path.join(OUT, "state_dict.safetensors"), sd)
    rezip(os.path.join(OUT, "state_dict.pt"), os.path.join(OUT, "deflated.pt"), compression=zipfile.ZIP_DEFLATED)

    def cut(name, data):
        # the storage behind 'f32' (15 floats): keep 14 of them
        return data[:14 * 4] if name.endswith("/data/0") and len(data) == 15 * 4 else data
    rezip(os.path.join(OUT, "state_dict.pt"), os.path.join(OUT, "oob_storage.pt"), transform=cut)
    return sd


def small_model(seed):
    g = torch.Generator().manual_seed(seed)
    return {
        "token_embed.weight": torch.randn(9, 4, generator=g),
        "decoder.layers.0.1.to_q.weight": torch.randn(4, 4, generator=g),
        "quantizer.layers.0.mask": torch.tensor([2, 1]),
    }


def model_save_fixture():
    sd = small_model(1)
    config = pickle.dumps(((), {"dim": 4, "note": "opaque to the C reader"}))
    save(os.path.join(OUT, "model_save.pt"), {"model": sd, "config": config, "version": "1.7.2"})
    write_safetensors(os.path.join(OUT, "model_save.safetensors"), sd)


def trainer_fixture():
    online = small_model(2)
    ema = small_model(3)
    params = [torch.nn.Parameter(online["token_embed.weight"].clone())]
    opt = torch.optim.Adam(params, lr=1e-4, betas=(0.9, 0.99))
    params[0].sum().backward()
    opt.step()
    ema_state = {"initted": torch.tensor(True), "step": torch.tensor(10)}
    for k, v in ema.items():
        ema_state["ema_model." + k] = v
    for k, v in online.items():
        ema_state["online_model." + k] = v
    save(os.path.join(OUT, "trainer.pt"), {
        "model": online, "ema_model": ema_state,
        "optimizer": {"optimizer": opt.state_dict(), "scheduler": None, "warmup": None},
        "version": "1.7.2", "step": 10, "config": pickle.dumps(((), {"dim": 4})),
    })
    write_safetensors(os.path.join(OUT, "trainer_ema.safetensors"), ema)
    write_safetensors(os.path.join(OUT, "trainer_model.safetensors"), online)


def layernorm_fixture():
    g = torch.Generator().manual_seed(4)
    weights = {
        "decoder.layers.0.0.0": 1.0 + 0.1 * torch.randn(4, generator=g),
        "decoder.layers.3.0.0": 1.0 + 0.1 * torch.randn(4, generator=g),
        "decoder.final_norm": 1.0 + 0.1 * torch.randn(4, generator=g),
        "fine_decoder.layers.0.0.0": 1.0 + 0.1 * torch.randn(4, generator=g),
        "fine_decoder.final_norm": 1.0 + 0.1 * torch.randn(4, generator=g),
    }
    other = {
        # names that look alike but are not the transformer's LayerNorms: kept as they are
        "decoder.layers.1.0.0.to_gamma.weight": torch.randn(4, 3, generator=g),
        "autoencoder.init_encoder_act_and_norm.1.weight": torch.randn(4, generator=g),
        "coarse_gateloop_block.gateloops.0.norm.gamma": torch.randn(4, generator=g),
    }
    old = dict(other)
    new = dict(other)
    for k, w in weights.items():
        old[k + ".weight"] = w
        new[k + ".gamma"] = w - 1  # x-transformers >= 1.31.3 stores gamma and adds 1
    save(os.path.join(OUT, "layernorm_old.pt"), {"model": old, "config": b"", "version": "1.5.5"})
    save(os.path.join(OUT, "layernorm_new.pt"), {"model": new, "config": b"", "version": "1.7.2"})
    write_safetensors(os.path.join(OUT, "layernorm.safetensors"), new)


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/meshgpt-torch-fixture-pwned",))


def evil_fixture():
    save(os.path.join(OUT, "evil_global.pt"), {"model": {"w": torch.ones(2)}, "x": Evil()})


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    state_dict_fixture()
    model_save_fixture()
    trainer_fixture()
    layernorm_fixture()
    evil_fixture()
    # Sanity: PyTorch reads back what it wrote (the evil file is never loaded here).
    for name in ["state_dict.pt", "deflated.pt", "model_save.pt", "trainer.pt", "layernorm_old.pt"]:
        torch.load(os.path.join(OUT, name))
    print("wrote", OUT, file=sys.stderr)


if __name__ == "__main__":
    main()
