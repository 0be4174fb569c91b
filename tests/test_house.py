"""The house rules, checked on the tree: imports run one way (leaf helpers <- configuration <- modeling <- tools)
with no circle, private Transformers names stay in the one adapter module, no function over 60 lines and no file
over 700 lines where the rules apply, and tests import without editing `sys.path`."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "hiera_hf"
# Each module's layer: a module may import its own layer's modules or lower ones, never a higher one.
LAYERS = {
    0: {"checkpoint_layouts", "checks", "processing_common", "transformers_compat", "samples", "atomic"},
    1: {"configuration_hiera", "image_processing_hiera", "video_processing_hiera"},
    2: {"modeling_hiera"},
    3: {"parity", "processors", "training"},
    4: {"batch_inference", "export", "inference", "visualization"},
    5: {"__init__", "__main__"},
}
LAYER_OF = {module: layer for layer, modules in LAYERS.items() for module in modules}


def package_imports() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (at the top or inside functions)."""
    graph = {}
    for path in PACKAGE.glob("*.py"):
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                names = [node.module] if node.module else [alias.name for alias in node.names]
                imported |= {name.split(".")[0] for name in names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hiera_hf"):
                rest = node.module.removeprefix("hiera_hf").lstrip(".")
                imported |= {rest.split(".")[0]} if rest else {alias.name for alias in node.names}
        graph[path.stem] = imported & {p.stem for p in PACKAGE.glob("*.py")}
    return graph


def test_every_module_has_a_layer():
    assert set(package_imports()) == set(LAYER_OF)


def test_imports_run_one_way_without_a_circle():
    graph = package_imports()
    upward = [f"{a} -> {b}" for a, targets in graph.items() for b in targets if LAYER_OF[b] > LAYER_OF[a]]
    assert not upward, f"imports from a lower layer up: {upward}"

    def cycle_from(start, node, path):
        for target in graph[node]:
            if target == start:
                return [*path, target]
            if target not in path:
                found = cycle_from(start, target, [*path, target])
                if found:
                    return found
        return None

    cycles = [cycle_from(module, module, [module]) for module in graph]
    assert not any(cycles), f"import circles: {[c for c in cycles if c]}"


def test_the_parity_tooling_is_not_remote_code():
    """Saved folders carry the model's modules; the tools (parity, processors, export...) do not go with them."""
    graph = package_imports()
    shipped, todo = set(), ["modeling_hiera", "image_processing_hiera", "video_processing_hiera"]
    while todo:
        module = todo.pop()
        if module not in shipped:
            shipped.add(module)
            todo += graph[module]
    assert max(LAYER_OF[module] for module in shipped) <= 2 and "parity" not in shipped


# Hooks of Transformers' model-author interface that its own model files use as we do (see transformers_compat).
AUTHOR_INTERFACE = {
    "_attn_implementation", "_init_weights", "_can_record_outputs", "_supports_sdpa", "_supports_flex_attn",
    "_supports_flash_attn", "_supports_attention_backend", "_no_split_modules", "_can_compile_fullgraph",
    "_input_embed_layer", "_preprocess", "_decode_and_sample_videos", "_prepare_input_videos",
    "_standardize_kwargs", "_prepare_images_structure",
}  # fmt: skip


def transformers_private_names() -> set[str]:
    """Private attribute names of the Transformers classes the package builds on."""
    from transformers import PreTrainedConfig, PreTrainedModel
    from transformers.backbone_utils import BackboneMixin
    from transformers.image_processing_backends import PilBackend, TorchvisionBackend
    from transformers.video_processing_utils import BaseVideoProcessor

    classes = (PreTrainedConfig, PreTrainedModel, BackboneMixin, PilBackend, TorchvisionBackend, BaseVideoProcessor)
    return {name for cls in classes for name in dir(cls) if name.startswith("_") and not name.startswith("__")}


def test_private_transformers_names_stay_in_the_adapter():
    private, found = transformers_private_names() - AUTHOR_INTERFACE, []
    for path in PACKAGE.glob("*.py"):
        if path.name == "transformers_compat.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in private:
                found.append(f"{path.name}:{node.lineno} .{node.attr}")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("transformers"):
                found += [f"{path.name}:{node.lineno} {a.name}" for a in node.names if a.name.startswith("_")]
            if isinstance(node, ast.keyword) and node.arg and node.arg.startswith("_"):
                found.append(f"{path.name}:{node.lineno} {node.arg}=")
    assert not found, found


def functions(folder: Path):
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield path, node


@pytest.mark.parametrize("folder", ["src", "conversion", "demo", "benchmarks"])
def test_functions_stay_under_60_lines(folder):
    long = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path, node in functions(ROOT / folder)
        if node.end_lineno - node.lineno + 1 > 60
    ]
    assert not long, long


def test_files_stay_under_700_lines():
    """Outside the tests; the model stays in one file, as Transformers keeps its models."""
    long = []
    for folder in ("src", "conversion", "demo", "benchmarks", "examples"):
        for path in (ROOT / folder).rglob("*.py"):
            lines = len(path.read_text().splitlines())
            if lines > 700 and path.name != "modeling_hiera.py":
                long.append(f"{path.relative_to(ROOT)} ({lines} lines)")
    assert not long, long


def test_tests_import_without_editing_sys_path():
    edits = [
        f"{path.name}:{number}"
        for path in (ROOT / "tests").glob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"sys\.path\.(insert|append)", line) and path.name != "test_house.py"
    ]
    assert not edits, edits
