"""MGG-Net: backbone blocks -> GAL -> GCL -> heads -> fusion (paper Sec. 3, Fig. 1 (a)).

Variants (Tables 1, 3, 4):

* ``baseline``: GAP(F_B) -> 40 classifiers; Y_a = Y_a^B.
* ``independent``: one attention mask per attribute (K = 40, no groups, no GCL).
* ``gal``: group attentions, no GCL ("w/o GCL"); Eq. 4 then averages Y^B with Y^{b,GAL}.
* ``mggnet``: GAL + GCL on every tapped block; Eq. 4 averages Y^B with Y^{b,GCL}.

``blind`` (not the paper's; chapter 3's graph experiment, issue [2/4]): the groups listed
read their part-based feature f_i (Eq. 1) from the backbone's maps of a *blinded* input, the
image with everything outside the group's dilated region replaced by the mean colour (0
after normalisation), with a GAL module of their own. On an image where that region is
hidden, f_i then holds nothing about the hidden attributes by construction, and only Eq. 2's
messages from the other groups can bring their evidence to the GCL head. The regions are an
input (``regions``, (B, G, H, W) in [0, 1]), per image, in the order of ``blind``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..attributes import CELEBA_ATTRIBUTES, validate_groups
from ..paper import TAPS
from .backbones import build_backbone
from .einsum import einsum
from .gal import GroupAttention
from .gcl import GraphCorrelation

VARIANTS: tuple[str, ...] = ("baseline", "independent", "gal", "mggnet")


@dataclass
class MGGOutput:
    """What :class:`MGGNet` returns (ARCHITECTURE.md, "Public contract").

    ``fused_logits`` are the logits whose sigmoids Eq. 4 averages into ``probs``:
    the base prediction first, then one per block (GCL for MGG-Net, GAL otherwise).
    """

    probs: torch.Tensor  # (B, N) Y_a, Eq. 4
    base_logits: torch.Tensor  # (B, N) logits of Y^B
    gal_logits: dict[str, torch.Tensor] = field(default_factory=dict)
    gcl_logits: dict[str, torch.Tensor] = field(default_factory=dict)
    masks: dict[str, torch.Tensor] = field(default_factory=dict)  # (B, K, h, w)
    affinity: dict[str, torch.Tensor] = field(default_factory=dict)  # (B, K, K)
    fused_logits: list[torch.Tensor] = field(default_factory=list)

    def log_probs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(log Y_a, log(1 - Y_a)) of Eq. 4, computed stably from the fused logits."""
        z = torch.stack(self.fused_logits)  # (1 + B, batch, N)
        log_n = math.log(z.shape[0])
        return (torch.logsumexp(F.logsigmoid(z), 0) - log_n,
                torch.logsumexp(F.logsigmoid(-z), 0) - log_n)


class GroupHeads(nn.Module):
    """Eq. 3 on one block: one binary classifier gamma_a per attribute a in G_gamma.

    Attribute a reads the feature of its own group: logit_a = theta_a^T f_{gamma(a)} + b_a.
    The same heads score the GAL feature f and the GCL feature f' of the block
    (the paper uses one theta_a^b for both). The choice of f_{gamma(a)} is the one-hot
    ``assign`` (N, K), [gamma(a) = k], inside the einsum: logit_a = sum_k [gamma(a) = k]
    theta_a^T f_k + b_a, one einsum with a one-einsum-per-operand backward
    (:func:`~mggnet_lite.nn.einsum.einsum`) instead of a gather.
    """

    def __init__(self, dim: int, group_of_attr: torch.Tensor, num_groups: int | None = None
                 ) -> None:
        super().__init__()
        n = len(group_of_attr)
        k = int(group_of_attr.max()) + 1 if num_groups is None else num_groups
        self.register_buffer("group_of_attr", group_of_attr.clone(), persistent=False)
        self.register_buffer("assign", F.one_hot(group_of_attr, k).float(), persistent=False)
        self.weight = nn.Parameter(torch.randn(n, dim) / math.sqrt(dim))
        self.bias = nn.Parameter(torch.zeros(n))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        """f: (B, K, D) -> logits (B, N); or a stack of such features, (S, B, K, D) ->
        (S, B, N)."""
        eq = "nk,nd,bkd->bn" if f.dim() == 3 else "nk,nd,sbkd->sbn"
        return einsum(eq, self.assign, self.weight, f) + self.bias


