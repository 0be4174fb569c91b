"""Pictures (hiera_hf.visualization): each checks what the picture claims to show, on small random models."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from helpers import randomize_, sharpen_attention_, small_config, write_video
from PIL import Image, ImageDraw

from hiera_hf import (
    HieraForImageClassification,
    HieraForPreTraining,
    HieraForVideoClassification,
    HieraImageProcessorPil,
    HieraVideoProcessor,
)
from hiera_hf import visualization as viz
from hiera_hf.__main__ import main as cli_main
from hiera_hf.modeling_hiera import channels_first, load_saved, unroll


def drawn_image(width: int = 90, height: int = 70) -> Image.Image:
    image = Image.new("RGB", (width, height), (40, 130, 70))
    draw = ImageDraw.Draw(image)
    draw.ellipse((8, 8, 48, 48), fill=(220, 40, 40))
    draw.rectangle((55, 20, 85, 60), fill=(30, 50, 210))
    return image


def random_video(frames: int = 12, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (frames, 70, 90, 3), dtype=np.uint8)


def model_of(cls, seed: int = 0, **config_kwargs):
    torch.manual_seed(seed)
    return cls(small_config(**config_kwargs)).eval()


def exact_processor(video: bool = False):
    """No resizing or cropping: the model sees the input's pixels where they are."""
    if video:
        return HieraVideoProcessor(do_resize=False, do_center_crop=False, num_frames=4, frame_sampling_rate=1)
    return HieraImageProcessorPil(do_resize=False, do_center_crop=False)


