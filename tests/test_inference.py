"""`hiera_hf.fast_model`: the fastest correct inference in one step. Each mode keeps the fp32 model's predictions on
a trained model (at least 99% top-1 agreement), on a saved folder, and pipelines take the result."""

from __future__ import annotations

import copy
import gc
import types
import warnings

import pytest
import torch
from helpers import small_config
from PIL import Image
from transformers import pipeline

from hiera_hf import (
    HieraConfig,
    HieraForImageClassification,
    HieraForVideoClassification,
    HieraImageProcessorPil,
    fast_model,
)
from hiera_hf.inference import cpu_has_native_bf16, resolve_mode


@pytest.fixture(scope="module", autouse=True)
def forget_compiled_models():
    """Dynamo keeps every compiled (model, shape) under the one code object all Transformers forwards share; the
    tests after this module compile with its default limit of 8 entries, so leave them an empty cache."""
    yield
    torch._dynamo.reset()


@pytest.fixture(scope="module")
def validation_batch(trained_digits):
    processor = HieraImageProcessorPil.from_pretrained(trained_digits["model"])
    files = sorted((trained_digits["digits"] / "validation").glob("*/*.png"))
    images = [Image.open(path).convert("RGB") for path in files]
    return processor(images, return_tensors="pt").pixel_values


@pytest.mark.parametrize(("mode", "compile"), [("fp32", True), ("bf16", False), ("bf16", True)])  # auto: below
def test_each_mode_agrees_with_fp32_on_a_trained_model(trained_digits, validation_batch, mode, compile):
    reference = HieraForImageClassification.from_pretrained(trained_digits["model"]).eval()
    fast = fast_model(str(trained_digits["model"]), mode=mode, compile=compile)
    assert isinstance(fast, HieraForImageClassification)
    assert fast.dtype == (torch.bfloat16 if resolve_mode(mode) == "bf16" else torch.float32)
    with torch.inference_mode():
        expected = torch.cat([reference(batch).logits for batch in validation_batch.split(71)])
        actual = torch.cat([fast(batch).logits.float() for batch in validation_batch.split(71)])  # one shape: 355/5
    agreement = (actual.argmax(-1) == expected.argmax(-1)).float().mean().item()
    largest = (actual - expected).abs().max().item()
    assert len(expected) == 355 and agreement >= 0.99, (mode, compile, agreement, largest)
    if resolve_mode(mode) == "fp32":
        assert largest < 1e-4, largest  # compiled fp32 is the same computation
    else:
        # bf16 keeps 8 bits of mantissa: logits of up to ~7 moved by at most 0.048 when measured (3x that allowed)
        assert largest < 0.15, largest


def test_the_one_step_works_with_pipelines(trained_digits):
    fast = fast_model(str(trained_digits["model"]))
    processor = HieraImageProcessorPil.from_pretrained(trained_digits["model"])
    classify = pipeline("image-classification", model=fast, image_processor=processor)
    reference = pipeline("image-classification", model=str(trained_digits["model"]))
    files = sorted((trained_digits["digits"] / "validation").glob("*/*.png"))[::40]
    for path in files:
        assert classify(str(path), top_k=1)[0]["label"] == reference(str(path), top_k=1)[0]["label"], path


def test_auto_follows_the_cpu(monkeypatch):
    import hiera_hf.inference as inference

    for native, expected in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(inference, "cpu_has_native_bf16", lambda native=native: native)
        assert resolve_mode("auto") == expected
    assert resolve_mode("fp32") == "fp32" and resolve_mode("bf16") == "bf16"
    with pytest.raises(ValueError, match="mode must be one of auto, bf16, fp32"):
        resolve_mode("int4")
    flags = set(next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split())
    native = bool({"amx_bf16", "avx512_bf16"} & flags)
    # torch's probes agree with the kernel's flags (they may only say no where the OS withholds AMX's tiles)
    assert cpu_has_native_bf16() in ((True, False) if native else (False,))


@pytest.mark.parametrize("mode", ["fp32", "bf16"])
def test_compiled_weights_are_frozen(mode):
    """Freezing packs every Linear into oneDNN/MKL (bias and GELU fused); unfrozen, Linear stays `addmm` with a bias
    copy (what `compile(options={"freezing": True})` gives: pytorch/pytorch#139272)."""
    from torch.profiler import profile

    if mode == "bf16" and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        # (and fast_model's auto mode is fp32 there)
        pytest.skip("oneDNN has no bf16 kernels on this CPU: Inductor keeps bf16 Linear as addmm, frozen or not")
    config = HieraConfig.from_preset("hiera_tiny_224", depths=(1, 1, 1, 1), image_size=(64, 64), num_labels=3)
    model = fast_model(HieraForImageClassification(config), mode=mode)
    with torch.inference_mode():
        model(torch.randn(2, 3, 64, 64, dtype=model.dtype))
        pixels = torch.randn(3, 3, 64, 64, dtype=model.dtype)  # another batch size: a recompile stays packed
        model(pixels)
        with profile() as profiler:
            model(pixels)
    kernels = {event.key for event in profiler.key_averages()}
    packed = {"fp32": "mkl::_mkl_linear", "bf16": "mkldnn::_linear_pointwise"}[mode]
    assert packed in kernels and "aten::addmm" not in kernels, sorted(k for k in kernels if "::" in k)


