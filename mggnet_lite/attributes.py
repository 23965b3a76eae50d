"""The 40 CelebA attributes and the 8 part-based groups G_i (paper Sec. 3.1, Fig. 2).

The paper splits the N = 40 attributes into K = 8 part-based groups "according to their
location similarity" but does not print the split; ``GROUPS`` is ours (ARCHITECTURE.md,
"Paper to code"), named after the regions of the paper's Fig. 2 (the block on which the
paper shows each group best is ``paper.BLOCK_OF_GROUP``). Any other split can be passed to
:func:`validate_groups`, which every model constructor calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

#: The 40 attribute names in the column order of CelebA's ``list_attr_celeba.txt``.
CELEBA_ATTRIBUTES: tuple[str, ...] = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald",
    "Bangs", "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair",
    "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin",
    "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones",
    "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard",
    "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks",
    "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings",
    "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)  # fmt: skip

#: Default part-based groups, in a fixed order (the node order of the GCL graph).
GROUPS: dict[str, tuple[str, ...]] = {
    "whole_face": ("Attractive", "Blurry", "Chubby", "Heavy_Makeup", "Male", "Oval_Face",
                   "Pale_Skin", "Young"),
    "around_head": ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair", "Straight_Hair",
                    "Wavy_Hair", "Wearing_Hat", "Wearing_Earrings"),
    "hairline": ("Bald", "Bangs", "Receding_Hairline"),
    "eyes": ("Arched_Eyebrows", "Bags_Under_Eyes", "Bushy_Eyebrows", "Eyeglasses",
             "Narrow_Eyes"),
    "nose": ("Big_Nose", "Pointy_Nose"),
    "middle_face": ("High_Cheekbones", "Rosy_Cheeks", "Sideburns", "5_o_Clock_Shadow"),
    "mouth": ("Big_Lips", "Mouth_Slightly_Open", "Mustache", "Smiling", "Wearing_Lipstick"),
    "neck": ("Double_Chin", "Goatee", "No_Beard", "Wearing_Necklace", "Wearing_Necktie"),
}  # fmt: skip

class GroupSplitError(ValueError):
    """A user-supplied attribute split is not a partition of the attribute list."""


def validate_groups(
    groups: Mapping[str, Sequence[str]] | None = None,
    attributes: Sequence[str] = CELEBA_ATTRIBUTES,
) -> dict[str, tuple[str, ...]]:
    """Check that ``groups`` partitions ``attributes`` (Sec. 3.1: each a in exactly one G_i).

    Returns the split as an ordered ``dict[str, tuple[str, ...]]``. Raises
    :class:`GroupSplitError` (a ``ValueError``) naming the culprit: an empty group, an
    unknown attribute, an attribute listed twice, or an attribute in no group.
    """
    if groups is None:
        groups = GROUPS
    if not isinstance(groups, Mapping):
        raise GroupSplitError(
            f"groups must be a mapping of group name -> attribute names, got {type(groups).__name__}"
        )
    if len(groups) < 2:
        raise GroupSplitError(
            f"groups: need at least 2 groups for the GCL graph, got {len(groups)}"
        )
    known = set(attributes)
    seen: dict[str, str] = {}
    out: dict[str, tuple[str, ...]] = {}
    for name, members in groups.items():
        if not isinstance(name, str) or not name:
            raise GroupSplitError(f"groups: group names must be non-empty strings, got {name!r}")
        if isinstance(members, str):
            raise GroupSplitError(
                f"groups[{name!r}]: expected a sequence of attribute names, got the string "
                f"{members!r} (wrap it in a tuple: ({members!r},))"
            )
        members = tuple(members)
        if not members:
            raise GroupSplitError(
                f"groups[{name!r}] is empty: every group needs at least one attribute "
                "(remove the group or move an attribute into it)"
            )
        for a in members:
            if a not in known:
                raise GroupSplitError(
                    f"groups[{name!r}]: unknown attribute {a!r}; expected one of the "
                    f"{len(attributes)} names in attributes.CELEBA_ATTRIBUTES"
                )
            if a in seen:
                where = "twice in the same group" if seen[a] == name else f"also in {seen[a]!r}"
                raise GroupSplitError(
                    f"groups[{name!r}]: attribute {a!r} is listed {where}; each attribute "
                    "belongs to exactly one group"
                )
            seen[a] = name
        out[name] = members
    missing = [a for a in attributes if a not in seen]
    if missing:
        raise GroupSplitError(
            f"groups: attribute(s) {missing} are in no group; every attribute must be "
            "assigned to exactly one group"
        )
    return out


def group_index(
    groups: Mapping[str, Sequence[str]] | None = None,
    attributes: Sequence[str] = CELEBA_ATTRIBUTES,
) -> torch.Tensor:
    """Long tensor (N,) giving the group index gamma(a) of each attribute, in ``attributes`` order."""
    groups = validate_groups(groups, attributes)
    pos = {a: k for k, members in enumerate(groups.values()) for a in members}
    return torch.tensor([pos[a] for a in attributes], dtype=torch.long)


def group_of(attribute: str, groups: Mapping[str, Sequence[str]] | None = None) -> str:
    """Name of the group that holds ``attribute``."""
    for name, members in validate_groups(groups).items():
        if attribute in members:
            return name
    raise KeyError(f"unknown attribute {attribute!r}")
