"""K models of one architecture trained as one batched model: stacked parameters, per-member noise.

Members are ordinary :class:`~betavae.models.base.GaussianVAE` modules built one by one, each after
seeding with its own seed, exactly as a single run builds its model (so member k at step 0 *is*
the single run of seed s_k, bit for bit). :class:`Ensemble` stacks their parameters on a leading
K axis (``torch.func.stack_module_state``) and runs all members in one call of
``torch.func.vmap(functional_call)``: every tensor of the forward gains a leading K axis; PyTorch
turns the per-member convolutions into one grouped convolution and the linear layers into batched
matrix products.

Optimising the *sum* of the members' losses with one Adam over the stacked tensors gives member
k exactly the update it would get alone: the gradient of Σ_j L_j with respect to member k's slice
is ∂L_k/∂θ_k (members share nothing), and Adam is elementwise. Only the order of floating-point
sums inside the grouped kernels differs from K separate calls.

Noise: member k draws its ε of the reparameterisation from its own generator (:class:`MemberNoise`)
whose state is the global torch RNG state a single run of seed s_k holds after building its model,
so on fp32 numerics member k sees the very ε sequence of that single run; it never depends on
which other members share the ensemble.

This lives in ``train/`` rather than ``models/``: it is no architecture (nothing is registered,
any registered model can be stacked) but a way of optimising K models at once; the one training
loop (:class:`betavae.train.loop.Loop`) uses it for K > 1 members. The helpers at the end say
which configs may train together (:func:`check_members`, :func:`seed_configs`) and which speed
switches apply to a vmapped ensemble (:func:`ensemble_plan`).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from betavae.config import RunConfig, build_config
from betavae.errors import BetavaeError
from betavae.models.base import GaussianVAE, VAEOutput
from betavae.train.speed import SpeedPlan, plan_for

ENSEMBLE_NOTE = ("ensemble: channels_last, fast_deconv and torch.compile off (vmap runs the members as "
                 "grouped convolutions; the fast transposed-convolution kernels have no vmap rule)")


class Ensemble:
    """K members of one architecture with parameters stacked on a leading K axis.

    ``params`` / ``buffers``: name -> (K, ...) leaf tensors (the optimiser's parameters).
    ``forward(x, eps)``: x (K, B, C, H, W), eps (K, B, D) or None (z = μ) -> K :class:`VAEOutput`.
    """

    def __init__(self, members: Sequence[GaussianVAE]) -> None:
        members = list(members)
        if not members:
            raise BetavaeError("an ensemble needs at least one member")
        names = [list(m.state_dict()) for m in members]
        if any(n != names[0] for n in names):
            raise BetavaeError("ensemble members must share one architecture (their state dict keys differ)")
        self.k = len(members)
        self.params, self.buffers = stack_module_state(members)
        self.keys = names[0]  # state-dict order of a single member
        # a weightless copy to call with the stacked tensors (its own parameters are never used)
        self.base = copy.deepcopy(members[0]).to("meta")
        self.latent_dim = members[0].latent_dim
        self._sampled = vmap(self._member, in_dims=(0, 0, 0))
        self._mean = vmap(self._member, in_dims=(0, 0, None))

    def parameters(self) -> list[torch.Tensor]:
        """The stacked parameters in a single member's ``parameters()`` order."""
        return list(self.params.values())

    def _member(self, tensors: dict[str, torch.Tensor], x: torch.Tensor, eps: torch.Tensor | None) -> tuple:
        out = functional_call(self.base, tensors, (x,), {"sample": eps is not None, "eps": eps})
        return out.mu, out.logvar, out.z, out.logits

    def forward(self, x: torch.Tensor, eps: torch.Tensor | None) -> list[VAEOutput]:
        """All members at once; member k gets ``x[k]`` and ``eps[k]``. Returns K outputs."""
        tensors = {**self.params, **self.buffers}
        mu, logvar, z, logits = self._sampled(tensors, x, eps) if eps is not None else self._mean(tensors, x, None)
        return [VAEOutput(mu=mu[k], logvar=logvar[k], z=z[k], logits=logits[k]) for k in range(self.k)]

    __call__ = forward

    # ------------------------------------------------------------------ state

    def member_state_dict(self, k: int) -> dict[str, torch.Tensor]:
        """Member k's state dict, as a single run's model would hold it (copies)."""
        tensors = {**self.params, **self.buffers}
        return {name: tensors[name][k].detach().clone() for name in self.keys}

    @torch.no_grad()
    def load_member_state_dicts(self, states: Sequence[dict[str, torch.Tensor]]) -> None:
        """Copy K single-model state dicts into the stacked tensors (exact)."""
        if len(states) != self.k:
            raise BetavaeError(f"{len(states)} member states for an ensemble of {self.k}")
        tensors = {**self.params, **self.buffers}
        for k, state in enumerate(states):
            if list(state) != self.keys:
                raise BetavaeError(f"member {k}'s state does not match the ensemble's architecture")
            for name in self.keys:
                tensors[name][k].copy_(state[name])


def _per_param(state: dict[str, Any], fn: Any) -> dict[str, Any]:
    return {key: fn(value) if isinstance(value, torch.Tensor) and value.dim() > 0 else value
            for key, value in state.items()}


def member_optimizer_state(ensemble_state: dict[str, Any], k: int) -> dict[str, Any]:
    """Adam state dict of member k alone, from the state dict of the optimiser over the stacked
    parameters: every per-parameter tensor (exp_avg, exp_avg_sq) sliced at k; the step (a scalar,
    the same for all members) and the group settings kept. It loads into ``torch.optim.Adam`` over
    a single member's ``parameters()``, in the same order."""
    return {
        "state": {i: _per_param(s, lambda t: t[k].clone()) for i, s in ensemble_state["state"].items()},
        "param_groups": copy.deepcopy(ensemble_state["param_groups"]),
    }


def stack_optimizer_states(states: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Inverse of :func:`member_optimizer_state`: K single-member Adam states -> one stacked."""
    first = states[0]
    stacked: dict[int, dict[str, Any]] = {}
    for i, s in first["state"].items():
        stacked[i] = {}
        for key, value in s.items():
            if isinstance(value, torch.Tensor) and value.dim() > 0:
                stacked[i][key] = torch.stack([st["state"][i][key] for st in states])
            else:
                if any(not torch.equal(torch.as_tensor(st["state"][i][key]), torch.as_tensor(value))
                       for st in states):
                    raise BetavaeError(f"ensemble members' optimiser {key!r} differ; they were not trained together")
                stacked[i][key] = value
    return {"state": stacked, "param_groups": copy.deepcopy(first["param_groups"])}


def device_rng_state(device: torch.device) -> torch.Tensor:
    """The global RNG state that ``randn_like`` on ``device`` draws from."""
    if device.type == "cuda":
        return torch.cuda.get_rng_state(device)
    return torch.get_rng_state()


class MemberNoise:
    """One generator per member on the training device; ``draw`` gives (K, *shape) standard normals.

    Member k's draw is ``torch.randn(shape, generator=g_k)``, the same kernel and the same state as
    the ``torch.randn_like(mu)`` a single run of seed s_k performs at that step.
    """

    def __init__(self, states: Sequence[torch.Tensor], device: torch.device) -> None:
        self.device = device
        self.generators = []
        for state in states:
            g = torch.Generator(device=device)
            g.set_state(state)
            self.generators.append(g)

    def draw(self, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.stack([torch.randn(shape, generator=g, dtype=dtype, device=self.device)
                            for g in self.generators])

    def states(self) -> list[torch.Tensor]:
        return [g.get_state() for g in self.generators]


def has_own_state(objective: nn.Module) -> bool:
    """Whether ``objective`` has parameters, buffers or an auxiliary optimiser of its own (learned β,
    FactorVAE, per-latent and pairwise β): such objectives train alone, never in an ensemble."""
    return bool(list(objective.parameters()) or objective.state_dict() or objective.auxiliary_optimizer() is not None)


def trains_alone(config: RunConfig) -> bool:
    """Whether an image run's objective has state of its own (:func:`has_own_state`), so that a sweep
    gives it no ensemble partners; other tasks' runs are grouped as their configs allow."""
    model = config.model
    if getattr(model, "task", None) != "image":
        return False
    return has_own_state(config.objective.build(model.likelihood, model.latent_dim))


def check_stateless(objective: nn.Module, kind: str) -> None:
    """Refuse objectives with parameters, buffers or an auxiliary optimiser of their own."""
    if has_own_state(objective):
        raise BetavaeError(
            f"objective {kind!r} has parameters or state of its own, which ensembles do not train yet; "
            "train its seeds one at a time (ensembles take stateless objectives: vae, beta, capacity, betatcvae)"
        )


def seed_configs(config: RunConfig, seeds: Sequence[int]) -> list[RunConfig]:
    """``config`` once per seed (validated like any config)."""
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise BetavaeError("an ensemble needs at least one seed")
    if len(set(seeds)) != len(seeds):
        raise BetavaeError(f"seeds {seeds} repeat a seed; each member needs its own")
    return [build_config({**config.to_dict(), "seed": s}) for s in seeds]


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2,3"`` or ``"0-3"`` -> [0, 1, 2, 3]."""
    try:
        if "-" in text and "," not in text:
            lo, hi = (int(v) for v in text.split("-"))
            return list(range(lo, hi + 1))
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise BetavaeError(f"--seeds {text!r}: give comma-separated integers (0,1,2,3) or a range (0-3)") from None


def check_members(configs: Sequence[RunConfig]) -> None:
    """Members may differ only in seed and objective; their run folders must differ."""
    def shared(c: RunConfig) -> dict[str, Any]:
        d = c.to_dict()
        d.pop("seed")
        d.pop("objective")
        return d

    if not configs:
        raise BetavaeError("an ensemble needs at least one member")
    first = shared(configs[0])
    for c in configs[1:]:
        if shared(c) != first:
            diff = sorted(k for k in first if first[k] != shared(c).get(k))
            raise BetavaeError(f"ensemble members may differ only in seed and objective; {c.run_id()} also "
                               f"differs in {', '.join(diff)}")
    ids = [c.run_id() for c in configs]
    if len(set(ids)) != len(ids):
        raise BetavaeError(f"two ensemble members would share a run folder: {sorted(ids)}")


def ensemble_plan(level: str, device: torch.device, steps: int) -> SpeedPlan:
    """The speed plan of ``level`` less the switches that do not apply to a vmapped ensemble."""
    plan = plan_for(level, device, steps)
    if level == "plain":
        return plan
    return dataclasses.replace(plan, channels_last=False, fast_deconv=False, compile=False,
                               notes=(*plan.notes, ENSEMBLE_NOTE))