def test_max_autotune_times_inductors_own_gemm_kernels():
    """With `max_autotune`, Inductor generates its C++ GEMM templates (AMX or AVX512 micro-kernels) to time against
    oneDNN's; without, it does not. Either way the compiled module gives the eager module's outputs. (On an MLP:
    autotuning Hiera's dozens of GEMM shapes takes minutes.)"""
    from torch._dynamo.utils import counters

    torch.manual_seed(0)
    eager = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.GELU(), torch.nn.Linear(128, 16)).eval()
    inputs = torch.randn(8, 64)
    with torch.inference_mode():
        expected = eager(inputs)
    for max_autotune in (False, True):
        counters.clear()
        model = fast_model(copy.deepcopy(eager), mode="fp32", max_autotune=max_autotune)
        with torch.inference_mode():
            outputs = model(inputs)
        templates = counters["inductor"]["cpp_templated_kernel_counter"]
        assert (templates > 0) == max_autotune, dict(counters["inductor"])
        torch.testing.assert_close(outputs, expected, atol=1e-5, rtol=0)


def test_bad_model_gets_a_type_error():
    with pytest.raises(TypeError, match="fast_model takes a Hiera model, or a folder or Hub id, got int"):
        fast_model(42)
    with pytest.raises(ValueError, match=r"for the official checkpoint 'hiera_tiny_224.pth' load the model first"):
        fast_model("hiera_tiny_224.pth")


@pytest.mark.parametrize("amx", [True, False])
def test_compiling_picks_the_attention_kernel_by_cpu(monkeypatch, amx):
    """SDPA's CPU flash kernel is fast with AMX only; elsewhere fast_model compiles the math path, the same values."""
    import hiera_hf.inference as inference

    monkeypatch.setattr(inference, "cpu_has_amx", lambda: amx)
    config = HieraConfig.from_preset("hiera_tiny_224", depths=(1, 1, 1, 1), image_size=(64, 64), num_labels=3)
    reference = HieraForImageClassification(config).eval()
    pixels = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        expected = reference(pixels).logits
        model = fast_model(copy.deepcopy(reference), mode="fp32")
        assert model.config._attn_implementation == ("sdpa" if amx else "eager")
        torch.testing.assert_close(model(pixels).logits, expected, atol=1e-5, rtol=0)
    uncompiled = fast_model(copy.deepcopy(reference), mode="fp32", compile=False)
    assert uncompiled.config._attn_implementation == "sdpa"  # (measured compiled only: eager stays as it was)


# ---- mode="int8": NNCF's int8 on OpenVINO ---------------------------------------------------------------------


def test_int8_agrees_with_fp32_on_a_trained_model(trained_digits, validation_batch):
    """Calibrated on the training folder, the int8 model keeps at least 99% of the fp32 model's top-1 labels on every
    validation image, says nothing about it (its own check on the calibration inputs passed), and pipelines take it:
    their label is the int8 model's own."""
    folder = str(trained_digits["model"])
    reference = HieraForImageClassification.from_pretrained(folder).eval()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fast = fast_model(folder, mode="int8", calibration=trained_digits["digits"] / "train")
    assert not [w for w in caught if "int8 agrees" in str(w.message)], [str(w.message) for w in caught]
    assert isinstance(fast, HieraForImageClassification) and fast.dtype == torch.float32
    with torch.inference_mode():
        expected = torch.cat([reference(batch).logits for batch in validation_batch.split(71)])
        actual = torch.cat([fast(batch).logits for batch in validation_batch.split(71)])
    agreement = (actual.argmax(-1) == expected.argmax(-1)).float().mean().item()
    assert len(actual) == 355 and agreement >= 0.99, (agreement, (actual - expected).abs().max().item())

    processor = HieraImageProcessorPil.from_pretrained(folder)
    classify = pipeline("image-classification", model=fast, image_processor=processor)
    files = sorted((trained_digits["digits"] / "validation").glob("*/*.png"))[::40]
    for path in files:
        with torch.inference_mode():
            logits = fast(processor(Image.open(path).convert("RGB"), return_tensors="pt").pixel_values).logits
        assert classify(str(path), top_k=1)[0]["label"] == fast.config.id2label[int(logits.argmax())], path


