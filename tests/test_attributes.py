import pytest

from mggnet_lite import build_model
from mggnet_lite.attributes import (
    CELEBA_ATTRIBUTES,
    GROUPS,
    GroupSplitError,
    group_index,
    validate_groups,
)


def test_forty_attributes_in_file_order():
    assert len(CELEBA_ATTRIBUTES) == 40 == len(set(CELEBA_ATTRIBUTES))
    assert CELEBA_ATTRIBUTES[0] == "5_o_Clock_Shadow"
    assert CELEBA_ATTRIBUTES[20] == "Male"
    assert CELEBA_ATTRIBUTES[-1] == "Young"
    assert list(CELEBA_ATTRIBUTES) == sorted(CELEBA_ATTRIBUTES, key=str.lower)


def test_default_groups_partition_the_attributes():
    assert list(GROUPS) == ["whole_face", "around_head", "hairline", "eyes", "nose",
                            "middle_face", "mouth", "neck"]
    flat = [a for members in GROUPS.values() for a in members]
    assert sorted(flat) == sorted(CELEBA_ATTRIBUTES)
    assert validate_groups() == GROUPS
    idx = group_index()
    assert idx[CELEBA_ATTRIBUTES.index("Wearing_Necklace")] == list(GROUPS).index("neck")


def _without(attr):
    return {g: tuple(a for a in m if a != attr) for g, m in GROUPS.items()}


@pytest.mark.parametrize(
    "groups, culprit",
    [
        (_without("Smiling"), "Smiling"),  # missing
        ({**GROUPS, "mouth": GROUPS["mouth"] + ("Smiling",)}, "Smiling"),  # duplicate, same group
        ({**GROUPS, "neck": GROUPS["neck"] + ("Male",)}, "Male"),  # duplicate, other group
        ({**GROUPS, "nose": GROUPS["nose"] + ("Freckles",)}, "Freckles"),  # unknown
        ({**GROUPS, "ears": ()}, "ears"),  # empty group
        ({**_without("Bald"), "hairline": "Bald"}, "Bald"),  # a string, not a tuple
        ({"all": CELEBA_ATTRIBUTES}, "at least 2 groups"),
        (["whole_face"], "mapping"),
    ],
    ids=["missing", "dup-same", "dup-other", "unknown", "empty", "string", "one-group", "list"],
)
def test_bad_split_is_refused_naming_the_culprit(groups, culprit):
    with pytest.raises(GroupSplitError, match=culprit):
        validate_groups(groups)


def test_duplicate_message_names_both_groups():
    with pytest.raises(ValueError, match=r"'neck'.*'Male'.*also in 'whole_face'"):
        validate_groups({**GROUPS, "neck": GROUPS["neck"] + ("Male",)})


def test_build_model_refuses_bad_split_and_accepts_a_good_one():
    with pytest.raises(GroupSplitError, match="Young"):
        build_model("gal", groups=_without("Young"))
    four = {"top": [], "bottom": []}
    for i, g in enumerate(GROUPS):
        four["top" if i < 4 else "bottom"] += GROUPS[g]
    m = build_model("mggnet", groups=four)
    assert m.group_names == ("top", "bottom")
    assert m.gcl["block3"].w_g.shape[0] == 2
