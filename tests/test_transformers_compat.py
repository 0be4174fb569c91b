"""The private Transformers behaviour `hiera_hf.transformers_compat` relies on, pinned: these fail if Transformers
changes it, before the package silently does the wrong thing."""

from __future__ import annotations

from helpers import small_config
from safetensors import safe_open

from hiera_hf import HieraForImageClassification
from hiera_hf.transformers_compat import save_in_our_key_names


def test_a_load_with_key_mapping_saves_back_in_the_checkpoints_names_unless_told_not_to(tmp_path):
    """Transformers records the renamings of `key_mapping` in `model._weight_conversions` and reverses them in
    `save_pretrained`; emptying the list makes it save the names the model has."""
    model = HieraForImageClassification(small_config())
    model.save_pretrained(tmp_path / "ours")
    renamed = {"^classifier\\.": "linear_head."}  # ours -> other names, and back when loading
    reverse = {"^linear_head\\.": "classifier."}
    plain = HieraForImageClassification.from_pretrained(tmp_path / "ours")
    plain.save_pretrained(
        tmp_path / "other", state_dict={renamed_key(k, renamed): v for k, v in plain.state_dict().items()}
    )
    loaded = HieraForImageClassification.from_pretrained(tmp_path / "other", key_mapping=reverse)
    assert loaded._weight_conversions, "Transformers no longer records the load's renamings"
    loaded.save_pretrained(tmp_path / "reverted")
    assert "linear_head.weight" in keys(tmp_path / "reverted"), "Transformers no longer reverses them on save"
    save_in_our_key_names(loaded)
    loaded.save_pretrained(tmp_path / "kept")
    assert "classifier.weight" in keys(tmp_path / "kept") and "linear_head.weight" not in keys(tmp_path / "kept")


def renamed_key(key: str, patterns: dict) -> str:
    import re

    for pattern, target in patterns.items():
        key = re.sub(pattern, target, key)
    return key


def keys(folder) -> set[str]:
    with safe_open(folder / "model.safetensors", "pt") as weights:
        return set(weights.keys())
