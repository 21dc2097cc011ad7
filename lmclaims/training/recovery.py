"""Recovery after a layer is perturbed (seed 003 claim 3: "Recovery speed correlates with layer
importance"; digest: "recovery from 50% noise (200 steps for L8/L11)").

Protocol (fixed before running):

* perturb — every 2-D weight of block ``l`` gets Gaussian noise of relative Frobenius norm
  ``noise`` (0.5: ‖ΔW‖_F = 0.5·‖W‖_F, :func:`lmclaims.engine.interventions.manipulated_weight`
  with strategy "noise"), seeded;
* fine-tune — only block ``l``'s parameters (the rest frozen), AdamW at a constant ``lr``, on
  corpus token blocks (``lmclaims.training.data``), ``batch_size`` blocks per step;
* evaluate — PPL = exp(mean token NLL) on fixed evaluation blocks, before perturbation (clean),
  after it (step 0) and every ``eval_every`` steps;
* recovered — the first evaluated step with PPL ≤ (1 + ``tol``)·PPL_clean (tol = 5%); never within
  ``steps``: censored (``steps_to_recover`` None).

The model is restored bit for bit afterwards (weights and ``requires_grad`` flags).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from lmclaims.engine.interventions import manipulated_weight, replaced_parameters
from lmclaims.training.data import batch_iterator
from lmclaims.training.loop import mean_loss
from lmclaims.training.loop import threads as torch_threads


RECIPE_VERSION = 1  # bump when anything here changes the numbers (cache provenance of a recovery run)


@dataclass
class RecoveryResult:
    layer: int
    ppl_clean: float
    ppl_perturbed: float
    eval_steps: list = field(default_factory=list)
    eval_ppl: list = field(default_factory=list)
    train_losses: list = field(default_factory=list)
    steps_to_recover: int | None = None
    seconds: float = 0.0
    settings: dict = field(default_factory=dict)

    @property
    def recovered_fraction(self) -> float:
        """Share of the perturbation's excess log-PPL removed by the end of training."""
        ex0 = math.log(self.ppl_perturbed) - math.log(self.ppl_clean)
        ex1 = math.log(self.eval_ppl[-1]) - math.log(self.ppl_clean)
        return 1.0 - ex1 / ex0 if ex0 > 0 else float("nan")


def recover_layer(model, blocks_list, layer: int, train_blocks: torch.Tensor, eval_blocks: torch.Tensor, *,
                  noise: float = 0.5, steps: int = 16, eval_every: int = 4, lr: float = 5e-4,
                  batch_size: int = 4, tol: float = 0.05, seed: int = 0, threads: int | None = None) -> RecoveryResult:
    """Perturb block ``layer`` of ``model`` (``blocks_list`` = its decoder blocks), fine-tune it,
    and record the recovery curve; the model is left exactly as it was.

    ``threads``: torch intra-op threads while this runs (restored after; None, the default,
    leaves torch's setting). Measured on the idle 2-core machine: SmolLM2-135M fwd+bwd is 1.6x
    faster with 2 threads than with 1; the opposite reading of an earlier session (2 threads
    16x slower) was taken while other jobs loaded the machine to ~8.
    """
    with torch_threads(threads or None):
        return _recover_layer(model, blocks_list, layer, train_blocks, eval_blocks, noise=noise, steps=steps,
                              eval_every=eval_every, lr=lr, batch_size=batch_size, tol=tol, seed=seed)


def _recover_layer(model, blocks_list, layer, train_blocks, eval_blocks, *, noise, steps, eval_every, lr,
                   batch_size, tol, seed):
    block = blocks_list[layer]
    settings = dict(noise=noise, steps=steps, eval_every=eval_every, lr=lr, batch_size=batch_size, tol=tol,
                    seed=seed, block_len=int(train_blocks.shape[1]), trained="block parameters only")
    t0 = time.perf_counter()
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    ppl_clean = math.exp(mean_loss(model, eval_blocks, batch_size=8))
    # every block parameter goes through replaced_parameters so that training cannot leak out:
    # 2-D weights get the noise, the rest (norm gains, biases) are restored as they were
    new = {n: manipulated_weight(p, "noise", noise, seed=seed, name=f"{layer}.{n}") if p.ndim == 2 else p.detach().clone()
           for n, p in block.named_parameters()}
    try:
        with replaced_parameters(block, new):
            for n, p in model.named_parameters():
                p.requires_grad_(False)
            params = list(block.parameters())
            for p in params:
                p.requires_grad_(True)
            ppl0 = math.exp(mean_loss(model, eval_blocks, batch_size=8))
            res = RecoveryResult(layer=layer, ppl_clean=ppl_clean, ppl_perturbed=ppl0, eval_steps=[0],
                                 eval_ppl=[ppl0], settings=settings)
            if ppl0 <= (1 + tol) * ppl_clean:
                res.steps_to_recover = 0
            opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
            it = batch_iterator(train_blocks, batch_size, seed=seed)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                for step in range(1, steps + 1):
                    model.train()
                    batch = next(it)
                    loss = model(input_ids=batch, labels=batch, use_cache=False).loss
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    res.train_losses.append(float(loss.detach()))
                    if step % eval_every == 0 or step == steps:
                        ppl = math.exp(mean_loss(model, eval_blocks, batch_size=8))
                        res.eval_steps.append(step)
                        res.eval_ppl.append(ppl)
                        if res.steps_to_recover is None and ppl <= (1 + tol) * ppl_clean:
                            res.steps_to_recover = step
            model.eval()
    finally:
        for n, p in model.named_parameters():
            p.requires_grad_(flags[n])
            p.grad = None
    res.seconds = time.perf_counter() - t0
    return res