@pytest.fixture(scope="module")
def int8_tiny():
    """A random tiny classifier in int8 (agreement on random weights is not the point here: warnings silenced)."""
    torch.manual_seed(0)
    model = HieraForImageClassification(small_config(num_labels=3)).eval()
    reference = copy.deepcopy(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = fast_model(model, mode="int8", calibration=torch.randn(16, 3, 64, 64))
    return fast, reference


def test_int8_outputs_follow_the_model_s_conventions(int8_tiny):
    fast, reference = int8_tiny
    pixels, labels = torch.randn(5, 3, 64, 64), torch.tensor([0, 1, 2, 0, 1])
    with torch.inference_mode():
        output = fast(pixels, labels=labels)
        expected = reference(pixels, labels=labels)
        as_tuple = fast(pixels, return_dict=False)
    assert output.logits.shape == (5, 3) and output.logits.dtype == torch.float32
    # int8 of a random model: close to fp32, not equal (the loss is the model's own function of the logits)
    assert (output.logits - expected.logits).abs().max() < 0.5
    torch.testing.assert_close(output.loss, fast.loss_function(labels, output.logits, fast.config))
    assert isinstance(as_tuple, tuple) and torch.equal(as_tuple[0], fast(pixels).logits)
    assert torch.equal(fast(pixels[:1]).logits, fast(pixels[:1]).logits)  # batch sizes compiled once each


def test_int8_refuses_what_it_cannot_do(int8_tiny):
    fast, reference = int8_tiny
    with pytest.raises(ValueError, match="An int8 OpenVINO model returns logits only; got output_hidden_states"):
        fast(torch.randn(1, 3, 64, 64), output_hidden_states=True)
    with pytest.raises(ValueError, match=r"does not match the model's \(64, 64\)"):
        fast(torch.randn(1, 3, 96, 96))
    with pytest.raises(ValueError, match="calibrates the activations' ranges on real inputs: pass calibration="):
        fast_model(copy.deepcopy(reference), mode="int8")
    with pytest.raises(
        TypeError, match="calibration must be a folder of images or videos, or a pixel_values tensor; got list"
    ):
        fast_model(copy.deepcopy(reference), mode="int8", calibration=[1, 2])
    with pytest.raises(TypeError, match="pixel_values must be a floating-point tensor, got torch.uint8"):
        fast_model(copy.deepcopy(reference), mode="int8", calibration=torch.zeros(2, 3, 64, 64, dtype=torch.uint8))
    with pytest.raises(ValueError, match="mode='int8' is for classifiers .* got HieraModel"):
        fast_model(reference.hiera, mode="int8", calibration=torch.randn(2, 3, 64, 64))
    with pytest.raises(ValueError, match="mode='int8' runs on OpenVINO's CPU plugin; got device='cuda'"):
        fast_model(copy.deepcopy(reference), mode="int8", calibration=torch.randn(2, 3, 64, 64), device="cuda")


def test_int8_of_a_video_classifier_calibrated_on_one_clip():
    """Videos too; one calibration input is enough to trace a batch axis that stays dynamic."""
    torch.manual_seed(0)
    model = HieraForVideoClassification(small_config(video=True, num_labels=3)).eval()
    reference = copy.deepcopy(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = fast_model(model, mode="int8", calibration=torch.randn(1, 4, 3, 64, 64))
    pixels = torch.randn(3, 4, 3, 64, 64)
    with torch.inference_mode():
        logits, expected = fast(pixels).logits, reference(pixels).logits
    assert logits.shape == (3, 3) and (logits - expected).abs().max() < 0.5

    # Nothing the forward holds leads back to the model: a cycle between them would leave OpenVINO's programs to the
    # cycle collector, to be freed at some later point (the model itself may stay longer: after this file's other
    # tests, a {'_export_root': model} dict from torch.export's tracing still held it)
    assert fast is model
    reached, frontier = set(), [fast.forward]
    for _ in range(6):
        frontier = [
            referent
            for holder in frontier
            for referent in gc.get_referents(holder)
            if not isinstance(referent, (type, types.ModuleType, types.FunctionType)) and id(referent) not in reached
        ]
        reached.update(map(id, frontier))
    assert id(model) not in reached and id(model.config) in reached


def test_int8_warns_when_it_disagrees_with_fp32(monkeypatch):
    """The agreement check on the calibration inputs warns below its threshold (here raised past 100%)."""
    import hiera_hf.inference as inference

    monkeypatch.setattr(inference, "INT8_MIN_AGREEMENT", 1.01)
    model = HieraForImageClassification(small_config(num_labels=3)).eval()
    with pytest.warns(UserWarning, match=r"int8 agrees with fp32 on [\d.]+% of 16 calibration inputs' top-1 labels"):
        fast_model(model, mode="int8", calibration=torch.randn(16, 3, 64, 64))
