"""The book's figures, measured on its saved quick-profile runs, written to JSON: issue
[2/5]'s targets and issue [2/4]'s measures (pointing game and its ceiling, the hidden-group
bound, blindness and senders-to-mean controls, the affinities' collapse).

    python benchmarks/book_targets.py benchmarks/results/book-quick-targets.json

Reads ``runs/book`` (what ``make book`` / ``make test`` trained; a missing run is trained
first) through ``mggnet_lite.book``; the same computations as ``tests/test_targets.py`` and
chapters 2, 3 and 6. Records the machine and versions of the runs it read.
"""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

from mggnet_lite import analysis, book
from mggnet_lite.data import CelebA
from mggnet_lite.data import synthfaces as sf
from mggnet_lite.data.synthfaces.bayes import hidden_group_bound


def _measures(model, outs, control, prior, hidden, bound) -> dict:
    """analysis.hidden_group_measures as JSON, with each group's bound."""
    m = analysis.hidden_group_measures(outs, control, prior, hidden, model.groups,
                                       model.attributes, model.backbone.taps)
    for g, per in m.items():
        per["bound"] = bound[g].gain
        for b in model.backbone.taps:
            per[b] = {k: dict(zip(("diff", "lo", "hi"), v, strict=True)) for k, v in per[b].items()}
    return m


def main(out: str) -> None:
    model, report = book.trained_model("mggnet")
    _, bal_report = book.trained_model("mggnet", criterion="balanced")
    outs = book.test_outputs(model, report)
    root = book.book_data()
    names = CelebA(root, split=report["split"]).filenames
    truth = book.true_masks(report["split"], root)
    loc = book.localisation({b: outs[f"masks:{b}"] for b in model.backbone.taps}, truth)
    gap_model, gap_report = book.trained_model("gal", pool="gap")  # chapter 2's Eq. 1 GAL
    gap_lift = book.localisation({"block3": book.test_outputs(gap_model, gap_report)[
        "masks:block3"]}, truth)["block3"]["lift"]
    hidden_of = sf.read_occlusion(root)
    hidden = [hidden_of.get(n) for n in names]
    where = analysis.hidden_group_rows(hidden, model.groups, model.attributes)
    pairs = {}
    for other in ("baseline", "gal"):
        m, r = book.trained_model(other)
        probs, labels = book.eval_predictions(m, r)
        pairs[f"mggnet_minus_{other}"] = dict(zip(("diff", "lo", "hi"), analysis.paired_difference(
            probs, outs["probs"], labels), strict=True))
    control = book.test_outputs(model, report, senders="mean")
    train = CelebA(root, split="train").attr.float().mean(0)
    prior = (train >= 0.5).float().expand_as(outs["labels"])
    bound = hidden_group_bound()
    per_group = _measures(model, outs, control, prior, hidden, bound)
    blind_model, blind_report = book.trained_model("mggnet", blind=book.blind_groups())
    blind_outs = book.test_outputs(blind_model, blind_report)
    per_group_blind = _measures(blind_model, blind_outs, book.test_outputs(
        blind_model, blind_report, senders="mean"), prior, hidden, bound)
    blind_vs_paper = dict(zip(("diff", "lo", "hi"), analysis.paired_difference(
        outs["probs"], blind_outs["probs"], outs["labels"]), strict=True))
    collapse = {b: {k: v.tolist() for k, v in analysis.affinity_collapse(
        outs[f"affinity:{b}"]).items()} for b in model.backbone.taps}
    res = {
        "date": datetime.date.today().isoformat(),
        "run": str(book.run_folder(book.book_config("mggnet"))),
        "machine": report["machine"], "versions": report["versions"],
        "n_test": report["n"], "majority": report["majority_class"]["mean_accuracy"],
        "mggnet_prediction": {"mean_accuracy": report["mean_accuracy"],
                              "mean_balanced_accuracy": report["mean_balanced_accuracy"]},
        "mggnet_balanced": {"mean_accuracy": bal_report["mean_accuracy"],
                            "mean_balanced_accuracy": bal_report["mean_balanced_accuracy"]},
        "lift": {b: dict(zip(model.group_names, loc[b]["lift"].tolist(), strict=True))
                 for b in model.backbone.taps},
        "gap_lift_block3": dict(zip(model.group_names, gap_lift.tolist(), strict=True)),
        "pointing_game": {b: dict(zip(model.group_names, loc[b]["pointing"].tolist(), strict=True))
                          for b in model.backbone.taps},
        "pointing_chance": dict(zip(model.group_names, loc["block3"]["chance"].tolist(),
                                    strict=True)),
        "pointing_ceiling": {b: dict(zip(model.group_names, loc[b]["ceiling"].tolist(),
                                         strict=True)) for b in model.backbone.taps},
        "grid": {b: list(outs[f"masks:{b}"].shape[-2:]) for b in model.backbone.taps},
        "affinity_collapse": collapse,
        "hidden_groups": per_group,
        "blind_network": {"groups": list(blind_model.blind), "run": blind_report["checkpoint"],
                          "mean_accuracy": blind_report["mean_accuracy"],
                          "mean_balanced_accuracy": blind_report["mean_balanced_accuracy"],
                          "minus_mggnet": blind_vs_paper, "hidden_groups": per_group_blind},
        "affinity_deviation": {b: analysis.affinity_deviation(outs[f"affinity:{b}"].mean(0))
                               for b in model.backbone.taps},
        "hidden_images": int(where.any(1).sum()),
        "gcl_minus_gal_on_hidden": {
            b: dict(zip(("diff", "lo", "hi"), analysis.paired_difference(
                outs[f"gal:{b}"], outs[f"gcl:{b}"], outs["labels"], where=where), strict=True))
            for b in model.backbone.taps},
        "mean_accuracy_differences": pairs,
        "time_s": {"stage2_mggnet_train": report["time_s"]["train"]},
    }
    Path(out).write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main(sys.argv[1])
