"""Backbones read from their own configuration (issue 21), through the binding: the open_clip
fixture of the repository (test/data/openclip_h80: heads of 80, exact GELU, MLP ratio 3.5, in
open_clip's and transformers' layouts) loads with the configuration's fields and sources, and a
head's preset for it is the references' (its native input is below 224)."""

import os
from pathlib import Path

import pytest

import cliptrase as ct
from conftest import REPO

DATA = Path(os.environ.get("CT_OPENCLIP_DIR") or REPO / "test/data/openclip_h80")
need_data = pytest.mark.skipif(not (DATA / "meta.json").is_file(), reason="no open_clip fixture under %s" % DATA)


@need_data
@pytest.mark.parametrize("path,source", [("open_clip/open_clip_model.safetensors", "open_clip_config.json"),
                                         ("hf/model.safetensors", "config.json")])
def test_config_from_the_checkpoint(path, source):
    with ct.Model(str(DATA / path)) as m:
        c = m.config
        assert (c.vision_width, c.vision_heads, c.vision_mlp, c.text_heads) == (160, 2, 560, 2)
        assert (c.vision_act, c.text_act, c.vision_ln_eps) == ("gelu", "gelu", pytest.approx(1e-5))
        assert (c.heads_source, c.act_source, c.eps_source) == (source, source, source)
        assert "heads from %s" % source in c.describe()
        # a model of 224 or less keeps the references' windows (they scale above 224)
        assert ct.SegmentParams.preset("clip", model=m) == ct.SegmentParams.preset("clip")
        assert ct.SegmentParams.preset("clearclip", model=m).slide_crop == 448