def brute_force_attention(model, pixel_values, layer_index: int, query: list[int]) -> torch.Tensor:
    """The attention of the token at input pixel `query`, computed on the layer's input in grid layout: slice the
    query's mask unit (or everything) out of the grid, max-pool the queries by hand, softmax. `(heads, *key_grid)`."""
    encoder = model.hiera
    config = model.config
    layers = [(s, block) for s, stage in enumerate(encoder.encoder.stages) for block in stage.layers]
    stage, block = layers[layer_index]
    captured = {}
    handle = block.register_forward_pre_hook(lambda module, args: captured.setdefault("input", args[0]))
    with torch.no_grad():
        model(pixel_values)
    handle.remove()
    pooled_out = encoder.encoder.poolings_before(stage + 1)
    pooled_in = pooled_out - (block.attn.query_stride > 1)
    grid = encoder.embeddings.token_grid(channels_first(pixel_values, config.is_video))
    tokens = encoder.encoder.to_grid(captured["input"], pooled_in, grid)[0]  # (*grid_in, C)
    with torch.no_grad():
        qkv = block.attn.qkv(block.layernorm_before(tokens))
    heads, head_dim = block.attn.num_heads, block.attn.head_dim
    q, k = qkv.unflatten(-1, (3, heads, head_dim)).unbind(-3)[:2]  # (*grid_in, heads, head_dim)
    stride_in = [p * s**pooled_in for p, s in zip(config.patch_stride, config.query_stride)]
    pool = [s ** (pooled_out - pooled_in) for s in config.query_stride]
    cell = [c // s // p * p for c, s, p in zip(query, stride_in, pool)]  # first input token of the pooled query
    query_vector = q[tuple(slice(c, c + p) for c, p in zip(cell, pool))].flatten(0, -3).amax(0)  # (heads, d)
    if block.attn.use_mask_unit_attn:
        unit = [m // s**pooled_in for m, s in zip(config.masked_unit_size, config.query_stride)]
        region = tuple(slice(c // u * u, c // u * u + u) for c, u in zip(cell, unit))
    else:
        region = tuple(slice(None) for _ in grid)
    keys = k[region]  # (*unit, heads, d)
    logits = torch.einsum("hd,...hd->h...", query_vector * block.attn.scale, keys)
    weights = logits.flatten(1).softmax(-1).view(logits.shape)
    full = torch.zeros(heads, *tokens.shape[:-1])
    full[(slice(None), *region)] = weights
    return full


@pytest.mark.parametrize("video", [False, True], ids=["image", "video"])
def test_attention_lands_on_the_query_mask_unit(video):
    """Every layer (mask-unit and global, with and without query pooling), at queries in different units: the map
    equals attention recomputed by hand on the grid, so the query is the right token and the weights sit where their
    keys are."""
    model = model_of(HieraForVideoClassification if video else HieraForImageClassification, video=video)
    sharpen_attention_(model)  # heads that attend differently, so a mix-up of heads cannot pass
    source = random_video()[:, :64, :64] if video else drawn_image(64, 64)
    processor = exact_processor(video)
    pixel_values = viz.prepare_input(model, processor, source).pixel_values
    queries = [(1, 10, 50), (3, 60, 5)] if video else [(10, 50), (60, 5), (33, 33)]
    scopes = set()
    for layer, query in itertools.product(range(sum(model.config.depths)), queries):
        result = viz.query_attention(model, processor, source, query=query, layer=layer)
        expected = brute_force_attention(model, pixel_values, layer, list(query))
        if len(expected) > 1:  # every pair of heads differs by far more than the tolerance
            gaps = [
                (expected[a] - expected[b]).abs().max() for a, b in itertools.combinations(range(len(expected)), 2)
            ]
            assert min(gaps) > 1e-2, f"layer {layer}: heads too alike to tell apart ({min(gaps):.1e})"
        torch.testing.assert_close(result.weights, expected, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(result.weights.flatten(1).sum(-1), torch.ones(len(result.weights)))
        assert all(start <= q < stop for q, (start, stop) in zip(query, result.query_box))
        scopes.add(result.mask_unit_attention)
    assert scopes == {True, False}  # both kinds of layer were checked


@pytest.mark.parametrize("layer", [2, -1], ids=["mask-unit layer, 2 heads", "global layer, 8 heads"])
def test_attention_figure_draws_the_query_weights_per_head(layer):
    """What is drawn, read back from the figure: panel "mean of heads" holds the mean of `query_attention`'s
    weights and panel "head h" head h's, on a non-square input (a transposed map has another shape)."""
    model = sharpen_attention_(model_of(HieraForImageClassification, image_size=(64, 96)))
    image, processor = drawn_image(96, 64), exact_processor()
    result = viz.query_attention(model, processor, image, query=(20, 70), layer=layer)
    heights, widths = result.weights.shape[1:]
    assert heights != widths and len(result.weights) > 1  # a non-square map, several heads
    figure = viz.attention_figure(model, processor, image, query=(20, 70), layer=layer)
    panels = {ax.get_title(): ax for ax in figure.axes if ax.get_title()}
    expected = {"mean of heads": result.weights.mean(0)}
    expected |= {f"head {h}": weights for h, weights in enumerate(result.weights)}
    assert set(panels) == {"input + query", *expected}, f"panels labelled {sorted(panels)}: not the heads drawn"
    for title, weights in expected.items():
        drawn = np.asarray(panels[title].images[1].get_array())  # images[0] is the input under the map
        assert drawn.shape == tuple(weights.shape), f"{title}: drawn {drawn.shape}, weights {tuple(weights.shape)}"
        np.testing.assert_allclose(drawn, weights.numpy(), atol=1e-7, err_msg=f"panel {title!r} shows other weights")
    assert (result.weights[0] - result.weights[1]).abs().max() > 1e-2  # a head swap would show


def test_attention_figure_for_an_mae_checkpoint_uses_its_encoder_unmasked():
    mae = model_of(HieraForPreTraining)
    classifier = model_of(HieraForImageClassification)
    classifier.hiera.load_state_dict(mae.hiera.state_dict(), strict=False)
    image = drawn_image()
    ours = viz.query_attention(mae, None, image, layer=2).weights
    torch.testing.assert_close(ours, viz.query_attention(classifier, None, image, layer=2).weights)
    figure = viz.attention_figure(mae, None, image, layer=-1)
    heads = mae.config.num_heads[-1]
    assert len(figure.axes) == 2 + heads  # input, mean, one per head
    assert "global attention" in " ".join(figure.get_suptitle().split())  # the caption wraps


def test_mae_reconstruction_shows_the_input_the_mask_and_denormalised_predictions():
    model = model_of(HieraForPreTraining)
    processor = exact_processor()
    colourful = drawn_image(64, 64)
    original = viz.mae_reconstruction(model, processor, colourful)["original"][0]
    np.testing.assert_allclose(original, viz.prepare_input(model, processor, colourful).rgb, atol=1e-6)

    # Grey blocks of the prediction patch size normalised alike in every channel: each target patch has variance
    # 0, so a prediction de-normalised with the original patch's mean and variance is that patch, whatever the guess.
    processor = HieraImageProcessorPil(
        do_resize=False, do_center_crop=False, image_mean=[0.5] * 3, image_std=[0.5] * 3
    )
    size = model.decoder.pred_stride
    levels = np.random.default_rng(0).integers(0, 256, (64 // size, 64 // size), dtype=np.uint8)
    image = Image.fromarray(levels.repeat(size, 0).repeat(size, 1)).convert("RGB")
    result = viz.mae_reconstruction(model, processor, image, mask_ratio=0.75, seed=3)
    prepared = viz.prepare_input(model, processor, image)
    np.testing.assert_allclose(result["original"][0], prepared.rgb, atol=1e-6)
    np.testing.assert_allclose(result["prediction"][0], prepared.rgb, atol=0.01)
    visible = result["visible"][0]
    assert visible.mean() == pytest.approx(int(model.config.num_mask_units * 0.25) / model.config.num_mask_units)
    np.testing.assert_array_equal(result["masked"][0][visible], result["original"][0][visible])
    np.testing.assert_array_equal(result["masked"][0][~visible], 0.5)
    np.testing.assert_array_equal(result["pasted"][0][visible], result["original"][0][visible])
    np.testing.assert_array_equal(result["pasted"][0][~visible], result["prediction"][0][~visible])

    # The seed fixes the mask; the ratio is an argument and the model's config is left as it was.
    again = viz.mae_reconstruction(model, processor, image, mask_ratio=0.75, seed=3)["visible"]
    other = viz.mae_reconstruction(model, processor, image, mask_ratio=0.75, seed=4)["visible"]
    np.testing.assert_array_equal(again, result["visible"])
    assert (other != result["visible"]).any()
    assert viz.mae_reconstruction(model, processor, image, mask_ratio=0.25)["visible"].mean() == 0.75
    assert model.config.mask_ratio == 0.6
    figure = viz.mae_reconstruction_figure(model, processor, image, mask_ratio=0.5)
    caption = " ".join(figure.get_suptitle().split())
    assert "mask ratio 0.5" in caption and "normalised" in caption


def test_mae_reconstruction_of_a_video_has_a_row_per_temporal_token():
    model = model_of(HieraForPreTraining, video=True)
    processor = exact_processor(video=True)
    video = random_video(4)[:, :64, :64]
    result = viz.mae_reconstruction(model, processor, video, mask_ratio=0.5)
    prepared = viz.prepare_input(model, processor, video)
    frames = prepared.rgb[:: model.config.patch_stride[0]]  # the first frame of each temporal token
    assert result["original"].shape == frames.shape == (2, 64, 64, 3)
    np.testing.assert_allclose(result["original"], frames, atol=1e-6)
    assert len(viz.mae_reconstruction_figure(model, processor, video).axes) == 2 * 4


def test_principal_components_separate_regions():
    """Features that differ only by region: the same colour inside a region, different colours across regions."""
    regions = torch.zeros(8, 8, dtype=torch.long)
    regions[:4, 4:], regions[4:, :4], regions[4:, 4:] = 1, 2, 3
    codes = torch.randn(4, 32, generator=torch.Generator().manual_seed(0))
    rgb = viz.principal_components_rgb(codes[regions] + 1e-3 * torch.randn(8, 8, 32))
    assert rgb.shape == (8, 8, 3) and rgb.min() >= 0 and rgb.max() <= 1
    means = [rgb[(regions == r).numpy()].mean(0) for r in range(4)]
    for r in range(4):
        assert np.abs(rgb[(regions == r).numpy()] - means[r]).max() < 0.05
    assert min(np.abs(a - b).max() for a, b in itertools.combinations(means, 2)) > 0.3


def test_feature_maps_and_predictions_figures():
    model = model_of(HieraForImageClassification)
    image = drawn_image()
    figure = viz.feature_maps_figure(model, None, image)
    titles = [ax.get_title() for ax in figure.axes]
    assert titles == ["input", "stage 0 (16x16)", "stage 1 (8x8)", "stage 2 (4x4)", "stage 3 (2x2)"]

    pairs = viz.top_predictions(model, None, image, top_k=3)
    pixel_values = viz.default_processor(model)(image, return_tensors="pt").pixel_values
    with torch.no_grad():
        probabilities = model(pixel_values).logits.softmax(-1)[0]
    scores, indices = probabilities.topk(3)
    assert [label for label, _ in pairs] == [model.config.id2label[i] for i in indices.tolist()]
    np.testing.assert_allclose([score for _, score in pairs], scores.numpy(), rtol=1e-6)
    bars = viz.predictions_figure(model, None, image, top_k=3).axes[1]
    assert [t.get_text() for t in bars.get_yticklabels()] == [label for label, _ in pairs][::-1]

    video_model = model_of(HieraForVideoClassification, video=True)
    figure = viz.feature_maps_figure(video_model, None, random_video())
    assert len(figure.axes) == 2 * 5  # a row per temporal token: input + 4 stages


def test_bad_input_says_what_was_expected(tmp_path):
    model = model_of(HieraForImageClassification)
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    with pytest.raises(ValueError, match="is not an image"):
        viz.prepare_input(model, None, text)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x07" * 300)
    video_model = model_of(HieraForVideoClassification, video=True)
    with pytest.raises(ValueError, match="broken.mp4"):
        viz.prepare_input(video_model, None, broken)
    with pytest.raises(ValueError, match="takes an image; got a video"):
        viz.prepare_input(model, None, random_video())
    with pytest.raises(ValueError, match="takes a video; got an image"):
        viz.prepare_input(video_model, None, drawn_image())
    with pytest.raises(ValueError, match="is not a file"):
        viz.prepare_input(model, None, tmp_path / "missing.jpg")
    with pytest.raises(TypeError, match="got int"):
        viz.prepare_input(model, None, 3)
    with pytest.raises(ValueError, match="query must be 2 pixel coordinates"):
        viz.query_attention(model, None, drawn_image(), query=(70, 10))
    with pytest.raises(ValueError, match="layer must be in"):
        viz.query_attention(model, None, drawn_image(), layer=6)
    mae = model_of(HieraForPreTraining)
    with pytest.raises(ValueError, match="mask_ratio must be in"):
        viz.mae_reconstruction(mae, None, drawn_image(), mask_ratio=1.0)
    with pytest.raises(ValueError, match=f"hides all {mae.config.num_mask_units} mask units"):
        viz.mae_reconstruction(mae, None, drawn_image(), mask_ratio=0.99)
    assert mae.config.mask_ratio == 0.6
    with pytest.raises(TypeError, match="need a classifier"):
        viz.top_predictions(mae, None, drawn_image())
    with pytest.raises(TypeError, match="need a HieraForPreTraining"):
        viz.mae_reconstruction(model, None, drawn_image())


def test_visualize_command_writes_the_pictures_that_suit_each_model(tmp_path, capsys):
    image_path = tmp_path / "shapes.png"
    drawn_image().save(image_path)
    classifier, mae = tmp_path / "classifier", tmp_path / "mae"
    model_of(HieraForImageClassification).save_pretrained(classifier)
    model_of(HieraForPreTraining).save_pretrained(mae)

    written = cli_main(
        ["visualize", "--model", str(classifier), "--input", str(image_path), "--output-dir", str(tmp_path / "a")]
    )
    assert [p.name for p in written] == ["shapes_predictions.png", "shapes_attention.png", "shapes_features.png"]
    written = cli_main(
        ["visualize", "--model", str(mae), "--input", str(image_path), "--output-dir", str(tmp_path / "b"),
         "--mask-ratio", "0.5", "--layer", "0", "--query", "5", "60"]
    )  # fmt: skip
    assert [p.name for p in written] == ["shapes_attention.png", "shapes_features.png", "shapes_reconstruction.png"]
    for path in written:
        with Image.open(path) as picture:
            assert picture.format == "PNG" and min(picture.size) > 100

    video_path = tmp_path / "clip.mp4"
    write_video(video_path, random_video(8, seed=1)[:, :64, :64])
    video_folder = tmp_path / "video"
    model_of(HieraForVideoClassification, video=True).save_pretrained(video_folder)
    written = cli_main(
        ["visualize", "--model", str(video_folder), "--input", str(video_path), "--output-dir", str(tmp_path / "c")]
    )
    assert len(written) == 3

    # A bad input fails before anything is written.
    with pytest.raises(ValueError, match="is not an image"):
        cli_main(
            [
                "visualize",
                "--model",
                str(classifier),
                "--input",
                str(video_folder / "config.json"),
                "--output-dir",
                str(tmp_path / "d"),
            ]
        )
    assert not (tmp_path / "d").exists()
    # A write that fails on the second picture leaves the folder as it was: no picture, no temporary file.
    from unittest import mock

    from matplotlib.figure import Figure

    original, calls = Figure.savefig, []

    def failing_second(figure, *args, **kwargs):
        calls.append(args[0])
        if len(calls) == 2:
            raise OSError("disk full")
        return original(figure, *args, **kwargs)

    (tmp_path / "e").mkdir()
    with mock.patch.object(Figure, "savefig", failing_second), pytest.raises(OSError, match="disk full"):
        cli_main(
            ["visualize", "--model", str(classifier), "--input", str(image_path), "--output-dir", str(tmp_path / "e")]
        )
    assert len(calls) == 2 and list((tmp_path / "e").iterdir()) == []
    with pytest.raises(SystemExit):
        cli_main(["visualize", "--model", str(classifier), "--input", str(image_path), "--figures", "reconstruction"])
    assert "cannot draw reconstruction" in capsys.readouterr().err


def test_processor_comes_from_the_model_folder_or_hub_id(tmp_path, monkeypatch):
    folder = tmp_path / "classifier"
    model_of(HieraForImageClassification).save_pretrained(folder)
    HieraImageProcessorPil(crop_size={"height": 64, "width": 64}, size={"shortest_edge": 80}).save_pretrained(folder)
    assert viz.default_processor(load_saved(str(folder))).size["shortest_edge"] == 80
    fresh = model_of(HieraForImageClassification)  # not saved: the evaluation transform sized for the config
    assert viz.default_processor(fresh).crop_size == {"height": 64, "width": 64}

    asked = []
    import transformers.utils

    from hiera_hf import HieraImageProcessor

    hub = tmp_path / "hub"  # what the Hub repo holds (the test has no network)
    hub.mkdir()
    (hub / "preprocessor_config.json").write_text("{}")

    def cached_file(name, file, **kwargs):
        if name != "facebook/hiera-demo" or not (hub / file).is_file():
            raise OSError(f"{name} has no {file}")
        return str(hub / file)

    def from_hub(name):
        asked.append(name)
        return "the Hub's processor"

    monkeypatch.setattr(transformers.utils, "cached_file", cached_file)
    monkeypatch.setattr(HieraImageProcessor, "from_pretrained", from_hub)
    fresh.name_or_path = "facebook/hiera-demo"
    assert viz.default_processor(fresh) == "the Hub's processor" and asked == ["facebook/hiera-demo"]


def _by_hand_rollout(model, pixel_values, class_index=None) -> torch.Tensor:
    """Attention rollout as dense matrices, on the token grid: per layer `M = (A + P) / 2` with rows normalised, A
    the head-mean attention (with a class: of relu(attention * gradient)) laid block-diagonally over the mask units,
    P the residual path from the geometry (a pooled token averages the input tokens under it, else identity); the
    product from the first layer to the last, applied to equal shares of the last layer's tokens."""
    encoder, config = model.hiera, model.config
    with torch.enable_grad():
        outputs = model(pixel_values, output_attentions=True)
        gradients = None
        if class_index is not None:
            gradients = torch.autograd.grad(outputs.logits[0, class_index], outputs.attentions)
    grid = encoder.embeddings.token_grid(channels_first(pixel_values, config.is_video))
    schedule = encoder.encoder.unroll_schedule

    def raster_of_unrolled(pooled: int) -> tuple[torch.Tensor, list[int]]:
        """Raster index (on the grid after `pooled` poolings) of each unrolled position."""
        pooled_grid = [g // q**pooled for g, q in zip(grid, config.query_stride)]
        order = torch.arange(math.prod(pooled_grid), dtype=torch.float64).view(1, -1, 1)
        return unroll(order, pooled_grid, schedule[pooled:]).flatten().long(), pooled_grid

    blocks = [block for stage in encoder.encoder.stages for block in stage.layers]
    product, pooled = None, 0
    for index, (block, attention) in enumerate(zip(blocks, outputs.attentions)):
        weights = attention[0].detach()
        if gradients is not None:
            weights = (weights * gradients[index][0]).clamp_min(0)
        weights = weights.double().mean(0)  # (units, queries, keys)
        attention_matrix = torch.block_diag(*weights)  # (N_out, N_in)
        pools = block.attn.query_stride > 1
        raster_in, grid_in = raster_of_unrolled(pooled)
        raster_out, grid_out = raster_of_unrolled(pooled + pools)
        coordinates_in = np.array(np.unravel_index(raster_in.numpy(), grid_in)).T  # (N_in, D) per unrolled token
        coordinates_out = np.array(np.unravel_index(raster_out.numpy(), grid_out)).T
        step = np.array(config.query_stride) if pools else np.ones(len(grid), dtype=int)
        under = (coordinates_in[None] // step == coordinates_out[:, None]).all(-1)  # (N_out, N_in)
        residual = torch.from_numpy(under / under.sum(1, keepdims=True))
        mixing = (attention_matrix + residual) / 2
        mixing = mixing / mixing.sum(1, keepdim=True)
        product = mixing if product is None else mixing @ product
        pooled += pools
    relevance = torch.full((1, product.shape[0]), 1.0 / product.shape[0], dtype=torch.float64) @ product
    raster_in, _ = raster_of_unrolled(0)
    grid_relevance = torch.zeros(math.prod(grid), dtype=torch.float64)
    grid_relevance[raster_in] = relevance[0]
    return grid_relevance.view(*grid)


@pytest.mark.parametrize("video", [False, True], ids=["image", "video"])
def test_attention_rollout_is_the_product_of_the_layer_mixings(video):
    model_class = HieraForVideoClassification if video else HieraForImageClassification
    model = sharpen_attention_(randomize_(model_of(model_class, video=video), seed=1))
    source = random_video()[:, :64, :64] if video else drawn_image(64, 64)
    processor = exact_processor(video)
    pixel_values = viz.prepare_input(model, processor, source).pixel_values
    plain = viz.attention_rollout(model, processor, source)
    expected = _by_hand_rollout(model, pixel_values)
    torch.testing.assert_close(plain.relevance.double(), expected, atol=1e-7, rtol=1e-5)
    assert plain.relevance.sum().item() == pytest.approx(1.0) and plain.class_index is None
    uniform = torch.full_like(expected, 1 / expected.numel())
    assert (expected - uniform).abs().max() > 0.1 / expected.numel()  # the map is not trivially flat

    predicted = int(model(pixel_values).logits[0].argmax())
    for class_index in (None, (predicted + 1) % model.config.num_labels):
        weighted = viz.attention_rollout(model, processor, source, class_index=class_index, gradient=True)
        target = predicted if class_index is None else class_index
        assert weighted.class_index == target
        torch.testing.assert_close(weighted.relevance.double(), _by_hand_rollout(model, pixel_values, target))
        assert not torch.allclose(weighted.relevance.double(), expected)  # the gradient changes the weighting


def test_attention_rollout_figure_and_command(tmp_path):
    model = model_of(HieraForImageClassification)
    figure = viz.attention_rollout_figure(model, None, drawn_image(), class_index=2)
    drawn = figure.axes[1].images[1].get_array()
    torch.testing.assert_close(
        torch.as_tensor(np.asarray(drawn)), viz.attention_rollout(model, None, drawn_image(), class_index=2).relevance
    )
    assert "for class 'LABEL_2'" in figure.get_suptitle()
    mae = model_of(HieraForPreTraining)
    assert viz.attention_rollout(mae, None, drawn_image()).relevance.shape == (16, 16)
    with pytest.raises(TypeError, match="needs a classifier"):
        viz.attention_rollout(mae, None, drawn_image(), gradient=True)
    with pytest.raises(ValueError, match="class_index must be in"):
        viz.attention_rollout(model, None, drawn_image(), class_index=5)

    image_path, folder = tmp_path / "shapes.png", tmp_path / "classifier"
    drawn_image().save(image_path)
    model.save_pretrained(folder)
    command = ["visualize", "--model", str(folder), "--input", str(image_path), "--output-dir", str(tmp_path / "out")]
    written = cli_main([*command, "--figures", "rollout", "--class-index", "1"])
    assert [p.name for p in written] == ["shapes_rollout.png"]
