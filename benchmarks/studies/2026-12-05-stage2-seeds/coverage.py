"""How often the pooled 95% interval over several trainings holds the true difference, simulated:
Student's t at S - 1 degrees of freedom (``analysis.across_runs`` until 2026-12-05) against
Welch-Satterthwaite's (``analysis.pooled_half_width``, now).

    python coverage.py

S = 5 trainings scored on the same 2,010 test images. Each run's per-image difference (points)
is the images' shared part, the run's own per-image noise (0.3 of it) and a shift of its
training (sd ``sd_training``); the true mean is 0. Each run's interval is
``analysis.paired_difference``'s kind: a 95% bootstrap over the images (400 resamples here).
2,000 repetitions per row (the coverage's own standard error is about 0.005).
"""

from __future__ import annotations

import math

import numpy as np

from mggnet_lite import analysis

rng = np.random.default_rng(0)
n, S, reps = 2010, 5, 2000
for sd_training, sd_image in ((0.0, 1.0), (0.05, 2.2), (0.13, 3.2), (0.3, 3.2)):
    hit_t = hit_ws = 0
    for _ in range(reps):
        shared = rng.normal(0, sd_image, n)
        runs = []
        for _ in range(S):
            per = shared + rng.normal(0, 0.3 * sd_image, n) + rng.normal(0, sd_training)
            boot = per[rng.integers(0, n, (400, n))].mean(1)
            lo, hi = np.quantile(boot, [0.025, 0.975])
            runs.append((per.mean(), lo, hi))
        mean, lo, hi = analysis.across_runs(runs)
        hit_ws += lo <= 0 <= hi
        between, images = analysis.run_variances(runs)
        half = analysis.t_quantile(S - 1) * math.sqrt(between / S + images)
        hit_t += mean - half <= 0 <= mean + half
    print(f"sd between trainings {sd_training:.2f}, images' standard error "
          f"{sd_image / math.sqrt(n):.3f}: coverage with t at S - 1 {hit_t / reps:.3f}, "
          f"with Welch-Satterthwaite {hit_ws / reps:.3f}", flush=True)