class MGGNet(nn.Module):
    """The multi-scale group and graph network and its ablation variants."""

    def __init__(
        self,
        variant: str = "mggnet",
        backbone: str = "resnet18",
        weights: str | os.PathLike | None = None,
        *,
        groups: Mapping[str, Sequence[str]] | None = None,
        taps: Sequence[str] = TAPS,
        alpha: float = 0.5,
        gal_reduction: int = 8,
        attributes: Sequence[str] = CELEBA_ATTRIBUTES,
        width: int = 64,
        pool: str = "gap",
        blind: Sequence[str] = (),
        stem_pool: bool = True,
        detach_senders: bool = False,
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant={variant!r}: choose one of {list(VARIANTS)}")
        self.variant = variant
        self.attributes = tuple(attributes)
        self.groups = validate_groups(groups, self.attributes)
        self.group_names = tuple(self.groups)
        n = len(self.attributes)
        if variant == "independent":  # Table 3: one attention per attribute
            group_of_attr = torch.arange(n)
            self.node_names = self.attributes
        else:
            pos = {a: k for k, members in enumerate(self.groups.values()) for a in members}
            group_of_attr = torch.tensor([pos[a] for a in self.attributes])
            self.node_names = self.group_names
        k = len(self.node_names)
        self.backbone = build_backbone(backbone, () if variant == "baseline" else taps, weights,
                                       width, stem_pool)
        self.base_head = nn.Linear(self.backbone.final_channels, n)  # Y^B from GAP(F_B)
        self.gal = nn.ModuleDict()
        self.gcl = nn.ModuleDict()
        self.heads = nn.ModuleDict()
        for b in self.backbone.taps:
            c = self.backbone.channels[b]
            self.gal[b] = GroupAttention(c, k, reduction=gal_reduction, pool=pool)
            if variant == "mggnet":
                self.gcl[b] = GraphCorrelation(c, k, alpha=alpha, detach_senders=detach_senders)
            self.heads[b] = GroupHeads(c, group_of_attr, k)
        self.blind = _check_blind(blind, self.group_names, variant)
        self.register_buffer("blind_index", torch.tensor(
            [self.group_names.index(g) for g in self.blind], dtype=torch.long), persistent=False)
        self.gal_blind = nn.ModuleDict({  # each blind group's own attention module (Eq. 1)
            f"{b}-{g}": GroupAttention(self.backbone.channels[b], 1, reduction=gal_reduction,
                                       pool=pool) for b in self.backbone.taps for g in self.blind})
        self.config = {"variant": variant, "backbone": backbone, "taps": list(self.backbone.taps),
                       "alpha": alpha, "gal_reduction": gal_reduction, "width": width,
                       "pool": pool, "blind": list(self.blind), "stem_pool": bool(stem_pool),
                       "detach_senders": bool(detach_senders),
                       "groups": {g: list(m) for g, m in self.groups.items()},
                       "attributes": list(self.attributes)}

    @classmethod
    def from_config(cls, config: Mapping) -> MGGNet:
        """Rebuild (untrained) the model a checkpoint's ``model_config`` (``model.config``) describes."""
        keys = ("groups", "taps", "alpha", "gal_reduction", "attributes", "width", "pool",
                "blind", "stem_pool", "detach_senders")
        return cls(config["variant"], config["backbone"], None,
                   **{k: config[k] for k in keys if k in config})

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ValueError unless x is a float (B, 3, H, W) batch big enough for the blocks."""
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"expected a torch.Tensor of shape (B, 3, H, W), got {type(x).__name__}")
        if x.dim() != 4:
            raise ValueError(
                f"expected a 4-D float tensor (B, 3, H, W), got shape {tuple(x.shape)}; "
                "for one image use x.unsqueeze(0)"
            )
        if x.shape[1] != 3:
            raise ValueError(
                f"expected 3 (RGB) channels in dim 1 of (B, 3, H, W), got shape {tuple(x.shape)}"
                + ("; channels-last data? use x.permute(0, 3, 1, 2)" if x.shape[-1] == 3 else "")
            )
        if not x.is_floating_point():
            raise ValueError(f"expected a float tensor, got {x.dtype}; normalise images first")
        m = self.backbone.min_size
        if min(x.shape[2:]) < m:
            raise ValueError(
                f"input {tuple(x.shape[2:])} is too small for {self.backbone.name}: need H, W >= "
                f"{m} so that every block keeps at least one pixel (the paper uses 224x224)"
            )

    def forward(self, x: torch.Tensor, regions: torch.Tensor | None = None) -> MGGOutput:
        """``x``: (B, 3, H, W) normalised images; ``regions``: (B, G, H, W) in [0, 1], the
        dilated regions of the ``blind`` groups (needed exactly when there are any)."""
        self.check_input(x)
        return self.forward_features(self.maps(x, regions))

    def maps(self, x: torch.Tensor, regions: torch.Tensor | None = None
             ) -> dict[str, torch.Tensor]:
        """The backbone's maps ``{tap: F_b} | {"final": F_B}`` of ``x``, and for each blind group
        g ``{"tap@g": F_b}`` of ``x * region_g`` (the mean colour outside the region)."""
        if not self.blind:
            if regions is not None:
                raise ValueError("regions given to a model with no blind groups (blind=())")
            return self.backbone(x)
        return {**self.backbone(x), **self.blind_maps(x, regions)}

    def blind_maps(self, x: torch.Tensor, regions: torch.Tensor | None
                   ) -> dict[str, torch.Tensor]:
        """``{"tap@g": F_b}``: for each blind group g, the tapped maps of ``x * region_g``, the
        normalised image with the mean colour (0) outside g's region; ``regions`` (B, G, H, W)."""
        want = (x.shape[0], len(self.blind), *x.shape[2:])
        if regions is None or tuple(regions.shape) != want:
            got = "none" if regions is None else tuple(regions.shape)
            raise ValueError(
                f"this model reads groups {list(self.blind)} from blinded inputs: pass "
                f"regions of shape {want} (data.synthfaces.blind.RegionSource), got {got}")
        feats: dict[str, torch.Tensor] = {}
        for k, g in enumerate(self.blind):
            seen = self.backbone(x * regions[:, k : k + 1].to(x.dtype), final=False)
            feats.update({f"{b}@{g}": seen[b] for b in self.backbone.taps})
        return feats

    def forward_features(self, feats: Mapping[str, torch.Tensor]) -> MGGOutput:
        """Everything after the backbone, from its maps ``{tap: F_b} | {"final": F_B}``.

        ``"final"`` may also be GAP(F_B) already, (B, C): what a frozen-backbone stage caches
        (:mod:`mggnet_lite.training.features`)."""
        final = feats["final"]
        pooled = final if final.dim() == 2 else torch.flatten(F.adaptive_avg_pool2d(final, 1), 1)
        base = self.base_head(pooled)
        out = MGGOutput(probs=base, base_logits=base, fused_logits=[base])
        for b in self.backbone.taps:
            f, out.masks[b] = self.gal[b](feats[b])  # Eq. 1
            if self.blind:  # the blind groups' f_i and M_i, from their blinded maps
                f, out.masks[b] = self._blinded(b, feats, f, out.masks[b])
            if b in self.gcl:
                g, out.affinity[b] = self.gcl[b](f)  # Eq. 2
                # Eq. 3, Y^{b,GAL} and Y^{b,GCL}: the same heads score f and f', in one call
                out.gal_logits[b], out.gcl_logits[b] = self.heads[b](torch.stack([f, g])).unbind()
            else:
                out.gal_logits[b] = self.heads[b](f)  # Eq. 3, Y^{b,GAL}
            out.fused_logits.append(out.gcl_logits.get(b, out.gal_logits[b]))
        # Eq. 4: Y_a = (Y_a^B + sum_b Y_a^{b,.}) / (1 + B), an average of probabilities.
        out.probs = torch.sigmoid(torch.stack(out.fused_logits)).mean(0)
        return out

    def _blinded(self, b: str, feats: Mapping[str, torch.Tensor], f: torch.Tensor,
                 m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Replace the blind groups' rows of f (B, K, C) and M (B, K, h, w) on block b: group
        g's own module, run on g's blinded maps (Eq. 1)."""
        runs = [self.gal_blind[f"{b}-{g}"](feats[f"{b}@{g}"]) for g in self.blind]
        f_g = torch.cat([fg for fg, _ in runs], 1)  # (B, G, C)
        m_g = torch.cat([mg for _, mg in runs], 1)  # (B, G, h, w)
        return (f.index_copy(1, self.blind_index, f_g.to(f.dtype)),
                m.index_copy(1, self.blind_index, m_g.to(m.dtype)))


def _check_blind(blind: Sequence[str], groups: Sequence[str], variant: str) -> tuple[str, ...]:
    """Validate ``blind`` (group names, GAL variants only); returns it as a tuple."""
    blind = (blind,) if isinstance(blind, str) else tuple(blind)
    bad = [g for g in blind if g not in groups]
    if bad or len(set(blind)) != len(blind):
        raise ValueError(f"blind={list(blind)}: name each group once, from {list(groups)}")
    if blind and variant not in ("gal", "mggnet"):
        raise ValueError(f"blind={list(blind)} needs group attention: variant 'gal' or "
                         f"'mggnet', not {variant!r}")
    return blind


def build_model(
    variant: str = "mggnet",
    backbone: str = "resnet18",
    weights: str | os.PathLike | None = None,
    **kwargs,
) -> MGGNet:
    """Build a model of Tables 1-4. ``weights``: None, ``"imagenet"`` or a state-dict path.

    Keyword arguments (``groups``, ``taps``, ``alpha``, ``gal_reduction``, ``width``, ``pool``,
    ``blind``, ``stem_pool``, ``detach_senders``) go to :class:`MGGNet`. A path holding a
    whole-model state dict (keys ``backbone.*``, e.g. a training run's ``last.pt``) is loaded
    into the model: all of it when it is the same variant; else its backbone and base head,
    which must all be there (a pretrained start, as ImageNet weights are in the paper), or its
    backbone alone when its base head has other outputs (a pretext's stage 1); one holding a
    torchvision backbone state dict is loaded into the backbone.
    """
    from .backbones import load_state_dict_file

    whole = None
    if weights not in (None, "imagenet"):
        state = load_state_dict_file(weights)
        if any(k.startswith("backbone.") for k in state):
            whole, weights = state, None
    model = MGGNet(variant, backbone, weights, **kwargs)
    if whole is not None:
        _load_whole(model, whole)
    return model


def _load_whole(model: MGGNet, state: Mapping[str, torch.Tensor]) -> None:
    """Load a whole-model state dict: exactly, or (another variant) its backbone + base head,
    or only its backbone when its base head learnt other outputs (a pretext's stage 1,
    :mod:`mggnet_lite.data.synthfaces.drawing`: its head means nothing for the attributes)."""
    own = model.state_dict()
    if set(state) == set(own) and all(state[k].shape == own[k].shape for k in own):
        model.load_state_dict(state)
        return
    head = state.get("base_head.weight")
    other_outputs = head is not None and head.shape[0] != own["base_head.weight"].shape[0]
    shared = ("backbone.",) if other_outputs else ("backbone.", "base_head.")
    need = [k for k in own if k.startswith(shared)]
    missing = [k for k in need if k not in state]
    wrong = [k for k in need if k in state and state[k].shape != own[k].shape]
    if missing or wrong:
        raise ValueError(
            "the whole-model weights do not fit this network's backbone and base head: "
            f"missing {missing[:3]}, other shapes {wrong[:3]} (another backbone or width?)"
        )
    model.load_state_dict({k: state[k] for k in need}, strict=False)
