# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Top-k accuracy as an `evaluate` metric module, loadable offline: `evaluate.load("examples/metrics/top_k_accuracy")`.

`compute(predictions=..., references=..., k=(1, 5))`: predictions are per-example class scores `(num_labels,)`
(logits or probabilities), references class ids. Returns `top1_accuracy`, `top5_accuracy`, ... (k above the number
of classes is left out).
"""

import datasets
import evaluate
import numpy as np


class TopKAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Fraction of examples whose reference is among the k highest-scored classes.",
            citation="",
            inputs_description="predictions: class scores per example; references: class ids; k: tuple of ints.",
            features=datasets.Features(
                {"predictions": datasets.Sequence(datasets.Value("float32")), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references, k=(1, 5)):
        scores, labels = np.asarray(predictions, dtype=np.float32), np.asarray(references)
        order = np.argsort(-scores, axis=-1, kind="stable")
        results = {}
        for top in k:
            if top <= scores.shape[-1]:
                results[f"top{top}_accuracy"] = float((order[:, :top] == labels[:, None]).any(axis=1).mean())
        return results
