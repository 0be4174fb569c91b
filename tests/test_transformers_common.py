"""Transformers' own common tests (ModelTesterMixin, BackboneTesterMixin, ConfigTester) on our five classes, for
images and for videos. The mixins come from the transformers sdist on PyPI (see `transformers_suite`).

The tester mirrors Transformers' `tests/models/hiera/test_modeling_hiera.py` (8-dim, 64x64, stride 4, 8x8 mask
units, one layer per stage). Overrides are only where a common test assumes a token layout Hiera does not have;
each says why in one line.
"""

from __future__ import annotations

import copy
import math
import unittest

import torch
import transformers_suite
from torch import nn

from hiera_hf import (
    VIDEO_GEOMETRY,
    HieraBackbone,
    HieraConfig,
    HieraForImageClassification,
    HieraForPreTraining,
    HieraForVideoClassification,
    HieraModel,
)

_suite = transformers_suite.load()
ModelTesterMixin = _suite["modeling"].ModelTesterMixin
floats_tensor = _suite["modeling"].floats_tensor
BackboneTesterMixin = _suite["backbone"].BackboneTesterMixin
ConfigTester = _suite["configuration"].ConfigTester


class HieraModelTester:
    def __init__(self, parent, video: bool = False, batch_size: int = 13):
        self.parent, self.video, self.batch_size = parent, video, batch_size
        self.image_size, self.num_frames, self.num_channels = 64, 4 if video else None, 3
        self.embed_dim, self.depths, self.heads = 8, [1, 1, 1, 1], [1, 1, 1, 1]
        self.type_sequence_label_size = 10
        self.is_training = True
        config = self.get_config()
        # The SDPA tests size MAE noise as (image_size // patch_size) ** 2: one "patch" per 2-D mask unit.
        self.patch_size = config.patch_stride[-1] * config.masked_unit_size[-1]

    def get_config(self) -> HieraConfig:
        geometry = VIDEO_GEOMETRY if self.video else {}
        return HieraConfig(
            embed_dim=self.embed_dim,
            image_size=[self.image_size, self.image_size],
            num_frames=self.num_frames,
            mlp_ratio=1.0,
            depths=self.depths,
            num_heads=self.heads,
            decoder_hidden_size=2,
            decoder_depth=1,
            decoder_num_heads=1,
            num_labels=self.type_sequence_label_size,
            **geometry,
        )

    def pixel_values(self, batch_size=None) -> torch.Tensor:
        frames = [self.num_frames] if self.video else []
        return floats_tensor([batch_size or self.batch_size, *frames, self.num_channels, 64, 64])

    def prepare_config_and_inputs_for_common(self):
        return self.get_config(), {"pixel_values": self.pixel_values()}


