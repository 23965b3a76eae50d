"""SynthFaces: a synthetic face set in CelebA's own layout, with ground truth (ARCHITECTURE.md).

Why a synthetic set
-------------------
The book has to run anywhere, with no download, and we want an *instrument*: because we
render every face ourselves we know (a) where each of the 40 CelebA attributes lives in the
picture, as one ground-truth mask per part-based group G_i (paper Sec. 3.1, Fig. 2), and
(b) which attributes we made depend on which, as a directed graph planted across groups
(the non-spatial correlations that the paper's GCL, Sec. 3.2, is meant to pick up, e.g.
"people wearing lipstick are more likely to wear a necklace").

``synthesize(out_dir, n, seed)`` writes CelebA's *original* layout (see :mod:`.writer`), so
every CelebA reader reads it unchanged; ``synthfaces.json`` is written last (atomically): a
folder without it is an interrupted run.

The modules
-----------
:mod:`.labels`      the label model: a Bayesian network of conditional Bernoulli draws and
                    the planted directed edges (:data:`PLANTED_EDGES`)
:mod:`.look`        the per-image look (:class:`FaceParams`): pose, proportions, colours
:mod:`.geometry`    template coordinates, face outline, pose transform, the drawing kit
:mod:`.hair`, :mod:`.neck`, :mod:`.face`
                    the parts of the face, each drawn by one function beside its region
:mod:`.parts`       :data:`~.parts.PARTS`, the parts in drawing order, and the regions
:mod:`.background`  gradient, texture and clutter behind the person
:mod:`.renderer`    one image and its group masks
:mod:`.occlusion`   accessories that hide one group's region, labels kept (chapter 3)
:mod:`.bayes`       the exact posterior of a hidden group given all other labels: the
                    most any graph could add (:func:`~.bayes.hidden_group_bound`)
:mod:`.drawing`     stage 1's pretext: how each image was drawn (its rendering parameters
                    cut at their medians), the stand-in for ImageNet's task
:mod:`.writer`      a whole set on disk, and the ``synth`` command line

The label model
---------------
Labels are drawn from a Bayesian network of conditional Bernoulli draws in a fixed
topological order (:data:`LABEL_MODEL`, one conditional probability table per attribute).
The roots are ``Male`` and ``Young``; the latent ``Attractive`` depends on both, and most
other attributes depend on one to three of ``Male``, ``Young``, ``Attractive``,
``Heavy_Makeup``, ``Smiling`` and ``Wearing_Lipstick``. The marginals come out within about
one point of CelebA's positive rates (:data:`CELEBA_POSITIVE_RATES`). The planted directed
edges (:data:`PLANTED_EDGES`) cross groups on purpose:

* ``Wearing_Lipstick -> Wearing_Necklace`` (the paper's example; mouth -> neck),
* ``Male -> Wearing_Necktie, Goatee, Mustache, Sideburns, 5_o_Clock_Shadow, Bald,
  Big_Nose, Bushy_Eyebrows`` (+) and ``-> No_Beard, Wearing_Lipstick, Heavy_Makeup,
  Wearing_Earrings, Blond_Hair, Bangs, Wavy_Hair`` (-),
* ``Heavy_Makeup -> Wearing_Lipstick, Arched_Eyebrows, Rosy_Cheeks, Wearing_Earrings``,
* ``Smiling -> Mouth_Slightly_Open, High_Cheekbones, Narrow_Eyes``,
* ``Young -> not Gray_Hair, Bald, Receding_Hairline, Bags_Under_Eyes, Eyeglasses,
  Double_Chin``; ``Young -> Attractive``,
* ``Attractive (latent) -> Heavy_Makeup, Oval_Face, Smiling, Pointy_Nose`` and
  ``-> not Chubby, Blurry``; ``Chubby -> Double_Chin``.

:func:`measure_dependencies` measures P(child | parent) and P(child | not parent) for
each edge on a label matrix; ``synthfaces.json`` lists the values measured on 10,000 draws
of the model and on the written set itself.

Exclusive attributes stay exclusive, through zero entries of the tables ("zero_if"):
at most one of Black/Blond/Brown/Gray_Hair; at most one of Straight/Wavy_Hair; Bald has
no hair colour, texture, bangs or receding hairline; Receding_Hairline has no bangs.
Beards follow one rule: ``No_Beard = 0`` means a beard is drawn on the chin and jaw (the
neck group); only men have one; ``Goatee`` and ``Mustache`` refine a beard, so either
implies ``No_Beard = 0``. Sideburns and the 5 o'clock shadow are cheek hair and may occur
with ``No_Beard = 1``.

Rendering
---------
Every attribute except the latent ones (:data:`LATENT_ATTRIBUTES`: ``Attractive``) changes
pixels inside its own group's mask, e.g. hair colour, texture, hat and earrings in
``around_head``; bangs, baldness and a receding hairline in ``hairline``; brows, bags,
glasses and narrow eyes in ``eyes``; nose shape in ``nose``; cheekbones, blush, sideburns
and stubble in ``middle_face``; lips, lipstick, open mouth, smile and mustache in
``mouth``; double chin, goatee, beard, necklace and necktie in ``neck``. The ``whole_face``
attributes change the face and ears: ``Male`` (jaw, skin tint), ``Young`` (wrinkles, skin),
``Chubby`` / ``Oval_Face`` (face shape), ``Pale_Skin`` and ``Heavy_Makeup`` (foundation,
eye shadow, eyeliner). :data:`WHOLE_IMAGE_ATTRIBUTES` (``Blurry``: a Gaussian blur) touch
the whole picture instead.

Faces sit as in CelebA's aligned crops (eyes near (70, 112) and (108, 112)), then each image
gets its own pose (shift, scale, small rotation), skin and hair tones, face proportions,
background (gradient, low-frequency texture, clutter), lighting (gradient, colour cast),
pixel noise and JPEG quality. Shapes are PIL polygons and lines; all the points of an image
go through the pose transform in one matrix product. Each part of the face is one function
in :data:`~.parts.PARTS` (which fixes the drawing order), with its group regions beside it.
The group masks are drawn from those regions with the same pose transform and dilated by one pixel; they do not depend on the
labels (they mark where a group's attributes *can* appear, e.g. the hat region even when
there is no hat).

Determinism: image i's pose, colours and noise come from ``SeedSequence([seed, i])`` and
the label matrix from ``SeedSequence([seed, 0x5EED])`` drawn once in the parent, so the
bytes do not depend on the worker count, and no file holds a timestamp.
"""

