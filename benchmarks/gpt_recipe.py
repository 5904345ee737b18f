"""nanoGPT's CPU recipe for Tiny Shakespeare, for numbanet and for PyTorch: the model, the
optimizer and one training step, shared by gpt.py (validation loss) and transformer.py (speed).

    gpt(65, 64, n_layer=4, n_head=4, n_embd=128), dropout 0, batch 12 windows of 64 characters,
    AdamW lr 1e-3, betas (0.9, 0.99), weight decay 0.1 on the weight matrices and embeddings
    only (nanoGPT's two param groups: not on biases and LayerNorm's γ, β), gradients clipped to
    norm 1.0; lr: 100 warm-up iterations, then cosine decay to 1e-4 at iteration 2000.

Each engine is imported inside the functions that need it: a benchmark runs each engine in a
process of its own (harness.py), and importing numbanet sets process-wide thread settings.
"""

import math

VOCAB, BLOCK_SIZE, N_LAYER, N_HEAD, N_EMBD = 65, 64, 4, 4, 128
LR, MIN_LR, WARMUP, DECAY_ITERS = 1e-3, 1e-4, 100, 2000
BETAS, WEIGHT_DECAY, MAX_NORM = (0.9, 0.99), 0.1, 1.0


def lr_at(iteration):
    """nanoGPT's ``get_lr``: linear warm-up over WARMUP iterations, then cosine decay from LR to
    MIN_LR at DECAY_ITERS, MIN_LR after."""
    if iteration < WARMUP:
        return LR * (iteration + 1) / (WARMUP + 1)
    if iteration > DECAY_ITERS:
        return MIN_LR
    ratio = (iteration - WARMUP) / (DECAY_ITERS - WARMUP)
    return MIN_LR + 0.5 * (1 + math.cos(math.pi * ratio)) * (LR - MIN_LR)


def numbanet_trainer(vocab=VOCAB, seed=0):
    """(model, step): numbanet's ``gpt`` and ``step(x, y, lr) -> loss`` (forward, cross-entropy,
    backward, clipping, AdamW with weight decay on the weights only)."""
    import numbanet as nn

    nn.seed(seed)
    model = nn.models.gpt(vocab, BLOCK_SIZE, N_LAYER, N_HEAD, N_EMBD)
    opt = nn.optim.AdamW(
        model, lr=LR, betas=BETAS, weight_decay=WEIGHT_DECAY, decay_weights_only=True
    )
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y, lr=LR):
        opt.lr = lr
        loss = loss_fn(model.forward(x), y)
        model.backward(loss_fn.backward(), need_dx=False)
        nn.clip_grad_norm(model, MAX_NORM)
        opt.step()
        return loss

    return model, step


def torch_model(vocab=VOCAB, attention="mha", seed=0):
    """The same GPT in PyTorch: ``attention="mha"`` builds its blocks from
    ``torch.nn.TransformerEncoderLayer`` (norm_first, GELU, a causal mask: the model numbanet's
    ``gpt`` mirrors), ``"sdpa"`` from nanoGPT's block (one Linear to q, k, v, then
    ``scaled_dot_product_attention(is_causal=True)``). nanoGPT's initialisation."""
    import torch
    from torch import nn as tnn
    from torch.nn import functional as F

    torch.manual_seed(seed)

    class CausalLayer(tnn.TransformerEncoderLayer):
        def forward(self, x):
            mask = tnn.Transformer.generate_square_subsequent_mask(x.shape[1])
            return super().forward(x, src_mask=mask, is_causal=True)

    class NanoBlock(tnn.Module):
        def __init__(self):
            super().__init__()
            self.norm1, self.norm2 = tnn.LayerNorm(N_EMBD), tnn.LayerNorm(N_EMBD)
            self.qkv, self.out_proj = tnn.Linear(N_EMBD, 3 * N_EMBD), tnn.Linear(N_EMBD, N_EMBD)
            self.linear1 = tnn.Linear(N_EMBD, 4 * N_EMBD)
            self.linear2 = tnn.Linear(4 * N_EMBD, N_EMBD)

        def forward(self, x):
            n, t, e = x.shape
            q, k, v = self.qkv(self.norm1(x)).split(e, dim=2)
            q, k, v = (a.view(n, t, N_HEAD, e // N_HEAD).transpose(1, 2) for a in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.out_proj(y.transpose(1, 2).reshape(n, t, e))
            return x + self.linear2(F.gelu(self.linear1(self.norm2(x))))

    def block():
        if attention == "sdpa":
            return NanoBlock()
        return CausalLayer(N_EMBD, N_HEAD, 4 * N_EMBD, 0.0, "gelu", batch_first=True,
                           norm_first=True)  # fmt: skip

    class GPT(tnn.Module):
        def __init__(self):
            super().__init__()
            self.wte = tnn.Embedding(vocab, N_EMBD)
            self.wpe = tnn.Parameter(torch.zeros(BLOCK_SIZE, N_EMBD))
            self.blocks = tnn.ModuleList(block() for _ in range(N_LAYER))
            self.norm, self.head = tnn.LayerNorm(N_EMBD), tnn.Linear(N_EMBD, vocab)

        def forward(self, ids):
            x = self.wte(ids) + self.wpe[: ids.shape[1]]
            for layer in self.blocks:
                x = layer(x)
            return self.head(self.norm(x))

    model = GPT()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() == 2:
                residual = name.endswith(("out_proj.weight", "linear2.weight"))
                param.normal_(0, 0.02 / math.sqrt(2 * N_LAYER) if residual else 0.02)
            elif "norm" not in name:
                param.zero_()
    return model


def torch_trainer(vocab=VOCAB, attention="mha", seed=0):
    """(model, step) as ``numbanet_trainer``, in PyTorch (``torch_model``)."""
    import torch
    from torch.nn import functional as F

    model = torch_model(vocab, attention, seed)
    params = list(model.parameters())
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": WEIGHT_DECAY},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=LR, betas=BETAS)

    def step(x, y, lr=LR):
        for group in opt.param_groups:
            group["lr"] = lr
        logits = model(x)
        loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, MAX_NORM)
        opt.step()
        return loss.item()

    return model, step