class _HieraCommonTests(ModelTesterMixin):
    video = False
    test_resize_embeddings = False  # no token embeddings
    test_torch_exportable = True

    def setUp(self):
        self.model_tester = HieraModelTester(self, video=self.video)
        self.config_tester = ConfigTester(self, config_class=HieraConfig, has_text_modality=False)

    def test_config(self):
        self.config_tester.run_common_tests()

    def _prepare_for_class(self, inputs_dict, model_class, return_labels=False):
        inputs_dict = super()._prepare_for_class(inputs_dict, model_class, return_labels)
        noise = inputs_dict.get("noise")
        shape = (len(inputs_dict["pixel_values"]), self.model_tester.get_config().num_mask_units)
        if noise is not None and tuple(noise.shape) != shape:
            # The mixin sizes MAE noise for Transformers' Hiera: 2-D mask units (a video's are 3-D), and the tester's
            # batch even where a test feeds another (the SDPA tests feed 7).
            inputs_dict["noise"] = torch.rand(shape, generator=torch.Generator().manual_seed(2))
        if return_labels and model_class is HieraForVideoClassification:
            # The mixin adds labels by Transformers' class names, and Transformers has no HieraForVideoClassification.
            inputs_dict["labels"] = torch.zeros(self.model_tester.batch_size, dtype=torch.long)
        return inputs_dict

    # The mixin's message computes `tuple - dict` for every tensor, which torch refuses for MAE's bool masks (as
    # Transformers' Hiera tests say); the same comparison, exact for bool tensors.
    def test_model_outputs_equivalence(self):
        config, inputs_dict = self.model_tester.prepare_config_and_inputs_for_common()

        def flatten(outputs):
            if isinstance(outputs, (list, tuple)):
                return [leaf for item in outputs for leaf in flatten(item)]
            return [] if outputs is None else [outputs]

        for model_class in self.all_model_classes:
            model = model_class(copy.deepcopy(config)).eval()
            for extra in ({}, {"output_hidden_states": True}, {"output_attentions": True}):
                for labels in (False, True):
                    inputs = self._prepare_for_class(inputs_dict, model_class, return_labels=labels)
                    with torch.no_grad():
                        as_tuple = model(**inputs, return_dict=False, **extra)
                        as_dict = model(**inputs, return_dict=True, **extra).to_tuple()
                    as_tuple, as_dict = flatten(as_tuple), flatten(as_dict)
                    self.assertEqual(len(as_tuple), len(as_dict), msg=f"{model_class.__name__} {extra}")
                    for a, b in zip(as_tuple, as_dict):
                        if a.dtype == torch.bool:
                            self.assertTrue(torch.equal(a, b))
                        else:
                            torch.testing.assert_close(a, b, atol=1e-5, rtol=0)

    # Hiera's input embedding is a patch convolution, not a token table (as in Transformers' Hiera tests).
    def test_model_get_set_embeddings(self):
        config, _ = self.model_tester.prepare_config_and_inputs_for_common()
        for model_class in self.all_model_classes:
            model = model_class(copy.deepcopy(config))
            self.assertIsInstance(model.get_input_embeddings(), nn.Module)
            self.assertIsNone(model.get_output_embeddings())

    def _expected_tokens(self, config: HieraConfig, model_class) -> tuple[int, int]:
        """(tokens, mask units) the first layer sees: fewer with MAE masking."""
        units = config.num_mask_units
        if model_class is HieraForPreTraining:
            units = int(units * (1 - config.mask_ratio))
        return units * math.prod(config.masked_unit_size), units

    def _outputs_asked_both_ways(self, flag: str):
        """`(config, model class, outputs)` of each class with `flag` set as a forward argument, then in the config."""
        config, inputs_dict = self.model_tester.prepare_config_and_inputs_for_common()
        for model_class in self.all_model_classes:
            for by_config in (False, True):
                model_config = copy.deepcopy(config)
                inputs = self._prepare_for_class(inputs_dict, model_class)
                if by_config:
                    setattr(model_config, flag, True)
                else:
                    inputs[flag] = True
                with torch.no_grad():
                    yield config, model_class, model_class(model_config).eval()(**inputs)

    # Attention weights are (batch, heads, mask units, queries, keys), as in Transformers' Hiera tests.
    def test_attention_outputs(self):
        for config, model_class, outputs in self._outputs_asked_both_ways("output_attentions"):
            self.assertEqual(len(outputs.attentions), sum(config.depths))
            tokens, units = self._expected_tokens(config, model_class)
            per_unit = tokens // units
            self.assertEqual(
                list(outputs.attentions[0].shape),
                [self.model_tester.batch_size, config.num_heads[0], units, per_unit, per_unit],
            )

    # Hidden states are per stage (widths grow), as in Transformers' Hiera tests.
    def test_hidden_states_output(self):
        for config, model_class, outputs in self._outputs_asked_both_ways("output_hidden_states"):
            self.assertEqual(len(outputs.hidden_states), len(config.depths) + 1)  # embeddings + each stage
            tokens, _ = self._expected_tokens(config, model_class)
            self.assertEqual(list(outputs.hidden_states[0].shape[-2:]), [tokens, self.model_tester.embed_dim])


class HieraImageModelTest(_HieraCommonTests, unittest.TestCase):
    all_model_classes = (HieraModel, HieraBackbone, HieraForImageClassification, HieraForPreTraining)
    pipeline_model_mapping = {
        "image-feature-extraction": HieraModel,
        "image-classification": HieraForImageClassification,
    }


class HieraVideoModelTest(_HieraCommonTests, unittest.TestCase):
    video = True
    all_model_classes = (HieraModel, HieraBackbone, HieraForVideoClassification, HieraForPreTraining)


class _HieraBackboneTests(BackboneTesterMixin):
    config_class = HieraConfig
    video = False

    def setUp(self):
        self.model_tester = HieraModelTester(self, video=self.video)


class HieraImageBackboneTest(_HieraBackboneTests, unittest.TestCase):
    all_model_classes = (HieraBackbone,)


class HieraVideoBackboneTest(_HieraBackboneTests, unittest.TestCase):
    video = True
    all_model_classes = (HieraBackbone,)
