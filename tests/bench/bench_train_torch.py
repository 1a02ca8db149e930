"""PyTorch eager twin of tests/bench/bench-train.c: the same CLIP architecture (ViT image tower,
causal text tower pooled at the first EOT, quick_gelu MLPs of 4 x width, pre-LN blocks), the same
symmetric contrastive loss, AdamW (betas 0.9/0.98, eps 1e-6, weight decay 0.2 on tensors with two
or more dimensions), global-norm clipping at 1.0 and the logit_scale clamp, on random data of the
same shapes.  Prints one JSON line with optimizer steps per second.

usage: /usr/bin/python3 tests/bench/bench_train_torch.py [--threads 2] [--batch-size 256] ...
(Debian 12: apt-get install python3-torch python3-numpy)"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class Block(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), QuickGELU(), nn.Linear(4 * width, width))

    def forward(self, x, mask=None):
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class CLIP(nn.Module):
    def __init__(self, a, vocab=258):
        super().__init__()
        grid = a.image_size // a.patch_size
        self.conv1 = nn.Conv2d(3, a.vision_width, a.patch_size, a.patch_size, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(a.vision_width) * a.vision_width ** -0.5)
        self.vpos = nn.Parameter(torch.randn(grid * grid + 1, a.vision_width) * a.vision_width ** -0.5)
        self.ln_pre, self.ln_post = nn.LayerNorm(a.vision_width), nn.LayerNorm(a.vision_width)
        self.vblocks = nn.ModuleList(Block(a.vision_width, a.vision_heads) for _ in range(a.vision_layers))
        self.proj = nn.Parameter(torch.randn(a.vision_width, a.embed_dim) * a.vision_width ** -0.5)
        self.tok = nn.Embedding(vocab, a.text_width)
        self.tpos = nn.Parameter(torch.randn(a.context_length, a.text_width) * 0.01)
        self.tblocks = nn.ModuleList(Block(a.text_width, a.text_heads) for _ in range(a.text_layers))
        self.ln_final = nn.LayerNorm(a.text_width)
        self.text_projection = nn.Parameter(torch.randn(a.text_width, a.embed_dim) * a.text_width ** -0.5)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.register_buffer("mask", torch.full((a.context_length, a.context_length), float("-inf")).triu_(1))

    def encode_image(self, x):
        x = self.conv1(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_embedding.expand(x.shape[0], 1, -1), x], 1) + self.vpos
        x = self.ln_pre(x)
        for block in self.vblocks:
            x = block(x)
        return self.ln_post(x[:, 0]) @ self.proj

    def encode_text(self, ids, eot):
        x = self.tok(ids) + self.tpos
        for block in self.tblocks:
            x = block(x, self.mask)
        x = self.ln_final(x)
        pooled = x[torch.arange(x.shape[0]), (ids == eot).int().argmax(dim=-1)]
        return pooled @ self.text_projection


def clip_loss(image, text, logit_scale):
    image, text = F.normalize(image, dim=-1), F.normalize(text, dim=-1)
    logits = logit_scale.exp() * image @ text.t()
    labels = torch.arange(image.shape[0])
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels))


def main():
    p = argparse.ArgumentParser()
    # defaults: the Fashion-MNIST configuration of README.md, as in bench-train.c
    for name, default in [("image-size", 28), ("patch-size", 7), ("vision-width", 64), ("vision-layers", 3),
                          ("vision-heads", 2), ("text-width", 64), ("text-layers", 1), ("text-heads", 2),
                          ("context-length", 48), ("embed-dim", 64), ("batch-size", 256), ("caption-len", 30),
                          ("steps", 20), ("warmup-steps", 3), ("threads", 2)]:
        p.add_argument("--" + name, type=int, default=default)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    sot, eot = 256, 257

    model = CLIP(a)
    decay = [q for q in model.parameters() if q.ndim >= 2]
    no_decay = [q for q in model.parameters() if q.ndim < 2]
    optim = torch.optim.AdamW([{"params": decay, "weight_decay": 0.2}, {"params": no_decay, "weight_decay": 0.0}],
                              lr=1e-3, betas=(0.9, 0.98), eps=1e-6)

    pixels = torch.rand(a.batch_size, 3, a.image_size, a.image_size) * 4 - 2
    ids = torch.zeros(a.batch_size, a.context_length, dtype=torch.long)
    ids[:, 0] = sot
    ids[:, 1:a.caption_len + 1] = torch.randint(97, 123, (a.batch_size, a.caption_len))
    ids[:, a.caption_len + 1] = eot

    times, loss, cpu_start = [], 0.0, 0.0
    for step in range(a.warmup_steps + a.steps):
        if step == a.warmup_steps:
            cpu_start = time.process_time()
        start = time.perf_counter()
        optim.zero_grad(set_to_none=True)
        out = clip_loss(model.encode_image(pixels), model.encode_text(ids, eot), model.logit_scale)
        out.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optim.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        elapsed = time.perf_counter() - start
        loss = out.item()
        if step >= a.warmup_steps:
            times.append(elapsed)
    total = sum(times)
    cpu_per_step = (time.process_time() - cpu_start) / a.steps
    print(json.dumps({
        "impl": "pytorch-eager " + torch.__version__, "threads": torch.get_num_threads(), "batch": a.batch_size,
        "params": sum(q.numel() for q in model.parameters()), "steps_per_s": a.steps / total,
        "median_ms_per_step": 1000 * sorted(times)[len(times) // 2], "cpu_s_per_step": cpu_per_step, "images_per_s": a.batch_size * a.steps / total,
        "last_loss": loss,
    }))


if __name__ == "__main__":
    main()