from .geometry import CX, EYE_DX, EYE_Y, HEIGHT, MID_Y, ROT_CENTRE, WIDTH
from .labels import (
    CELEBA_POSITIVE_RATES,
    EXCLUSIONS,
    GROUP_NAMES,
    LABEL_MODEL,
    LATENT_ATTRIBUTES,
    PLANTED_EDGES,
    WHOLE_IMAGE_ATTRIBUTES,
    Node,
    label_model_summary,
    measure_dependencies,
    sample_labels,
)
from .look import FaceParams, params_for, sample_params
from .occlusion import OCCLUDERS, OCCLUSION_FILE, occlusion_plan, read_occlusion
from .parts import PARTS
from .renderer import pack_masks, render, unpack_masks
from .writer import (
    ATTR_FILE,
    CELEBA_SPLIT_SIZES,
    GENERATOR_VERSION,
    IMAGE_DIR,
    MASK_DIR,
    META_FILE,
    PARTITION_FILE,
    cli_main,
    configure_parser,
    image_name,
    is_complete,
    is_synthfaces,
    load_group_masks,
    load_packed_masks,
    split_sizes,
    stack_group_masks,
    synthesize,
    tree_hash,
)

__all__ = [
    "ATTR_FILE",
    "CELEBA_POSITIVE_RATES",
    "CELEBA_SPLIT_SIZES",
    "CX",
    "EXCLUSIONS",
    "EYE_DX",
    "EYE_Y",
    "FaceParams",
    "GENERATOR_VERSION",
    "GROUP_NAMES",
    "HEIGHT",
    "IMAGE_DIR",
    "LABEL_MODEL",
    "LATENT_ATTRIBUTES",
    "MASK_DIR",
    "META_FILE",
    "is_synthfaces",
    "MID_Y",
    "Node",
    "PARTITION_FILE",
    "PARTS",
    "PLANTED_EDGES",
    "ROT_CENTRE",
    "WHOLE_IMAGE_ATTRIBUTES",
    "WIDTH",
    "cli_main",
    "configure_parser",
    "image_name",
    "is_complete",
    "label_model_summary",
    "load_group_masks",
    "load_packed_masks",
    "measure_dependencies",
    "pack_masks",
    "params_for",
    "render",
    "sample_labels",
    "sample_params",
    "split_sizes",
    "stack_group_masks",
    "synthesize",
    "tree_hash",
    "unpack_masks",
    "OCCLUDERS",
    "OCCLUSION_FILE",
    "occlusion_plan",
    "read_occlusion",
]
